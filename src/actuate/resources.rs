//! apiVersion/kind → REST resource, for the dynamic API. The kinds hybridscale always touches are mapped
//! here so no discovery round trip is needed; any other scale target (a custom workload with a /scale
//! subresource) is resolved once through discovery and cached by the executor.

use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};

use super::ActuateError;

/// Split `group/version` (or a bare core `version`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The resource of a well-known kind and whether it is namespaced, without discovery.
pub fn known(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    let (plural, namespaced) = match (api_version, kind) {
        ("apps/v1", "Deployment") => ("deployments", true),
        ("apps/v1", "StatefulSet") => ("statefulsets", true),
        ("apps/v1", "ReplicaSet") => ("replicasets", true),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") => ("leaderworkersets", true),
        ("cluster.x-k8s.io/v1beta1", "MachineDeployment") => ("machinedeployments", true),
        ("cluster.x-k8s.io/v1beta1", "Machine") => ("machines", true),
        ("karpenter.sh/v1", "NodePool") => ("nodepools", false),
        ("gateway.networking.k8s.io/v1", "HTTPRoute") => ("httproutes", true),
        // The Gateway API Inference Extension's pool, a self-hosted backend (super::gie); same plural as ours.
        ("inference.networking.k8s.io/v1", "InferencePool") => ("inferencepools", true),
        _ => return None,
    };
    let (g, v) = split_api_version(api_version);
    Some((ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), plural), namespaced))
}

/// Resolve through discovery (one request for the group version).
pub async fn discover(client: &Client, api_version: &str, kind: &str) -> Result<(ApiResource, bool), ActuateError> {
    let (g, v) = split_api_version(api_version);
    let (ar, caps) = discovery::pinned_kind(client, &GroupVersionKind::gvk(g, v, kind)).await.map_err(|e| {
        ActuateError::UnknownKind { api_version: api_version.into(), kind: kind.into(), why: e.to_string() }
    })?;
    Ok((ar, caps.scope == Scope::Namespaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_kinds_we_touch() {
        let (ar, ns) = known("karpenter.sh/v1", "NodePool").unwrap();
        assert_eq!(
            (ar.group.as_str(), ar.version.as_str(), ar.plural.as_str(), ns),
            ("karpenter.sh", "v1", "nodepools", false)
        );
        let (ar, ns) = known("apps/v1", "StatefulSet").unwrap();
        assert_eq!((ar.api_version.as_str(), ar.plural.as_str(), ns), ("apps/v1", "statefulsets", true));
        assert!(known("example.com/v1", "ModelServer").is_none());
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
