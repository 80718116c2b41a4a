//! The Deployment controller: keeps `spec.replicas` pods of the current template and writes the status
//! fields the real controller writes.
//!
//! Difference from the real one (documented in the module docs): pods are owned by the Deployment
//! directly, without a ReplicaSet in between. A template change rolls like `maxSurge: 100%,
//! maxUnavailable: 0`: new pods are created at once and old ones are deleted as new ones become Ready.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::pods::{
    controlled_by, is_active, is_ready, name_suffix, pod_from_template, sort_for_deletion, template_hash,
};
use super::{ClusterError, Shared, api_err, conditions_with_times, is_status};

/// Runs the controller until `shutdown` completes.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = shared.client.clone();
    Controller::new(Api::<Deployment>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client), watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, shared)
        .for_each(|_| async {})
        .await;
}

fn error_policy(d: Arc<Deployment>, err: &ClusterError, shared: Arc<Shared>) -> Action {
    tracing::warn!(deployment = d.metadata.name.as_deref().unwrap_or(""), "{err}");
    Action::requeue(shared.opts.retry())
}

async fn reconcile(d: Arc<Deployment>, shared: Arc<Shared>) -> Result<Action, ClusterError> {
    let (Some(ns), Some(name), Some(uid)) = (&d.metadata.namespace, &d.metadata.name, &d.metadata.uid) else {
        return Ok(Action::await_change());
    };
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(spec) = &d.spec else { return Ok(Action::await_change()) };
    let where_ = format!("deployment {ns}/{name}");
    let selector = Selector::try_from(spec.selector.clone())
        .map_err(|e| ClusterError::Invalid(format!("{where_}: spec.selector: {e}")))?;
    let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
    let pods_api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
    let listed = pods_api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(api_err(format!("{where_}: list pods")))?;
    let pods: Vec<&Pod> = listed.items.iter().filter(|p| controlled_by(p, uid) && is_active(p)).collect();
    let hash = template_hash(&spec.template);
    let plan = plan_rollout(want, &hash, &pods);
    let owner = super::pods::controller_ref("apps/v1", "Deployment", name, uid);
    for _ in 0..plan.create {
        create_pod(&shared, &pods_api, &spec.template, ns, name, &hash, owner.clone()).await?;
    }
    for pod in &plan.delete {
        match pods_api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(api_err(format!("{where_}: delete pod {pod}"))(e)),
        }
    }
    let RolloutPlan { replicas, updated, ready, .. } = plan;
    let status = deployment_status(&d, want, replicas, updated, ready);
    let key = format!("deployment/{uid}");
    if shared.status_needs_write(&key, &super::to_json(d.status.as_ref()), &status) {
        let api: Api<Deployment> = Api::namespaced(shared.client.clone(), ns);
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map_err(api_err(format!("{where_}: patch status")))?;
        shared.status_written(&key, &status);
    }
    // Pod and workload events trigger reconciles; the periodic one is only a safety net.
    Ok(Action::requeue(shared.opts.resync * 6))
}

/// What one reconcile does: pods to create and delete, and the counts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutPlan {
    /// Pods of the current template to create.
    pub create: usize,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    /// Pods after the changes (status.replicas).
    pub replicas: usize,
    /// Pods of the current template after the changes (status.updatedReplicas).
    pub updated: usize,
    /// Ready pods that remain (status.readyReplicas).
    pub ready: usize,
}

/// Plans a reconcile of `pods` (the Deployment's active pods) towards `want` pods of template `hash`:
/// pods of the current template are scaled to `want` (surplus deleted in [`sort_for_deletion`]
/// order); pods of older templates go as new ones become Ready, so Ready pods never drop below the
/// target during a rollout (`maxUnavailable: 0`, `maxSurge: 100%`).
pub fn plan_rollout(want: usize, hash: &str, pods: &[&Pod]) -> RolloutPlan {
    let (mut new, mut old): (Vec<&Pod>, Vec<&Pod>) = pods.iter().partition(|p| {
        p.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")).map(String::as_str) == Some(hash)
    });
    let create = want.saturating_sub(new.len());
    let mut delete = Vec::new();
    if new.len() > want {
        sort_for_deletion(&mut new);
        delete.extend(new.drain(..new.len() - want).filter_map(|p| p.metadata.name.clone()));
    }
    let ready_new = new.iter().filter(|p| is_ready(p)).count();
    let keep_old = want.saturating_sub(ready_new);
    if old.len() > keep_old {
        sort_for_deletion(&mut old);
        delete.extend(old.drain(..old.len() - keep_old).filter_map(|p| p.metadata.name.clone()));
    }
    let ready = new.iter().chain(old.iter()).filter(|p| is_ready(p)).count();
    RolloutPlan { create, delete, replicas: new.len() + old.len() + create, updated: new.len() + create, ready }
}

