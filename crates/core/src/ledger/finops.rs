//! Unit economics and savings of one pool, integrated over the same interval as its spend
//! ([`super::accrue`]), so they survive restarts and month ends exactly as spend does: each accrual adds
//! what flowed over `Accrual::accrued_seconds`, and a month rollover starts them again at 0.
//!
//! Tokens: the self-hosted and external token rates observed now are taken to have held for the whole
//! interval (the accrual's assumption). Self-hosted tokens are split between classes by the replicas each
//! class ran: the route balances requests evenly over ready replicas, so a class serves its share of
//! replicas. Cost per million tokens is a class's month-to-date spend over the tokens it served, i.e.
//! *at the utilisation seen* (idle replicas make a class dearer per token, as they do on the bill).
//!
//! Counterfactuals (month to date, beside the real spend):
//! - **all external**: every token served, on either route, bought from the external API at its prompt
//!   and output prices per token. It assumes the API would have taken the same tokens (no rate limit,
//!   no cache discount, no batch price).
//! - **on-demand only**: a plain autoscaler on on-demand GPUs, billed per second like the real ones:
//!   the GPU time actually held, every GPU at the on-demand price, plus the replicas the external share
//!   would have needed (its requests per second over the replica capacity believed now, a fractional
//!   replica count, i.e. perfect packing, so the figure is a lower bound). When no replica capacity is
//!   known yet the external share keeps its real API price rather than inventing replicas.
//!
//! Requests within the SLO are a time-sliced indicator: a tick's self-hosted requests count as within
//! when the latency at the policy's target quantile was within the SLO latency then (unknown latency
//! counts as within: no evidence of a miss); external requests count as within unless the pool's
//! `spec.external.latencySeconds` says the API is slower than the SLO.

use super::tenants::{self, TenantShare};
use super::{Accrual, LedgerError, Usage};
use crate::planner::{Class, Prices};
use crate::status::finops::{ClassTokens, Counterfactuals, TokenTotals, UnitCosts};
use crate::status::{ClassCost, CostStatus};

/// What the ledger needs beyond [`Usage`] and prices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinopsInput {
    /// Requests per second one replica is believed to serve within the SLO (0: unknown).
    pub replica_rps: f64,
    /// Latency at the policy's target quantile now, seconds (`None`: unknown).
    pub latency_s: Option<f64>,
    /// The policy's SLO latency, seconds.
    pub slo_latency_s: f64,
    /// The external API's latency, seconds, when the pool states it.
    pub external_latency_s: Option<f64>,
    /// Tenant shares of the pool's traffic now; `None` when attribution is not configured.
    pub shares: Option<Vec<TenantShare>>,
}

/// What one accrual added, for the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinopsTick {
    /// Spend added per class, USD.
    pub cost: ClassCost,
    /// Tokens: self-hosted prompt, self-hosted output, external prompt, external output.
    pub tokens: [f64; 4],
    /// Requests served.
    pub requests: f64,
    /// Of those, within the SLO.
    pub requests_within_slo: f64,
    /// Spend added per tenant, USD (tenant label value as the ledger keeps it).
    pub tenants: Vec<(String, f64)>,
}

/// Add the interval `accrual` integrated to the month-to-date tokens, counterfactuals, unit costs and
/// tenants of `prev`, writing them into `accrual.status`; returns what was added.
pub fn accrue_finops(
    prev: &CostStatus,
    accrual: &mut Accrual,
    usage: &Usage,
    prices: &Prices,
    input: &FinopsInput,
) -> Result<FinopsTick, LedgerError> {
    for (what, v) in [
        ("self-hosted input tokens per second", usage.self_hosted_input_tokens_per_s),
        ("self-hosted output tokens per second", usage.self_hosted_output_tokens_per_s),
        ("requests per second", usage.requests_per_s),
        ("external requests per second", usage.external_requests_per_s),
        ("replica capacity", input.replica_rps),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(LedgerError::InvalidRate { what, value: v });
        }
    }
    let fresh = CostStatus::default();
    let base = if accrual.month_rolled_over { &fresh } else { prev };
    let secs = accrual.accrued_seconds;
    let s = &mut accrual.status;
    let before = base.month_to_date_by_class;
    let now = s.month_to_date_by_class;
    let cost = ClassCost {
        reserved: now.reserved - before.reserved,
        spot: now.spot - before.spot,
        on_demand: now.on_demand - before.on_demand,
        external: now.external - before.external,
    };
    let u = usage;
    let tokens = [
        u.self_hosted_input_tokens_per_s * secs,
        u.self_hosted_output_tokens_per_s * secs,
        u.external_input_tokens_per_s * secs,
        u.external_output_tokens_per_s * secs,
    ];
    let requests = u.requests_per_s * secs;
    let self_requests = (u.requests_per_s - u.external_requests_per_s).max(0.0) * secs;
    let external_requests = requests - self_requests;
    let within = |latency: Option<f64>| latency.is_none_or(|l| l <= input.slo_latency_s);
    let requests_within_slo = if within(input.latency_s) { self_requests } else { 0.0 }
        + if within(input.external_latency_s) { external_requests } else { 0.0 };

    s.tokens = add_tokens(&base.tokens, usage, tokens, requests);
    s.counterfactual = add_counterfactuals(&base.counterfactual, usage, prices, input.replica_rps, cost, secs);
    s.cost_per_million_tokens = unit_costs(&s.month_to_date_by_class, &s.tokens);
    s.top_tenants = base.top_tenants.clone();
    s.other_tenants = base.other_tenants.clone();
    let tenants = match &input.shares {
        Some(shares) => tenants::attribute(s, shares, cost.reserved + cost.spot + cost.on_demand, cost.external),
        None => vec![],
    };
    Ok(FinopsTick { cost, tokens, requests, requests_within_slo, tenants })
}

