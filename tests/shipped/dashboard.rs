//! The Grafana dashboard (config/grafana/hybridscale.json): every panel's PromQL, run against a real
//! Prometheus backfilled (promtool) with two hours of series for every metric of the issue-17 metrics
//! contract, must parse and answer something; the panels cover what the issue asks; the dashboard is
//! templated by datasource, namespace and pool; the chart ships it as a sidecar ConfigMap on request.

#[path = "../common/dashboard.rs"]
mod grafana;

use crate::{backfill, support};

use std::collections::BTreeSet;

use backfill::{Backfilled, OpenMetrics, SeriesData};
use serde_json::Value;
use support::chart::render;

const START: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z
const END: i64 = START + 2 * 3600;

/// Every metric the dashboard may read (the contract's names, plus the operator's existing ones).
const CONTRACT: [&str; 30] = [
    "hybridscale_pool_cost_usd_total",
    "hybridscale_pool_tenant_cost_usd_total",
    "hybridscale_pool_provider_cost_usd_total",
    "hybridscale_pool_provider_month_to_date_usd",
    "hybridscale_pool_provider_weight_percent",
    "hybridscale_pool_tokens_total",
    "hybridscale_pool_requests_total",
    "hybridscale_pool_requests_within_slo_total",
    "hybridscale_pool_idle_gpu_seconds_total",
    "hybridscale_pool_spot_interruptions_total",
    "hybridscale_reconciles_total",
    "hybridscale_reconcile_errors_total",
    "hybridscale_pool_info",
    "hybridscale_build_info",
    "hybridscale_pool_usd_per_hour",
    "hybridscale_pool_month_to_date_usd",
    "hybridscale_pool_projected_month_usd",
    "hybridscale_pool_counterfactual_month_to_date_usd",
    "hybridscale_pool_cost_per_million_tokens_usd",
    "hybridscale_policy_budget_usd",
    "hybridscale_policy_month_to_date_usd",
    "hybridscale_policy_projected_month_usd",
    "hybridscale_pool_replicas",
    "hybridscale_pool_ready_replicas",
    "hybridscale_pool_external_share_percent",
    "hybridscale_pool_replica_capacity_requests_per_second",
    "hybridscale_pool_slo_latency_seconds",
    "hybridscale_pool_slo_target_attainment_ratio",
    "hybridscale_pool_idle_gpus",
    "hybridscale_pool_signals_stale",
];

fn points(f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (0..=(END - START) / 30).map(|i| (START + i * 30, f(i))).collect()
}

type Family<'a> = Vec<SeriesData<'a>>;

