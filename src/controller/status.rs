//! Build an InferencePool's status (pure) and write it (touches the cluster: the status subresource,
//! by server-side apply under the operator's field manager).

use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::{Context, Error, error::Result};
use crate::actuate::FIELD_MANAGER;
use crate::api::conditions::{Condition, ConditionStatus, set_condition, types};
use crate::api::cost_policy::Mode;
use crate::api::inference_pool::{
    CapacityClassName, CapacityStatus, Decision, InferencePool, InferencePoolStatus, NodePoolSize, PlannerState,
    ProviderStatus,
};
use crate::planner::Plan;

/// What the reconcile learned, for the status.
pub struct Inputs<'a> {
    /// The plan (applied or only recommended).
    pub plan: &'a Plan,
    /// The mode it ran in.
    pub mode: Mode,
    /// Observed ready replicas per class.
    pub ready: crate::api::inference_pool::PerClass<u32>,
    /// Problems with references or the apply step; non-empty means Degraded.
    pub problems: Vec<String>,
    /// Why signals are stale (empty when fresh).
    pub stale_reason: Option<String>,
    /// Price fallbacks in force.
    pub price_notes: Vec<String>,
    /// Budget state of the policy.
    pub budget: crate::ledger::BudgetState,
    /// The new cost ledger.
    pub cost: crate::api::inference_pool::CostStatus,
    /// Whether the cluster is still moving towards the plan.
    pub progressing: bool,
}

/// Three decimals: status diffs stay small and `kubectl get -o yaml` stays readable.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn cond(status: bool) -> ConditionStatus {
    if status { ConditionStatus::True } else { ConditionStatus::False }
}

/// The new status of `pool` after a reconcile at `now` (RFC 3339).
pub fn build(pool: &InferencePool, out: &Inputs<'_>, now: &str) -> InferencePoolStatus {
    let generation = pool.metadata.generation;
    let mut s = pool.status.clone().unwrap_or_default();
    s.observed_generation = generation;
    s.replicas = out.plan.replicas;
    s.desired_replicas = out.plan.replicas.total();
    s.ready = out.ready;
    s.ready_replicas = out.ready.total();
    s.traffic = out.plan.traffic;
    s.providers = out
        .plan
        .providers
        .iter()
        .map(|p| ProviderStatus {
            name: p.name.clone(),
            weight: p.weight,
            healthy: p.healthy,
            reason: p.reason.clone(),
        })
        .collect();
    s.node_pools = CapacityClassName::ALL
        .iter()
        .filter_map(|c| {
            let np = pool.spec.capacity.get(*c)?.node_pool_ref.as_ref()?;
            let gpus = out.plan.node_pool_gpus[*c];
            Some(NodePoolSize {
                class: *c,
                kind: np.kind,
                name: np.name.clone(),
                gpus,
                nodes: gpus.div_ceil(np.gpus_per_node.max(1)),
            })
        })
        .collect();
    s.cost = out.cost.clone();
    let capacity = &out.plan.capacity;
    s.capacity = (capacity.rps > 0.0).then(|| CapacityStatus {
        requests_per_second_per_replica: round3(capacity.rps),
        configured_requests_per_second: round3(capacity.model_rps),
        source: capacity.source.as_str().to_string(),
        evidence: capacity.evidence.clone(),
    });
    s.planner_state = PlannerState::from(&out.plan.memory);
    let recommended_only = out.mode == Mode::Recommend;
    let mut reasons: Vec<String> = out.plan.changes.iter().map(|c| c.reason.clone()).collect();
    reasons.extend(out.price_notes.iter().cloned());
    reasons.truncate(32);
    s.last_decision =
        Some(Decision { time: now.to_string(), summary: truncate(&out.plan.summary, 1024), reasons, recommended_only });

    let degraded = !out.problems.is_empty();
    let problems = one_each(&out.problems);
    let c = &mut s.conditions;
    set_condition(
        c,
        Condition::new(
            types::DEGRADED,
            cond(degraded),
            if degraded { "ReconcileProblems" } else { "AsExpected" },
            problems.clone(),
            generation,
            now,
        ),
    );
    set_condition(
        c,
        Condition::new(
            types::SIGNALS_STALE,
            cond(out.stale_reason.is_some() || out.plan.signals_stale),
            if out.plan.signals_stale { "HoldingLastSafePlan" } else { "SignalsFresh" },
            out.stale_reason.clone().unwrap_or_default(),
            generation,
            now,
        ),
    );
    set_condition(c, out.budget.condition(generation, now));
    set_condition(
        c,
        Condition::new(
            types::RECOMMEND_ONLY,
            cond(recommended_only),
            if recommended_only { "RecommendMode" } else { "EnforceMode" },
            if recommended_only {
                "CostPolicy mode is Recommend: the plan is shown here and nothing is changed"
            } else {
                ""
            },
            generation,
            now,
        ),
    );
    set_condition(
        c,
        Condition::new(
            types::PROGRESSING,
            cond(out.progressing && !recommended_only),
            if out.progressing && !recommended_only { "ScalingToPlan" } else { "AtPlan" },
            if out.progressing {
                format!("{} of {} replicas ready", s.ready_replicas, s.desired_replicas)
            } else {
                String::new()
            },
            generation,
            now,
        ),
    );
    // Ready: traffic has somewhere to go (ready replicas, or an external share) and nothing is broken.
    let path = s.ready_replicas > 0 || s.traffic.external_weight > 0;
    let ready = path && !degraded;
    set_condition(
        c,
        Condition::new(
            types::READY,
            cond(ready),
            if ready {
                "Serving"
            } else if degraded {
                "Degraded"
            } else {
                "NoServingPath"
            },
            if ready {
                out.plan.summary.clone()
            } else if degraded {
                problems
            } else {
                "no ready replica and no external share".into()
            },
            generation,
            now,
        ),
    );
    s
}

/// The problems joined with "; ", each once in the order first seen: observation and the actuator's
/// decision both notice a missing object, and a person should read that once.
pub fn one_each(problems: &[String]) -> String {
    let mut seen = std::collections::HashSet::new();
    problems.iter().filter(|p| seen.insert(p.as_str())).map(String::as_str).collect::<Vec<_>>().join("; ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Write the status (server-side apply on the status subresource; only the status is sent).
pub async fn write(ctx: &Context, ns: &str, name: &str, status: &InferencePoolStatus) -> Result<()> {
    let api: Api<InferencePool> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({ "apiVersion": "hybridscale.dev/v1alpha1", "kind": "InferencePool", "status": status });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// Mark the pool Degraded with `error` (used when the pipeline stops before a plan).
pub async fn write_failure(ctx: &Context, pool: &InferencePool, ns: &str, error: &Error) -> Result<()> {
    let now = (ctx.clock)().to_string();
    let generation = pool.metadata.generation;
    let mut s = pool.status.clone().unwrap_or_default();
    s.observed_generation = generation;
    set_condition(
        &mut s.conditions,
        Condition::new(types::DEGRADED, ConditionStatus::True, error.reason(), error.to_string(), generation, &now),
    );
    set_condition(
        &mut s.conditions,
        Condition::new(types::READY, ConditionStatus::False, error.reason(), error.to_string(), generation, &now),
    );
    write(ctx, ns, &pool.metadata.name.clone().unwrap_or_default(), &s).await
}
