//! Per-pool and per-policy FinOps series (the metrics contract of issue 17): counters the ledger
//! integrates each tick, gauges of the ledger's month-to-date figures, unit costs, savings, SLO and idle
//! state. Recorded from one plain [`PoolRecord`] per reconcile so the exposition can be tested without a
//! cluster. Cardinality: per pool, 4 classes, 2 routes × 2 kinds, 2 scenarios, at most top-N + 1
//! tenants (the ledger maps the rest to "other") and at most 8 external providers (the CRD's bound).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{PoolClassLabels, PoolLabels};
use crate::api::finops::UnitCosts;
use crate::api::inference_pool::{ClassCost, CostStatus, PerClass};

type FGauge = Gauge<f64, AtomicU64>;
type FCounter = Counter<f64, AtomicU64>;

/// The class label values of the contract.
pub const CLASSES: [&str; 4] = ["reserved", "spot", "on_demand", "external"];

/// `{namespace,pool,tenant}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolTenantLabels {
    pub namespace: String,
    pub pool: String,
    pub tenant: String,
}

/// `{namespace,pool,provider}`: one of the pool's external providers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolProviderLabels {
    pub namespace: String,
    pub pool: String,
    pub provider: String,
}

/// `{namespace,pool,route,kind}`: route self_hosted|external, kind prompt|output.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolTokenLabels {
    pub namespace: String,
    pub pool: String,
    pub route: String,
    pub kind: String,
}

/// `{namespace,pool,scenario}`: all_external|on_demand_only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolScenarioLabels {
    pub namespace: String,
    pub pool: String,
    pub scenario: String,
}

/// `hybridscale_pool_info` labels.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolInfoLabels {
    pub namespace: String,
    pub pool: String,
    pub policy: String,
    pub model: String,
    /// The pool's metadata label `team`, "" when absent.
    pub team: String,
    /// The pool's metadata label `cost-center`, "" when absent.
    pub cost_center: String,
}

/// `{namespace,policy}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub namespace: String,
    pub policy: String,
}

/// `{namespace,policy,period}`: month|hour.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyPeriodLabels {
    pub namespace: String,
    pub policy: String,
    pub period: String,
}

/// The FinOps families.
#[derive(Default)]
pub struct PoolMetrics {
    pub cost: Family<PoolClassLabels, FCounter>,
    pub tenant_cost: Family<PoolTenantLabels, FCounter>,
    pub provider_cost: Family<PoolProviderLabels, FCounter>,
    pub provider_month_to_date: Family<PoolProviderLabels, FGauge>,
    pub provider_weight: Family<PoolProviderLabels, Gauge>,
    pub provider_healthy: Family<PoolProviderLabels, Gauge>,
    pub tokens: Family<PoolTokenLabels, FCounter>,
    pub requests: Family<PoolLabels, FCounter>,
    pub requests_within_slo: Family<PoolLabels, FCounter>,
    pub idle_gpu_seconds: Family<PoolLabels, FCounter>,
    pub spot_interruptions: Family<PoolLabels, Counter>,
    pub info: Family<PoolInfoLabels, Gauge>,
    pub month_to_date: Family<PoolClassLabels, FGauge>,
    pub projected_month: Family<PoolLabels, FGauge>,
    pub counterfactual: Family<PoolScenarioLabels, FGauge>,
    pub cost_per_million_tokens: Family<PoolClassLabels, FGauge>,
    pub ready_replicas: Family<PoolClassLabels, Gauge>,
    pub slo_latency: Family<PoolLabels, FGauge>,
    pub slo_target: Family<PoolLabels, FGauge>,
    pub idle_gpus: Family<PoolLabels, Gauge>,
    pub signals_stale: Family<PoolLabels, Gauge>,
    pub policy_budget: Family<PolicyPeriodLabels, FGauge>,
    pub policy_month_to_date: Family<PolicyLabels, FGauge>,
    pub policy_projected_month: Family<PolicyLabels, FGauge>,
    /// The info labels last set per (namespace, pool), so a changed label replaces its old series.
    info_seen: Mutex<HashMap<(String, String), PoolInfoLabels>>,
}