/// Series for every contract metric: two pools in two namespaces, every class, route and scenario, and a
/// standby replica's duplicate of one pool's info.
fn contract_series() -> String {
    let pools = [("team-a", "chat"), ("team-b", "code")];
    let per_pool = |extra: &[(&'static str, &'static str)], f: &dyn Fn(i64) -> f64| -> Family<'static> {
        pools
            .iter()
            .map(|&(ns, p)| ([vec![("namespace", ns), ("pool", p)], extra.to_vec()].concat(), points(f)))
            .collect()
    };
    let each = |key: &'static str, values: &[&'static str], f: &dyn Fn(i64) -> f64| -> Family<'static> {
        values.iter().flat_map(|v| per_pool(&[(key, v)], f)).collect()
    };
    let classes = ["reserved", "spot", "on_demand", "external"];
    let mut om = OpenMetrics::default();
    let providers = ["gemini", "claude"];
    let counters: [(&str, Family); 8] = [
        ("hybridscale_pool_cost_usd", each("class", &classes, &|i| i as f64 * 0.05)),
        ("hybridscale_pool_tenant_cost_usd", each("tenant", &["alice", "bob", "other"], &|i| i as f64 * 0.02)),
        ("hybridscale_pool_provider_cost_usd", each("provider", &providers, &|i| i as f64 * 0.01)),
        (
            "hybridscale_pool_tokens",
            [("self_hosted", "prompt"), ("self_hosted", "output"), ("external", "prompt"), ("external", "output")]
                .iter()
                .flat_map(|&(r, k)| per_pool(&[("route", r), ("kind", k)], &|i| i as f64 * 900.0))
                .collect(),
        ),
        ("hybridscale_pool_requests", per_pool(&[], &|i| i as f64 * 30.0)),
        ("hybridscale_pool_requests_within_slo", per_pool(&[], &|i| i as f64 * 29.9)),
        ("hybridscale_pool_idle_gpu_seconds", per_pool(&[], &|i| i as f64 * 15.0)),
        ("hybridscale_pool_spot_interruptions", per_pool(&[], &|i| (i / 100) as f64)),
    ];
    for (name, fam) in &counters {
        om.family(name, "counter", fam);
    }
    om.family("hybridscale_reconciles", "counter", &[(vec![("kind", "InferencePool")], points(|i| i as f64 * 2.0))]);
    om.family(
        "hybridscale_reconcile_errors",
        "counter",
        &[(vec![("kind", "InferencePool"), ("error", "signals")], points(|i| (i / 50) as f64))],
    );
    let gauges: [(&str, Family); 16] = [
        ("hybridscale_pool_provider_month_to_date_usd", each("provider", &providers, &|i| i as f64 * 0.01)),
        ("hybridscale_pool_provider_weight_percent", each("provider", &providers, &|_| 6.0)),
        ("hybridscale_pool_usd_per_hour", per_pool(&[], &|_| 42.5)),
        ("hybridscale_pool_month_to_date_usd", each("class", &classes, &|i| 10.0 + i as f64 * 0.05)),
        ("hybridscale_pool_projected_month_usd", per_pool(&[], &|_| 30_000.0)),
        (
            "hybridscale_pool_counterfactual_month_to_date_usd",
            each("scenario", &["all_external", "on_demand_only"], &|i| 100.0 + i as f64),
        ),
        ("hybridscale_pool_cost_per_million_tokens_usd", each("class", &classes, &|_| 0.8)),
        ("hybridscale_pool_replicas", each("class", &classes[..3], &|_| 2.0)),
        ("hybridscale_pool_ready_replicas", each("class", &classes[..3], &|_| 1.0)),
        ("hybridscale_pool_external_share_percent", per_pool(&[], &|_| 12.0)),
        ("hybridscale_pool_replica_capacity_requests_per_second", per_pool(&[], &|_| 5.0)),
        ("hybridscale_pool_slo_latency_seconds", per_pool(&[], &|_| 2.0)),
        ("hybridscale_pool_slo_target_attainment_ratio", per_pool(&[], &|_| 0.999)),
        ("hybridscale_pool_idle_gpus", per_pool(&[], &|_| 1.0)),
        ("hybridscale_pool_signals_stale", per_pool(&[], &|_| 0.0)),
        (
            "hybridscale_pool_info",
            vec![
                (
                    vec![
                        ("namespace", "team-a"),
                        ("pool", "chat"),
                        ("policy", "pol"),
                        ("model", "m"),
                        ("team", "a"),
                        ("cost_center", ""),
                    ],
                    points(|_| 1.0),
                ),
                (
                    vec![
                        ("namespace", "team-b"),
                        ("pool", "code"),
                        ("policy", "pol"),
                        ("model", "m"),
                        ("team", "b"),
                        ("cost_center", "cc"),
                    ],
                    points(|_| 1.0),
                ),
                // A standby replica's copy: joins on pool_info must not fail on duplicates.
                (
                    vec![
                        ("namespace", "team-a"),
                        ("pool", "chat"),
                        ("policy", "pol"),
                        ("model", "m"),
                        ("team", "a"),
                        ("cost_center", ""),
                        ("instance", "standby"),
                    ],
                    points(|_| 1.0),
                ),
            ],
        ),
    ];
    for (name, fam) in &gauges {
        om.family(name, "gauge", fam);
    }
    let policies: Family = ["team-a", "team-b"]
        .iter()
        .map(|&ns| (vec![("namespace", ns), ("policy", "pol")], points(|i| 500.0 + i as f64)))
        .collect();
    om.family("hybridscale_policy_month_to_date_usd", "gauge", &policies);
    om.family("hybridscale_policy_projected_month_usd", "gauge", &policies);
    let budgets: Family = ["month", "hour"]
        .iter()
        .map(|&p| (vec![("namespace", "team-a"), ("policy", "pol"), ("period", p)], points(|_| 20_000.0)))
        .collect();
    om.family("hybridscale_policy_budget_usd", "gauge", &budgets);
    om.family("hybridscale_build_info", "gauge", &[(vec![("version", "0.1.0"), ("commit", "abc")], points(|_| 1.0))]);
    om.family("hybridscale_leader", "gauge", &[(vec![], points(|_| 1.0))]);
    om.finish()
}

