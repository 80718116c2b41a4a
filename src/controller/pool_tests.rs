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

/// A spot node of the sample pool that hybridscale cordoned earlier, and one idle node nobody touched.
fn spot_nodes() -> crate::actuate::Observed {
    use crate::actuate::decide::RECLAIM_ANNOTATION;
    use crate::actuate::{NodeInfo, NodePoolView};
    let node = |name: &str| NodeInfo {
        name: name.into(),
        labels: [("karpenter.sh/nodepool".to_string(), "h100-spot".to_string())].into(),
        gpus: Some(8),
        ..Default::default()
    };
    let mut ours = node("cordoned-by-us");
    ours.unschedulable = true;
    ours.annotations.insert(RECLAIM_ANNOTATION.into(), "true".into());
    let mut observed = crate::actuate::Observed { nodes: vec![ours, node("idle")], ..Default::default() };
    observed.node_pools[Class::Spot as usize] = Some(NodePoolView { gpu_limit: Some(16), replicas: None });
    observed
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

/// Bug: `idleReclaim.enabled: false` never reached the actuator (`Desired` always reclaimed).
#[test]
fn idle_reclaim_disabled_reclaims_nothing_and_undoes_our_cordons() {
    let pool = sample_pool();
    let mut policy = sample_policy();
    let node_commands = |policy: &CostPolicy| {
        let config = PoolConfig::from_resources(policy, &pool).expect("sample config");
        let snapshot = planner::Snapshot {
            load: Default::default(),
            prices: planner::Prices::from_resources(policy, &pool).expect("sample prices"),
            classes: Default::default(),
            traffic: Default::default(),
            provider_weights: Vec::new(),
            provider_signals: Vec::new(),
            spend: Default::default(),
        };
        let plan = planner::plan(&config, &snapshot, &Memory::default(), 1.0e9);
        assert_eq!(plan.node_pool_gpus[Class::Spot as usize], 0, "the plan needs no spot node");
        let d = decide(&desired("inference", &pool, &config, &plan), &spot_nodes(), &InterruptionSignals::default());
        let mut cmds: Vec<String> = d
            .commands
            .iter()
            .filter(|c| matches!(c, Command::Cordon { .. } | Command::Uncordon { .. } | Command::DeleteNode { .. }))
            .map(Command::describe)
            .collect();
        cmds.sort();
        cmds
    };
    policy.spec.idle_reclaim.enabled = true;
    let on = node_commands(&policy);
    assert!(on.iter().any(|c| c.contains("idle")), "enabled: the idle node is reclaimed: {on:?}");
    policy.spec.idle_reclaim.enabled = false;
    let off = node_commands(&policy);
    assert_eq!(off.len(), 1, "disabled: only our cordon is undone: {off:?}");
    assert!(off[0].to_lowercase().contains("uncordon") && off[0].contains("cordoned-by-us"), "{off:?}");
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

/// Bug: the Degraded message said "HTTPRoute inference/llama-70b not found" twice, once from observation
/// and once from the actuator's decision.
#[test]
fn degraded_says_each_problem_once() {
    let pool = sample_pool();
    let policy = sample_policy();
    let config = PoolConfig::from_resources(&policy, &pool).expect("sample config");
    let snapshot = planner::Snapshot {
        load: Default::default(),
        prices: planner::Prices::from_resources(&policy, &pool).expect("sample prices"),
        classes: Default::default(),
        traffic: Default::default(),
        provider_weights: Vec::new(),
        provider_signals: Vec::new(),
        spend: Default::default(),
    };
    let plan = planner::plan(&config, &snapshot, &Memory::default(), 1.0e9);
    let route = "HTTPRoute inference/llama-70b not found".to_string();
    let outcome = status::Outcome {
        plan: &plan,
        mode: Mode::Enforce,
        ready: Default::default(),
        problems: vec![route.clone(), "Deployment llama-spot not found".into(), route.clone()],
        stale_reason: None,
        price_notes: vec![],
        budget: Default::default(),
        cost: Default::default(),
        progressing: false,
    };
    let s = status::build(&pool, &outcome, "2026-01-01T00:00:00Z");
    let want = "HTTPRoute inference/llama-70b not found; Deployment llama-spot not found";
    for t in [crate::api::conditions::types::DEGRADED, crate::api::conditions::types::READY] {
        let c = s.conditions.iter().find(|c| c.type_ == t).expect("condition");
        assert_eq!(c.message, want, "{t}");
    }
}