impl PoolMetrics {
    /// Register every family in `r` (prefix from the registry; counters get `_total`).
    pub fn register(r: &mut Registry) -> Self {
        let m = PoolMetrics::default();
        r.register("pool_cost_usd", "Spend integrated by the ledger, USD, by class", m.cost.clone());
        r.register("pool_tenant_cost_usd", "Spend by tenant (top N, the rest as other), USD", m.tenant_cost.clone());
        r.register("pool_provider_cost_usd", "External spend by provider, USD", m.provider_cost.clone());
        r.register(
            "pool_provider_month_to_date_usd",
            "Month-to-date external spend by provider, USD (the ledger's figure)",
            m.provider_month_to_date.clone(),
        );
        r.register(
            "pool_provider_weight_percent",
            "Route weight of each external provider set by the last plan",
            m.provider_weight.clone(),
        );
        r.register(
            "pool_provider_healthy",
            "1 while an external provider may take traffic, 0 while its errors or latency keep it out",
            m.provider_healthy.clone(),
        );
        r.register("pool_tokens", "Tokens served, by route and kind", m.tokens.clone());
        r.register("pool_requests", "Requests served (both routes)", m.requests.clone());
        r.register("pool_requests_within_slo", "Requests served within the SLO latency", m.requests_within_slo.clone());
        r.register("pool_idle_gpu_seconds", "GPU-seconds idle beyond the idle period", m.idle_gpu_seconds.clone());
        r.register("pool_spot_interruptions", "Spot interruptions seen", m.spot_interruptions.clone());
        r.register("pool_info", "The pool's policy, model, team and cost center (value 1)", m.info.clone());
        r.register(
            "pool_month_to_date_usd",
            "Month-to-date spend, USD, by class (the ledger's figure)",
            m.month_to_date.clone(),
        );
        r.register(
            "pool_projected_month_usd",
            "Month-to-date plus the burn rate to month end, USD",
            m.projected_month.clone(),
        );
        r.register(
            "pool_counterfactual_month_to_date_usd",
            "What the month so far would have cost all external or all on-demand, USD",
            m.counterfactual.clone(),
        );
        r.register(
            "pool_cost_per_million_tokens_usd",
            "Month-to-date USD per million tokens, self-hosted per class and external",
            m.cost_per_million_tokens.clone(),
        );
        r.register("pool_ready_replicas", "Ready replicas per capacity class", m.ready_replicas.clone());
        r.register("pool_slo_latency_seconds", "The policy's SLO latency", m.slo_latency.clone());
        r.register("pool_slo_target_attainment_ratio", "The policy's SLO target attainment", m.slo_target.clone());
        r.register("pool_idle_gpus", "GPUs idle longer than the policy's idle period", m.idle_gpus.clone());
        r.register("pool_signals_stale", "1 while load signals are stale or unavailable", m.signals_stale.clone());
        r.register("policy_budget_usd", "The policy's budget, USD, by period (month, hour)", m.policy_budget.clone());
        r.register(
            "policy_month_to_date_usd",
            "Month-to-date spend of the policy's pools, USD",
            m.policy_month_to_date.clone(),
        );
        r.register(
            "policy_projected_month_usd",
            "Projected month of the policy's pools, USD",
            m.policy_projected_month.clone(),
        );
        m
    }
}

/// What one reconcile tells the metrics about its pool.
#[derive(Clone, Debug, Default)]
pub struct PoolRecord {
    pub info: PoolInfoLabels,
    /// Ready replicas per class.
    pub ready: PerClass<u32>,
    /// The ledger after this tick.
    pub cost: CostStatus,
    /// Spend added this tick per class.
    pub cost_added: ClassCost,
    /// Tokens added: self-hosted prompt, self-hosted output, external prompt, external output.
    pub tokens_added: [f64; 4],
    pub requests_added: f64,
    pub requests_within_slo_added: f64,
    /// Spend added per tenant metric label (already bounded to top N + "other").
    pub tenants_added: Vec<(String, f64)>,
    pub idle_gpus: u32,
    pub idle_gpu_seconds_added: f64,
    pub spot_interruptions_added: u32,
    pub slo_latency_s: f64,
    pub slo_target_attainment: f64,
    pub signals_stale: bool,
    /// Each external provider's state after this tick.
    pub providers: Vec<ProviderRecord>,
}

/// One external provider's series after a tick.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderRecord {
    pub name: String,
    /// Route weight set by the plan, percent.
    pub weight: u32,
    pub healthy: bool,
    /// Spend added this tick, USD.
    pub cost_added: f64,
    /// Month-to-date spend, USD.
    pub month_to_date: f64,
}

fn by_class(c: &ClassCost) -> [f64; 4] {
    [c.reserved, c.spot, c.on_demand, c.external]
}

fn unit(u: &UnitCosts) -> [Option<f64>; 4] {
    [u.reserved, u.spot, u.on_demand, u.external]
}

