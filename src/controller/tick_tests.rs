//! One tick, synchronously: the sample pool and policy, a hand-made observation and a fixed time.

use super::*;
use crate::api::conditions::types;
use crate::signals::{PolicyPrices, StaticPrices};

fn sample<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(file);
    serde_saphyr::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample parses")
}

fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().expect("time")
}

/// Nothing running, no load signals, the route and workloads not found; `observed` as given.
fn observation(policy: &CostPolicy, pool: &InferencePool, observed: crate::actuate::Observed) -> Observation {
    let prices = StaticPrices::from_policy(&PolicyPrices::of(&policy.spec), &providers_in_use(policy, pool), None)
        .reading()
        .clone();
    let policy_totals = ledger::policy::sum_pools(std::iter::empty(), now()).expect("totals");
    Observation {
        snapshot: planner::Snapshot {
            load: Default::default(),
            prices: prices.prices.clone(),
            classes: Default::default(),
            traffic: Default::default(),
            provider_weights: Vec::new(),
            provider_signals: Vec::new(),
            spend: Default::default(),
        },
        load: None,
        load_problem: None,
        prices,
        observed,
        interruptions: Default::default(),
        ready: Default::default(),
        problems: vec!["HTTPRoute inference/llama-70b not found".into()],
        policy_totals,
        tenants: None,
    }
}

/// A spot node of the sample pool that hybridscale cordoned earlier, and one idle node nobody touched.
fn spot_nodes() -> crate::actuate::Observed {
    use crate::actuate::NodeInfo;
    use crate::actuate::decide::RECLAIM_ANNOTATION;
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
    observed.node_pools[Class::Spot] = Some(crate::actuate::NodePoolView { gpu_limit: Some(16), replicas: None });
    observed
}

fn node_commands(out: &TickOutput) -> Vec<String> {
    let mut cmds: Vec<String> = out
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Cordon { .. } | Command::Uncordon { .. } | Command::DeleteNode { .. }))
        .map(Command::describe)
        .collect();
    cmds.sort();
    cmds
}

/// Bug: `idleReclaim.enabled: false` never reached the actuator (`Desired` always reclaimed).
#[test]
fn idle_reclaim_disabled_reclaims_nothing_and_undoes_our_cordons() {
    let pool: InferencePool = sample("inferencepool.yaml");
    let mut policy: CostPolicy = sample("costpolicy.yaml");
    let run = |policy: &CostPolicy| {
        let valid = ValidatedPool::new(policy, &pool).expect("valid");
        let out = tick(&valid, &pool, &observation(policy, &pool, spot_nodes()), &Default::default(), now());
        assert_eq!(out.plan.node_pool_gpus[Class::Spot], 0, "the plan needs no spot node");
        node_commands(&out)
    };
    policy.spec.idle_reclaim.enabled = true;
    let on = run(&policy);
    assert!(on.iter().any(|c| c.contains("idle")), "enabled: the idle node is reclaimed: {on:?}");
    policy.spec.idle_reclaim.enabled = false;
    let off = run(&policy);
    assert_eq!(off.len(), 1, "disabled: only our cordon is undone: {off:?}");
    assert!(off[0].to_lowercase().contains("uncordon") && off[0].contains("cordoned-by-us"), "{off:?}");
}

#[test]
fn recommend_mode_decides_no_commands_but_still_plans_and_bills() {
    let pool: InferencePool = sample("inferencepool.yaml");
    let mut policy: CostPolicy = sample("costpolicy.yaml");
    policy.spec.mode = Mode::Recommend;
    let valid = ValidatedPool::new(&policy, &pool).expect("valid");
    let out = tick(&valid, &pool, &observation(&policy, &pool, spot_nodes()), &Default::default(), now());
    assert!(out.commands.is_empty(), "{:?}", out.commands);
    assert_eq!(out.ledger.status.accrued_until.as_deref(), Some("2026-12-07T12:00:00Z"));
}

/// Bug: the Degraded message said "HTTPRoute inference/llama-70b not found" twice, once from observation
/// and once from the actuator's decision. And a command that fails when run is a Degraded condition.
#[test]
fn degraded_says_each_problem_once_and_a_failed_command_too() {
    let pool: InferencePool = sample("inferencepool.yaml");
    let policy: CostPolicy = sample("costpolicy.yaml");
    let valid = ValidatedPool::new(&policy, &pool).expect("valid");
    let obs = observation(&policy, &pool, Default::default());
    let out = tick(&valid, &pool, &obs, &Default::default(), now());
    let s = out.status(&valid, &pool, &obs, None, now());
    let degraded = |s: &InferencePoolStatus| {
        s.conditions.iter().find(|c| c.type_ == types::DEGRADED).map(|c| c.message.clone()).unwrap_or_default()
    };
    assert_eq!(degraded(&s).matches("HTTPRoute inference/llama-70b not found").count(), 1, "{}", degraded(&s));
    let failed = out.status(&valid, &pool, &obs, Some("Deployment inference/llama-70b-spot: forbidden".into()), now());
    assert!(degraded(&failed).contains("llama-70b-spot: forbidden"), "{}", degraded(&failed));
}

#[test]
fn unreadable_memory_restarts_empty_and_says_so() {
    let pool: InferencePool = sample("inferencepool.yaml");
    let policy: CostPolicy = sample("costpolicy.yaml");
    let valid = ValidatedPool::new(&policy, &pool).expect("valid");
    let mut prev = InferencePoolStatus::default();
    prev.planner_state.idle_since = Some("yesterday".into());
    let out = tick(&valid, &pool, &observation(&policy, &pool, Default::default()), &prev, now());
    assert!(out.problems.iter().any(|p| p.contains("status.plannerState unreadable")), "{:?}", out.problems);
}
