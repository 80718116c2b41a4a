//! `hybridscale report`: what inference cost over a month or any range, per namespace, pool, class and
//! tenant, with tokens, cost per million tokens and the savings against all-external and
//! on-demand-only, read back from the operator's own metrics in Prometheus.
//!
//! Spend per class and the counterfactuals come from the month-to-date gauges, the ledger's exact
//! figures (so a month's report adds up to `status.cost` to the cent); tenants, tokens and requests from
//! the counters. Both are summed from raw samples ([`series`]), not `increase()`, which extrapolates.
//! [`fetch`] does the I/O; [`build`] is pure; [`render`] and [`svg`] write it out.

pub mod fetch;
pub mod period;
pub mod render;
pub mod series;
pub mod svg;

use std::collections::BTreeMap;

use serde::Serialize;

pub use period::{Period, PeriodError};
use series::{Series, counters_by, gauges_by, latest_labels};

/// Classes of spend, in output order; `external` is the API.
pub const CLASSES: [&str; 4] = ["reserved", "spot", "on_demand", "external"];

/// Raw series of every metric the report reads, over the period plus a lookback.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// hybridscale_pool_month_to_date_usd{namespace,pool,class}
    pub month_to_date: Vec<Series>,
    /// hybridscale_pool_counterfactual_month_to_date_usd{namespace,pool,scenario}
    pub counterfactual: Vec<Series>,
    /// hybridscale_pool_tenant_cost_usd_total{namespace,pool,tenant}
    pub tenant_cost: Vec<Series>,
    /// hybridscale_pool_tokens_total{namespace,pool,route,kind}
    pub tokens: Vec<Series>,
    /// hybridscale_pool_requests_total{namespace,pool}
    pub requests: Vec<Series>,
    /// hybridscale_pool_info{namespace,pool,policy,model,team,cost_center}
    pub info: Vec<Series>,
}

/// One pool's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PoolRow {
    pub namespace: String,
    pub pool: String,
    pub team: String,
    pub cost_center: String,
    pub cost_usd: f64,
    /// Spend per class (reserved, spot, on_demand, external).
    pub cost_by_class_usd: BTreeMap<String, f64>,
    pub self_hosted_tokens: f64,
    pub external_tokens: f64,
    pub requests: f64,
    /// Whole spend per million tokens (both routes); None without tokens.
    pub usd_per_million_tokens: Option<f64>,
    pub self_hosted_usd_per_million_tokens: Option<f64>,
    pub external_usd_per_million_tokens: Option<f64>,
    /// What sending every request to the API would have cost.
    pub all_external_usd: f64,
    /// What on-demand GPUs alone (no reserved, no spot) would have cost.
    pub on_demand_only_usd: f64,
    pub savings_vs_all_external_usd: f64,
    pub savings_vs_on_demand_only_usd: f64,
}

/// One tenant of one pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TenantRow {
    pub namespace: String,
    pub pool: String,
    pub tenant: String,
    pub cost_usd: f64,
}

/// The whole report; money in USD rounded to the cent, tokens whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub period: String,
    pub from: String,
    pub to: String,
    pub pools: Vec<PoolRow>,
    pub tenants: Vec<TenantRow>,
    pub cost_by_namespace_usd: BTreeMap<String, f64>,
    pub cost_by_class_usd: BTreeMap<String, f64>,
    /// Sums over every pool (per-million figures recomputed from the sums).
    pub total: PoolRow,
}

/// Round to the cent.
pub fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn per_million(usd: f64, tokens: f64) -> Option<f64> {
    (tokens > 0.0).then(|| (usd / tokens * 1e6 * 10_000.0).round() / 10_000.0)
}

/// Token, request and counterfactual figures of one pool, before rounding.
fn finish(row: &mut PoolRow) {
    let external = row.cost_by_class_usd.get("external").copied().unwrap_or(0.0);
    let self_hosted = row.cost_usd - external;
    row.usd_per_million_tokens = per_million(row.cost_usd, row.self_hosted_tokens + row.external_tokens);
    row.self_hosted_usd_per_million_tokens = per_million(self_hosted, row.self_hosted_tokens);
    row.external_usd_per_million_tokens = per_million(external, row.external_tokens);
    row.savings_vs_all_external_usd = cents(row.all_external_usd - row.cost_usd);
    row.savings_vs_on_demand_only_usd = cents(row.on_demand_only_usd - row.cost_usd);
    row.cost_usd = cents(row.cost_usd);
    row.all_external_usd = cents(row.all_external_usd);
    row.on_demand_only_usd = cents(row.on_demand_only_usd);
    row.self_hosted_tokens = row.self_hosted_tokens.round();
    row.external_tokens = row.external_tokens.round();
    row.requests = row.requests.round();
    row.cost_by_class_usd.values_mut().for_each(|v| *v = cents(*v));
}