/// Record one pool's tick.
pub fn record(m: &PoolMetrics, r: &PoolRecord) {
    let (ns, name) = (r.info.namespace.clone(), r.info.pool.clone());
    let pool = PoolLabels { namespace: ns.clone(), pool: name.clone() };
    let class = |c: &str| PoolClassLabels { namespace: ns.clone(), pool: name.clone(), class: c.to_string() };
    let added = by_class(&r.cost_added);
    let mtd = by_class(&r.cost.month_to_date_by_class);
    let unit = unit(&r.cost.cost_per_million_tokens);
    for (i, c) in CLASSES.iter().enumerate() {
        inc(&m.cost.get_or_create(&class(c)), added[i]);
        m.month_to_date.get_or_create(&class(c)).set(mtd[i]);
        match unit[i] {
            Some(v) => {
                m.cost_per_million_tokens.get_or_create(&class(c)).set(v);
            }
            None => {
                m.cost_per_million_tokens.remove(&class(c));
            }
        }
    }
    let ready = [r.ready.reserved, r.ready.spot, r.ready.on_demand];
    for (i, c) in CLASSES[..3].iter().enumerate() {
        m.ready_replicas.get_or_create(&class(c)).set(i64::from(ready[i]));
    }
    for (i, (route, kind)) in
        [("self_hosted", "prompt"), ("self_hosted", "output"), ("external", "prompt"), ("external", "output")]
            .into_iter()
            .enumerate()
    {
        let l = PoolTokenLabels { namespace: ns.clone(), pool: name.clone(), route: route.into(), kind: kind.into() };
        inc(&m.tokens.get_or_create(&l), r.tokens_added[i]);
    }
    for p in &r.providers {
        let l = PoolProviderLabels { namespace: ns.clone(), pool: name.clone(), provider: p.name.clone() };
        inc(&m.provider_cost.get_or_create(&l), p.cost_added);
        m.provider_month_to_date.get_or_create(&l).set(p.month_to_date);
        m.provider_weight.get_or_create(&l).set(i64::from(p.weight));
        m.provider_healthy.get_or_create(&l).set(i64::from(p.healthy));
    }
    for (tenant, usd) in &r.tenants_added {
        let l = PoolTenantLabels { namespace: ns.clone(), pool: name.clone(), tenant: tenant.clone() };
        inc(&m.tenant_cost.get_or_create(&l), *usd);
    }
    inc(&m.requests.get_or_create(&pool), r.requests_added);
    inc(&m.requests_within_slo.get_or_create(&pool), r.requests_within_slo_added);
    inc(&m.idle_gpu_seconds.get_or_create(&pool), r.idle_gpu_seconds_added);
    m.spot_interruptions.get_or_create(&pool).inc_by(u64::from(r.spot_interruptions_added));
    m.projected_month.get_or_create(&pool).set(r.cost.projected_month_usd);
    let cf = r.cost.counterfactual;
    for (scenario, v) in [("all_external", cf.all_external_usd), ("on_demand_only", cf.on_demand_only_usd)] {
        let l = PoolScenarioLabels { namespace: ns.clone(), pool: name.clone(), scenario: scenario.into() };
        m.counterfactual.get_or_create(&l).set(v);
    }
    m.slo_latency.get_or_create(&pool).set(r.slo_latency_s);
    m.slo_target.get_or_create(&pool).set(r.slo_target_attainment);
    m.idle_gpus.get_or_create(&pool).set(i64::from(r.idle_gpus));
    m.signals_stale.get_or_create(&pool).set(i64::from(r.signals_stale));
    set_info(m, &r.info);
}

/// Counters only go up: a negative or non-finite amount (never expected) is not added.
fn inc(c: &FCounter, v: f64) {
    if v.is_finite() && v > 0.0 {
        c.inc_by(v);
    }
}

fn set_info(m: &PoolMetrics, info: &PoolInfoLabels) {
    let mut seen = m.info_seen.lock().unwrap_or_else(|e| e.into_inner());
    let key = (info.namespace.clone(), info.pool.clone());
    if let Some(old) = seen.insert(key, info.clone())
        && old != *info
    {
        m.info.remove(&old);
    }
    m.info.get_or_create(info).set(1);
}

/// Record a policy's budget and totals. Only the budget periods the policy sets get a series.
pub fn record_policy(m: &PoolMetrics, ns: &str, policy: &str, budget: [Option<f64>; 2], mtd: f64, projected: f64) {
    let l = PolicyLabels { namespace: ns.into(), policy: policy.into() };
    for (period, v) in ["month", "hour"].into_iter().zip(budget) {
        let pl = PolicyPeriodLabels { namespace: ns.into(), policy: policy.into(), period: period.into() };
        match v {
            Some(v) => {
                m.policy_budget.get_or_create(&pl).set(v);
            }
            None => {
                m.policy_budget.remove(&pl);
            }
        }
    }
    m.policy_month_to_date.get_or_create(&l).set(mtd);
    m.policy_projected_month.get_or_create(&l).set(projected);
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
