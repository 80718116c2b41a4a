//! What a pool reconcile records in `/metrics` (pure apart from the metric families): the plan's
//! replicas, the route's external share, the believed capacity, and the FinOps record built from the
//! ledger step ([`crate::telemetry::pool`]). Kept out of `pool.rs` so the pipeline stays readable.

use kube::ResourceExt;

use super::Context;
use crate::api::inference_pool::CostStatus;
use crate::api::{InferencePool, InferencePoolStatus};
use crate::ledger::{FinopsTick, tenants};
use crate::planner::{Class, Plan};
use crate::telemetry::pool::ProviderRecord;
use crate::telemetry::{PoolClassLabels, PoolInfoLabels, PoolLabels, PoolRecord, class_label, pool};

/// Everything about one tick the metrics need beyond the plan and the new status.
pub struct TickFacts<'a> {
    /// The SLO's latency, seconds, and target attainment, from the validated pool.
    pub slo_latency_s: f64,
    pub slo_target_attainment: f64,
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
        slo_latency_s: f.slo_latency_s,
        slo_target_attainment: f.slo_target_attainment,
        signals_stale: f.signals_stale,
        providers: provider_records(p, s),
    }
}

/// Each provider's weight, health and spend: the spend added is the growth of its month-to-date row since
/// the status the reconcile started from (all of it when the month rolled over or the row is new).
fn provider_records(p: &InferencePool, s: &InferencePoolStatus) -> Vec<ProviderRecord> {
    let old = p.status.as_ref().map(|o| &o.cost);
    let same_month = old.is_some_and(|o| o.month == s.cost.month);
    let mtd = |name: &str, c: &CostStatus| {
        c.external_by_provider.iter().find(|r| r.name == name).map_or(0.0, |r| r.month_to_date_usd)
    };
    let mut names: Vec<&str> = s.providers.iter().map(|p| p.name.as_str()).collect();
    for row in &s.cost.external_by_provider {
        if !names.contains(&row.name.as_str()) {
            names.push(&row.name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let status = s.providers.iter().find(|p| p.name == name);
            let now = mtd(name, &s.cost);
            let before = match old {
                Some(o) if same_month => mtd(name, o),
                _ => 0.0,
            };
            ProviderRecord {
                name: name.to_string(),
                weight: status.map_or(0, |p| p.weight),
                healthy: status.is_some_and(|p| p.healthy),
                cost_added: (now - before).max(0.0),
                month_to_date: now,
            }
        })
        .collect()
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
        let policy: crate::api::CostPolicy = sample("costpolicy.yaml");
        let mut s = InferencePoolStatus::default();
        let t = |n: &str, usd: f64| TenantCost { tenant: n.into(), self_hosted_usd: usd, external_usd: 0.0 };
        s.cost = CostStatus { top_tenants: vec![t("a", 5.0), t("b", 3.0), t("c", 1.0)], ..Default::default() };
        let tick = FinopsTick {
            tenants: vec![("a".into(), 1.0), ("b".into(), 0.5), ("c".into(), 0.25)],
            ..Default::default()
        };
        let f = TickFacts {
            slo_latency_s: policy.spec.slo.latency_seconds,
            slo_target_attainment: policy.spec.slo.target_attainment,
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

    #[test]
    fn provider_spend_added_is_the_growth_of_its_month_to_date() {
        use crate::api::inference_pool::{ProviderCost, ProviderStatus};
        let row = |name: &str, usd: f64| ProviderCost { name: name.into(), month_to_date_usd: usd };
        let mut p: InferencePool = sample("inferencepool.yaml");
        let mut old = InferencePoolStatus::default();
        old.cost.month = Some("2026-12".into());
        old.cost.external_by_provider = vec![row("gemini", 2.0)];
        p.status = Some(old);
        let mut s = InferencePoolStatus::default();
        s.cost.month = Some("2026-12".into());
        s.cost.external_by_provider = vec![row("gemini", 2.5), row("claude", 0.25)];
        s.providers = vec![ProviderStatus { name: "gemini".into(), weight: 20, healthy: true, reason: String::new() }];
        let r = provider_records(&p, &s);
        assert_eq!(
            r.iter().map(|x| (x.name.as_str(), x.cost_added)).collect::<Vec<_>>(),
            [("gemini", 0.5), ("claude", 0.25)]
        );
        assert!(r[0].healthy && r[0].weight == 20 && !r[1].healthy, "{r:?}");
        // A new month starts the rows again: all of this month's spend is new.
        s.cost.month = Some("2027-01".into());
        assert_eq!(provider_records(&p, &s)[0].cost_added, 2.5);
    }
}