#[tokio::test]
async fn every_panel_query_parses_and_answers_against_the_contract_series() {
    let prom = Backfilled::start(&contract_series()).await;
    let dash = grafana::load();
    let mut all = grafana::queries(&dash, "1h");
    all.extend(grafana::variable_queries(&dash));
    assert!(all.len() >= 25, "{} queries", all.len());
    let failures = grafana::failures(&prom.url, &all, END as f64).await;
    assert!(failures.is_empty(), "dashboard queries that fail or answer nothing:\n{}", failures.join("\n"));
    // The check is not vacuous: a misspelt metric answers nothing and bad syntax is refused.
    let broken = [
        ("typo".to_string(), "sum(hybridscale_pool_cost_usd)".to_string()),
        ("syntax".to_string(), "sum(rate(x[5m])".to_string()),
    ];
    assert_eq!(grafana::failures(&prom.url, &broken, END as f64).await.len(), 2);
}

#[test]
fn panels_cover_the_issue_and_read_only_contract_metrics() {
    let dash = grafana::load();
    let titles: Vec<String> =
        grafana::panels(&dash).iter().filter_map(|p| p["title"].as_str().map(str::to_lowercase)).collect();
    for wanted in [
        "spend rate by class",
        "month-to-date vs budget",
        "cost per 1m tokens",
        "savings",
        "external share",
        "replicas desired and ready",
        "slo attainment",
        "idle gpu-hours",
        "spot interruptions",
        "top tenants",
    ] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no panel for {wanted:?}: {titles:?}");
    }
    let known: BTreeSet<&str> = CONTRACT.iter().copied().chain(["hybridscale_leader"]).collect();
    let metric = regex::Regex::new(r"hybridscale_[a-z_]+").expect("regex");
    for (title, q) in grafana::queries(&dash, "1h").iter().chain(grafana::variable_queries(&dash).iter()) {
        for m in metric.find_iter(q) {
            assert!(known.contains(m.as_str()), "{title}: {} is not a contract metric", m.as_str());
        }
    }
    for p in grafana::panels(&dash).iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}: templated datasource", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            let expr = t["expr"].as_str().unwrap_or_default();
            let pool_ok =
                !expr.contains("hybridscale_pool_") || (expr.contains("$namespace") && expr.contains("$pool"));
            let policy_ok = !expr.contains("hybridscale_policy_") || expr.contains("$namespace");
            assert!(pool_ok && policy_ok, "{}: scoped by $namespace (and $pool for pools): {expr}", p["title"]);
        }
    }
    let vars: Vec<&str> =
        dash["templating"]["list"].as_array().expect("templating").iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(vars, ["datasource", "namespace", "pool"]);
    let ids: BTreeSet<i64> = grafana::panels(&dash).iter().filter_map(|p| p["id"].as_i64()).collect();
    assert_eq!(ids.len(), grafana::panels(&dash).len(), "panel ids are unique");
}

#[test]
fn chart_ships_the_same_dashboard_for_the_grafana_sidecar() {
    let copy = grafana::root().join("charts/hybridscale/files/hybridscale.json");
    let copy = std::fs::read_to_string(copy).expect("chart copy");
    assert!(
        copy == std::fs::read_to_string(grafana::root().join(grafana::DASHBOARD)).expect("dashboard"),
        "charts/hybridscale/files/hybridscale.json differs: run `make chart-files`"
    );
    assert!(
        !render(&[]).iter().any(|d| d["kind"] == "ConfigMap"),
        "the dashboard ConfigMap is optional, off by default"
    );
    let docs = render(&["--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring"]);
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").expect("dashboard ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    let embedded: Value = serde_json::from_str(cm["data"]["hybridscale.json"].as_str().expect("data")).expect("JSON");
    assert_eq!(embedded, grafana::load());
}