fn add_tokens(prev: &TokenTotals, u: &Usage, t: [f64; 4], requests: f64) -> TokenTotals {
    let mut out = *prev;
    out.self_hosted_prompt += t[0];
    out.self_hosted_output += t[1];
    out.external_prompt += t[2];
    out.external_output += t[3];
    out.requests += requests;
    let replicas = f64::from(u.replicas.total());
    if replicas > 0.0 {
        let by = &mut out.self_hosted_by_class;
        let share = |c: Class| f64::from(u.replicas.get(c)) / replicas * (t[0] + t[1]);
        by.reserved += share(Class::Reserved);
        by.spot += share(Class::Spot);
        by.on_demand += share(Class::OnDemand);
    }
    out
}

fn add_counterfactuals(
    prev: &Counterfactuals,
    u: &Usage,
    p: &Prices,
    replica_rps: f64,
    cost: ClassCost,
    secs: f64,
) -> Counterfactuals {
    // All tokens at what an external token costs now (the providers' prices blended by the route).
    let (input, output) = p.external_blend(&u.provider_weights);
    let all_external = secs
        * ((u.self_hosted_input_tokens_per_s + u.external_input_tokens_per_s) * input
            + (u.self_hosted_output_tokens_per_s + u.external_output_tokens_per_s) * output);
    let on_demand_gpu_hour = p.gpu_hour[Class::OnDemand] * f64::from(u.gpus_per_replica);
    let held = f64::from(u.replicas.total()) * on_demand_gpu_hour * secs / 3600.0;
    let external_part = if replica_rps > 0.0 {
        u.external_requests_per_s / replica_rps * on_demand_gpu_hour * secs / 3600.0
    } else {
        cost.external
    };
    Counterfactuals {
        all_external_usd: prev.all_external_usd + all_external,
        on_demand_only_usd: prev.on_demand_only_usd + held + external_part,
    }
}

/// USD per million tokens from month-to-date spend and tokens; `None` where no token was served.
pub fn unit_costs(spend: &ClassCost, t: &TokenTotals) -> UnitCosts {
    let per_m = |usd: f64, tokens: f64| (tokens > 0.0).then(|| usd / tokens * 1e6);
    let ClassTokens { reserved, spot, on_demand } = t.self_hosted_by_class;
    UnitCosts {
        reserved: per_m(spend.reserved, reserved),
        spot: per_m(spend.spot, spot),
        on_demand: per_m(spend.on_demand, on_demand),
        self_hosted: per_m(spend.reserved + spend.spot + spend.on_demand, t.self_hosted_prompt + t.self_hosted_output),
        external: per_m(spend.external, t.external_prompt + t.external_output),
    }
}

/// GPUs idle beyond the policy's idle period: when the pool has been below the idle threshold for at
/// least `idle_seconds` (`idle_for_s`), the GPUs held beyond what the demand needs at the believed
/// replica capacity; otherwise 0.
pub fn idle_gpus(usage: &Usage, idle_for_s: Option<f64>, idle_seconds: f64, replica_rps: f64) -> u32 {
    if idle_for_s.is_none_or(|t| t < idle_seconds) {
        return 0;
    }
    let self_rps = (usage.requests_per_s - usage.external_requests_per_s).max(0.0);
    let needed = if replica_rps > 0.0 { (self_rps / replica_rps).ceil() } else { 0.0 };
    let needed = if needed.is_finite() { needed.min(f64::from(u32::MAX)) as u32 } else { 0 };
    usage.replicas.total().saturating_sub(needed).saturating_mul(usage.gpus_per_replica)
}

#[cfg(test)]
#[path = "finops_tests.rs"]
mod tests;