/// Build the report from raw series (pure).
pub fn build(period: &Period, inputs: &Inputs) -> Result<Report, PeriodError> {
    let segs = period.segments()?;
    let (from, to) = (period.from, period.to);
    let mut pools: BTreeMap<(String, String), PoolRow> = BTreeMap::new();
    let row = |k: &[String]| -> (String, String) { (k[0].clone(), k[1].clone()) };
    let ensure = |pools: &mut BTreeMap<(String, String), PoolRow>, key: (String, String)| {
        pools.entry(key.clone()).or_insert_with(|| PoolRow { namespace: key.0, pool: key.1, ..Default::default() });
    };
    for (k, v) in gauges_by(&inputs.month_to_date, &["namespace", "pool", "class"], &segs) {
        let key = row(&k);
        ensure(&mut pools, key.clone());
        let p = pools.get_mut(&key).expect("inserted");
        p.cost_usd += v;
        *p.cost_by_class_usd.entry(k[2].clone()).or_insert(0.0) += v;
    }
    for (k, v) in gauges_by(&inputs.counterfactual, &["namespace", "pool", "scenario"], &segs) {
        let key = row(&k);
        ensure(&mut pools, key.clone());
        let p = pools.get_mut(&key).expect("inserted");
        match k[2].as_str() {
            "all_external" => p.all_external_usd += v,
            "on_demand_only" => p.on_demand_only_usd += v,
            _ => {}
        }
    }
    for (k, v) in counters_by(&inputs.tokens, &["namespace", "pool", "route"], from, to) {
        let key = row(&k);
        ensure(&mut pools, key.clone());
        let p = pools.get_mut(&key).expect("inserted");
        if k[2] == "external" { p.external_tokens += v } else { p.self_hosted_tokens += v }
    }
    for (k, v) in counters_by(&inputs.requests, &["namespace", "pool"], from, to) {
        let key = row(&k);
        ensure(&mut pools, key.clone());
        pools.get_mut(&key).expect("inserted").requests += v;
    }
    for (k, labels) in latest_labels(&inputs.info, &["namespace", "pool"]) {
        if let Some(p) = pools.get_mut(&row(&k)) {
            p.team = labels.get("team").cloned().unwrap_or_default();
            p.cost_center = labels.get("cost_center").cloned().unwrap_or_default();
        }
    }
    let mut report = Report { period: period.name.clone(), ..Default::default() };
    (report.from, report.to) = period.bounds();
    let mut total = PoolRow { namespace: "*".into(), pool: "*".into(), ..Default::default() };
    for p in pools.values() {
        total.cost_usd += p.cost_usd;
        total.all_external_usd += p.all_external_usd;
        total.on_demand_only_usd += p.on_demand_only_usd;
        total.self_hosted_tokens += p.self_hosted_tokens;
        total.external_tokens += p.external_tokens;
        total.requests += p.requests;
        *report.cost_by_namespace_usd.entry(p.namespace.clone()).or_insert(0.0) += p.cost_usd;
        for (c, v) in &p.cost_by_class_usd {
            *total.cost_by_class_usd.entry(c.clone()).or_insert(0.0) += v;
        }
    }
    report.cost_by_class_usd = total.cost_by_class_usd.iter().map(|(c, v)| (c.clone(), cents(*v))).collect();
    report.cost_by_namespace_usd.values_mut().for_each(|v| *v = cents(*v));
    finish(&mut total);
    report.total = total;
    report.pools = pools.into_values().map(|mut p| (finish(&mut p), p).1).collect();
    report.tenants = counters_by(&inputs.tenant_cost, &["namespace", "pool", "tenant"], from, to)
        .into_iter()
        .map(|(k, v)| TenantRow {
            namespace: k[0].clone(),
            pool: k[1].clone(),
            tenant: k[2].clone(),
            cost_usd: cents(v),
        })
        .collect();
    report.tenants.sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd).then_with(|| a.tenant.cmp(&b.tenant)));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
        Series {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            points: points.iter().map(|&(t, v)| (t as f64, v)).collect(),
        }
    }

    #[test]
    fn a_month_adds_up_classes_tokens_and_savings() {
        let p = Period::month("2026-11").unwrap();
        let (a, b) = (p.from, p.to);
        let cls = |c: &str, v: f64| {
            series(&[("namespace", "n"), ("pool", "p"), ("class", c)], &[(a - 60, 99.0), (a + 60, 1.0), (b - 60, v)])
        };
        let inputs = Inputs {
            month_to_date: vec![cls("reserved", 100.004), cls("spot", 50.0), cls("external", 25.0)],
            counterfactual: vec![
                series(&[("namespace", "n"), ("pool", "p"), ("scenario", "all_external")], &[(b - 60, 400.0)]),
                series(&[("namespace", "n"), ("pool", "p"), ("scenario", "on_demand_only")], &[(b - 60, 300.0)]),
            ],
            tokens: vec![
                series(
                    &[("namespace", "n"), ("pool", "p"), ("route", "self_hosted"), ("kind", "output")],
                    &[(a - 1, 10.0), (b - 1, 1_000_010.0)],
                ),
                series(
                    &[("namespace", "n"), ("pool", "p"), ("route", "external"), ("kind", "prompt")],
                    &[(a + 1, 500_000.0)],
                ),
            ],
            tenant_cost: vec![series(
                &[("namespace", "n"), ("pool", "p"), ("tenant", "t1")],
                &[(a + 1, 2.0), (b + 1, 9.0)],
            )],
            info: vec![series(&[("namespace", "n"), ("pool", "p"), ("team", "search")], &[(a, 1.0)])],
            ..Default::default()
        };
        let r = build(&p, &inputs).unwrap();
        let row = &r.pools[0];
        assert_eq!(row.cost_usd, 175.0);
        assert_eq!(row.cost_by_class_usd["reserved"], 100.0);
        assert_eq!((row.self_hosted_tokens, row.external_tokens), (1_000_000.0, 500_000.0));
        assert_eq!(row.self_hosted_usd_per_million_tokens, Some(150.004));
        assert_eq!(row.external_usd_per_million_tokens, Some(50.0));
        assert_eq!((row.savings_vs_all_external_usd, row.savings_vs_on_demand_only_usd), (225.0, 125.0));
        assert_eq!(row.team, "search");
        assert_eq!(r.tenants[0].cost_usd, 2.0, "the sample after the month is not counted");
        assert_eq!(r.total.cost_usd, 175.0);
        assert_eq!(r.cost_by_namespace_usd["n"], 175.0);
    }
}