async fn create_pod(
    shared: &Shared,
    api: &Api<Pod>,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    ns: &str,
    deployment: &str,
    hash: &str,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Result<(), ClusterError> {
    // A name clash (same random suffix) is retried with a fresh suffix, as generateName would.
    for _ in 0..5 {
        let name =
            format!("{deployment}-{hash}-{}", shared.with_rng(&format!("deployment/{ns}/{deployment}"), name_suffix));
        let pod = pod_from_template(template, ns, &name, &[("pod-template-hash", hash)], owner.clone());
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 409) => continue,
            Err(e) => return Err(api_err(format!("deployment {ns}/{deployment}: create pod {name}"))(e)),
        }
    }
    Err(ClusterError::Invalid(format!("deployment {ns}/{deployment}: five pod name clashes in a row")))
}

/// The status the real controller would write for these counts (no minReadySeconds: Ready is Available).
fn deployment_status(d: &Deployment, want: usize, replicas: usize, updated: usize, ready: usize) -> Value {
    // maxUnavailable defaults to 25% of the target, rounded down.
    let max_unavailable = want / 4;
    let available_ok = ready + max_unavailable >= want;
    let complete = updated == want && ready >= want && replicas == want;
    let conditions = vec![
        (
            "Available",
            if available_ok { "True" } else { "False" },
            if available_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
            if available_ok {
                "Deployment has minimum availability."
            } else {
                "Deployment does not have minimum availability."
            },
        ),
        (
            "Progressing",
            "True",
            if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
            if complete { "Deployment has successfully progressed." } else { "Deployment is progressing." },
        ),
    ];
    let previous = d.status.as_ref().and_then(|s| s.conditions.as_ref()).map(serde_json::to_value);
    let previous = previous.and_then(Result::ok).unwrap_or(Value::Null);
    let mut status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(0),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": want.saturating_sub(ready),
        "conditions": conditions_with_times(&previous, &conditions, true),
    });
    // The real controller omits zero counts (omitempty); null removes them in a merge patch.
    super::zero_counts_to_null(&mut status);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, hash: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"pod-template-hash": hash}},
            "spec": {"containers": [], "nodeName": "n"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("pod")
    }

    #[test]
    fn scales_up_and_down_the_current_template() {
        let pods = [pod("a", "h1", true), pod("b", "h1", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let up = plan_rollout(4, "h1", &refs);
        assert_eq!((up.create, up.delete.len(), up.replicas, up.updated, up.ready), (2, 0, 4, 4, 1));
        let down = plan_rollout(1, "h1", &refs);
        assert_eq!(down.delete, ["b"], "the not-ready pod goes first");
        assert_eq!((down.create, down.replicas, down.ready), (0, 1, 1));
    }

    #[test]
    fn rollout_keeps_old_pods_until_new_ones_are_ready() {
        let pods = [pod("old1", "h1", true), pod("old2", "h1", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let start = plan_rollout(2, "h2", &refs);
        assert_eq!((start.create, start.delete.len(), start.replicas, start.updated), (2, 0, 4, 2));
        let pods =
            [pod("old1", "h1", true), pod("old2", "h1", true), pod("new1", "h2", true), pod("new2", "h2", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let mid = plan_rollout(2, "h2", &refs);
        assert_eq!(mid.delete.len(), 1, "one new pod is Ready: one old pod may go");
        assert_eq!((mid.create, mid.replicas, mid.updated), (0, 3, 2));
    }
}
