//! What a pool reconcile records in `/metrics` (pure apart from the metric families): the plan's
//! replicas, the route's external share, the believed capacity, and the FinOps record built from the
//! ledger step ([`crate::telemetry::pool`]). Kept out of `pool.rs` so the pipeline stays readable.

use kube::ResourceExt;

use super::Context;
use crate::api::{CostPolicy, InferencePool, InferencePoolStatus};
use crate::ledger::{FinopsTick, tenants};
use crate::planner::{Class, Plan};
use crate::telemetry::{PoolClassLabels, PoolInfoLabels, PoolLabels, PoolRecord, class_label, pool};

/// Everything about one tick the metrics need beyond the plan and the new status.
pub struct TickFacts<'a> {
    pub policy: &'a CostPolicy,
    /// What the ledger added this tick.
    pub tick: &'a FinopsTick,
    pub idle_gpus: u32,
    /// Seconds the ledger integrated this tick.
    pub accrued_seconds: f64,
    /// Spot interruptions first seen this tick.
    pub spot_interruptions: u32,
    pub signals_stale: bool,
}

/// Record the pool's series.
pub fn record(ctx: &Context, p: &InferencePool, plan: &Plan, s: &InferencePoolStatus, f: &TickFacts<'_>) {
    let (ns, name) = (p.namespace().unwrap_or_default(), p.name_any());
    let labels = PoolLabels { namespace: ns.clone(), pool: name.clone() };
    for c in Class::ALL {
        let l = PoolClassLabels { namespace: ns.clone(), pool: name.clone(), class: class_label(c).to_string() };
        ctx.metrics.replicas.get_or_create(&l).set(i64::from(plan.replicas.get(c)));
    }
    ctx.metrics.external_share.get_or_create(&labels).set(i64::from(plan.traffic.external_weight));
    ctx.metrics.usd_per_hour.get_or_create(&labels).set(s.cost.usd_per_hour);
    if plan.capacity.rps > 0.0 {
        ctx.metrics.capacity_rps.get_or_create(&labels).set(plan.capacity.rps);
    }
    pool::record(&ctx.metrics.pool, &pool_record(p, s, f));
}

/// The FinOps record of one tick (pure).
pub fn pool_record(p: &InferencePool, s: &InferencePoolStatus, f: &TickFacts<'_>) -> PoolRecord {
    let label = |k: &str| p.labels().get(k).cloned().unwrap_or_default();
    let top_n = p.spec.metrics.attribution.as_ref().map_or(0, |a| a.top_tenants as usize);
    let mut tenants_added: Vec<(String, f64)> = Vec::new();
    for (tenant, usd) in &f.tick.tenants {
        let l = tenants::metric_label(&s.cost, tenant, top_n).to_string();
        match tenants_added.iter_mut().find(|(t, _)| *t == l) {
            Some((_, sum)) => *sum += usd,
            None => tenants_added.push((l, *usd)),
        }
    }
    PoolRecord {
        info: PoolInfoLabels {
            namespace: p.namespace().unwrap_or_default(),
            pool: p.name_any(),
            policy: p.spec.cost_policy_ref.name.clone(),
            model: p.spec.model.clone(),
            team: label("team"),
            cost_center: label("cost-center"),
        },
        ready: s.ready,
        cost: s.cost.clone(),
        cost_added: f.tick.cost,
        tokens_added: f.tick.tokens,
        requests_added: f.tick.requests,
        requests_within_slo_added: f.tick.requests_within_slo,
        tenants_added,
        idle_gpus: f.idle_gpus,
        idle_gpu_seconds_added: f64::from(f.idle_gpus) * f.accrued_seconds,
        spot_interruptions_added: f.spot_interruptions,
        slo_latency_s: f.policy.spec.slo.latency_seconds,
        slo_target_attainment: f.policy.spec.slo.target_attainment,
        signals_stale: f.signals_stale,
    }
}

/// Spot interruptions in `new` (RFC 3339 times, newest last) newer than every one in `old`: each
/// interruption is counted once, across ticks and restarts (the list lives in status).
pub fn new_interruptions(old: &[String], new: &[String]) -> u32 {
    let parse = |s: &String| s.parse::<jiff::Timestamp>().ok();
    let newest_old = old.iter().filter_map(parse).max();
    let n = new.iter().filter_map(parse).filter(|t| newest_old.is_none_or(|o| *t > o)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::finops::AttributionSpec;
    use crate::api::finops::TenantCost;
    use crate::api::inference_pool::CostStatus;

    fn sample<T: serde::de::DeserializeOwned>(file: &str) -> T {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(file);
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample parses")
    }

    #[test]
    fn interruptions_are_counted_once() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let old = s(&["2026-11-10T10:00:00Z", "2026-11-10T10:05:00Z"]);
        let new = s(&["2026-11-10T10:00:00Z", "2026-11-10T10:05:00Z", "2026-11-10T10:06:00Z"]);
        assert_eq!(new_interruptions(&old, &new), 1);
        assert_eq!(new_interruptions(&new, &new), 0);
        assert_eq!(new_interruptions(&[], &old), 2);
        // The oldest aged out of the list: still only the new one counts.
        assert_eq!(new_interruptions(&old, &s(&["2026-11-10T10:05:00Z", "2026-11-10T10:07:00Z"])), 1);
        assert_eq!(new_interruptions(&[], &s(&["junk"])), 0);
    }

    #[test]
    fn record_carries_team_and_bounds_tenants() {
        let mut p: InferencePool = sample("inferencepool.yaml");
        p.metadata.namespace = Some("ml".into());
        p.metadata.labels = Some([("team".to_string(), "search".to_string())].into());
        p.spec.metrics.attribution = Some(AttributionSpec { top_tenants: 1, ..Default::default() });
        let policy: CostPolicy = sample("costpolicy.yaml");
        let mut s = InferencePoolStatus::default();
        let t = |n: &str, usd: f64| TenantCost { tenant: n.into(), self_hosted_usd: usd, external_usd: 0.0 };
        s.cost = CostStatus { top_tenants: vec![t("a", 5.0), t("b", 3.0), t("c", 1.0)], ..Default::default() };
        let tick = FinopsTick {
            tenants: vec![("a".into(), 1.0), ("b".into(), 0.5), ("c".into(), 0.25)],
            ..Default::default()
        };
        let f = TickFacts {
            policy: &policy,
            tick: &tick,
            idle_gpus: 2,
            accrued_seconds: 15.0,
            spot_interruptions: 0,
            signals_stale: false,
        };
        let r = pool_record(&p, &s, &f);
        assert_eq!((r.info.team.as_str(), r.info.cost_center.as_str()), ("search", ""));
        assert_eq!(r.info.policy, p.spec.cost_policy_ref.name);
        assert_eq!(r.tenants_added, vec![("a".to_string(), 1.0), ("other".to_string(), 0.75)]);
        assert_eq!(r.idle_gpu_seconds_added, 30.0);
        assert_eq!(r.slo_latency_s, policy.spec.slo.latency_seconds);
    }
}
