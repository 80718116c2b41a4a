//! Pod helpers shared by the workload controllers: template hashing, creating a pod from a template,
//! readiness, and which pods to delete first.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use rand::Rng;

/// The alphabet Kubernetes uses for generated name suffixes and hashes (no vowels, no look-alikes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable hash of a pod template (FNV-1a over its JSON), encoded like `pod-template-hash` values.
/// The same template always gives the same hash, in every process, so restarts do not roll pods.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let json = serde_json::to_string(template).unwrap_or_default();
    let mut h = fnv1a(json.as_bytes());
    let mut out = String::new();
    for _ in 0..10 {
        out.push(char::from(SAFE_ALPHABET[(h % SAFE_ALPHABET.len() as u64) as usize]));
        h /= SAFE_ALPHABET.len() as u64;
    }
    out
}

/// 64-bit FNV-1a: a hash that is the same in every process and version (unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A random 5-character suffix as `generateName` would add, drawn from the simulation's seeded RNG.
pub fn name_suffix(rng: &mut impl Rng) -> String {
    (0..5).map(|_| char::from(SAFE_ALPHABET[rng.random_range(0..SAFE_ALPHABET.len())])).collect()
}

/// A controller owner reference to a workload.
pub fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A new pod from a workload's template: the template's labels (plus `extra_labels`), annotations and
/// spec, owned by `owner`, in phase Pending (the API server would set that too).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    name: &str,
    extra_labels: &[(&str, &str)],
    owner: OwnerReference,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    for (k, v) in extra_labels {
        labels.insert((*k).to_string(), (*v).to_string());
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Pending".into()), ..Default::default() }),
    }
}

/// Whether `pod` has `uid` as its controller.
pub fn controlled_by(pod: &Pod, uid: &str) -> bool {
    pod.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid)
}

/// Not being deleted and not finished: counts towards a workload's replicas.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    condition_true(pod, "Ready")
}

/// The pod's condition `type_` has status True.
pub fn condition_true(pod: &Pod, type_: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// The node the pod is bound to, if any.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

/// Sorts pods so that the ones to delete first come first, like the ReplicaSet controller: unbound
/// before bound, Pending before Running, not ready before ready, then the newest first, then by name.
pub fn sort_for_deletion(pods: &mut [&Pod]) {
    let key = |p: &Pod| {
        let phase_rank = match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => 2,
            Some("Pending") | None => 0,
            _ => 1,
        };
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_millisecond()).unwrap_or(i64::MAX);
        (node_name(p).is_some(), phase_rank, is_ready(p), std::cmp::Reverse(created))
    };
    pods.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| b.metadata.name.cmp(&a.metadata.name)));
}

/// Labels as a map (empty when unset).
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("test pod")
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let a: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "x"}}})).expect("t");
        let b: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "y"}}})).expect("t");
        assert_eq!(template_hash(&a), template_hash(&a.clone()));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert_eq!(template_hash(&a).len(), 10);
    }

    #[test]
    fn suffixes_are_deterministic_per_seed() {
        let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(name_suffix(&mut r1), name_suffix(&mut r2));
    }

    #[test]
    fn deletion_order_prefers_unbound_pending_unready_newest() {
        let ready = json!([{"type": "Ready", "status": "True"}]);
        let pods = [
            pod(json!({"metadata": {"name": "running-ready"}, "spec": {"containers": [], "nodeName": "n"},
                "status": {"phase": "Running", "conditions": ready}})),
            pod(json!({"metadata": {"name": "unbound"}, "spec": {"containers": []}, "status": {"phase": "Pending"}})),
            pod(json!({"metadata": {"name": "bound-pending"}, "spec": {"containers": [], "nodeName": "n"},
                "status": {"phase": "Pending"}})),
        ];
        let mut refs: Vec<&Pod> = pods.iter().collect();
        sort_for_deletion(&mut refs);
        let names: Vec<_> = refs.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
        assert_eq!(names, ["unbound", "bound-pending", "running-ready"]);
    }
}
