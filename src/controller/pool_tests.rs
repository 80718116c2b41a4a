//! Tests of the pure parts of the InferencePool reconcile.

use super::*;

fn sample<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(file);
    let text = std::fs::read_to_string(&path).expect("sample");
    serde_saphyr::from_str(&text).expect("sample parses")
}

fn sample_pool() -> InferencePool {
    sample("inferencepool.yaml")
}

fn sample_policy() -> CostPolicy {
    sample("costpolicy.yaml")
}

/// Bug: on deletion the route's final weights ignored `external.allowed: false`.
#[test]
fn on_deletion_traffic_stays_in_the_cluster_when_data_may_not_leave() {
    let own = Some(RouteWeights { self_hosted: 100, external: vec![0] });
    let ext = Some(RouteWeights { self_hosted: 0, external: vec![100] });
    let mut policy = sample_policy();
    let pool = sample_pool();
    assert_eq!(final_weights(0, Some(&policy), &pool), ext, "nothing ready, the API may serve");
    assert_eq!(final_weights(2, Some(&policy), &pool), own);
    policy.spec.external.allowed = false;
    policy.spec.external.max_share = Some(0.0);
    assert_eq!(final_weights(0, Some(&policy), &pool), own, "data may not leave the cluster");
    assert_eq!(final_weights(2, Some(&policy), &pool), own);
    // Allowed, but no share of the traffic: no path outside either.
    policy.spec.external.allowed = true;
    assert_eq!(final_weights(0, Some(&policy), &pool), own);
    // The policy is gone: nobody can say whether data may leave; the route keeps the weights it was
    // given under the policy.
    assert_eq!(final_weights(0, None, &pool), None);
}

#[test]
fn status_writes_do_not_trigger_but_spec_finalizers_and_deletion_do() {
    let mut pool = sample_pool();
    pool.metadata.generation = Some(3);
    let base = pool_changes(&pool);

    let mut status_only = pool.clone();
    status_only.status = Some(Default::default());
    status_only.metadata.resource_version = Some("999".into());
    assert_eq!(pool_changes(&status_only), base, "the operator's own status write");

    let mut spec = pool.clone();
    spec.metadata.generation = Some(4);
    assert_ne!(pool_changes(&spec), base, "a spec change");

    let mut fin = pool.clone();
    fin.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    assert_ne!(pool_changes(&fin), base, "the finalizer added");

    let mut deleted = fin.clone();
    deleted.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
    assert_ne!(pool_changes(&deleted), pool_changes(&fin), "deletion requested");
}
