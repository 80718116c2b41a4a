//! The Grafana dashboard filled by a running operator (real binary): the e2e Prometheus scrapes the
//! operator's /metrics while load overflows to spot and the external API, and every panel query of
//! config/grafana/hybridscale.json (and every template variable) must answer something. The queries are
//! the ones tests/shipped/dashboard.rs checks against backfilled series (tests/common/dashboard.rs). Then
//! the shipped alert rules, loaded by the same Prometheus, evaluate without error, and `hybridscale report`
//! for the month matches the ledger in status to the cent.

#[path = "../tests/common/dashboard.rs"]
mod queries;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hybridscale::api::InferencePool;
use hybridscale::cli::report;
use hybridscale::report::cents;
use hybridscale::sandbox::faults::FaultConfig;
use kube::api::{Api, Patch, PatchParams};

use crate::support::env::{Env, wait};
use crate::support::objects::{MODEL, Setup};
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_panels_fill_from_the_running_operator() {
    // A monthly budget far above the spend (action Alert) so the budget panel has its series.
    let setup = Setup { monthly_budget_usd: Some(1_000_000.0), ..Setup::default() };
    let env = Env::start("e2e-dashboard", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
    // Two tenants on a gateway-level series, and the pool attributing its spend by it (the top-tenants
    // panel), with a team and cost centre on the pool (the by-team panel).
    for (tenant, rps) in [("alice", 9.0), ("bob", 5.0)] {
        let labels = [("namespace", env.ns.as_str()), ("tenant", tenant)];
        env.exporter.set_gauge("gateway_tenant_requests_per_second", &labels, rps, None).expect("tenant gauge");
    }
    let query = format!("sum by (tenant) (gateway_tenant_requests_per_second{{namespace=\"{}\"}})", env.ns);
    let patch = serde_json::json!({
        "metadata": {"labels": {"team": "search", "cost-center": "cc-42"}},
        "spec": {"metrics": {"attribution": {"label": "tenant", "query": query}}},
    });
    let pools: Api<InferencePool> = Api::namespaced(env.client.clone(), &env.ns);
    pools.patch(MODEL, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("patch the pool");
    let mut op = Operator::binary(&env, "dashboard", None);
    let addr = env.wait_for("the operator's metrics address", wait(), || async { op.metrics_addr() }).await;
    env.prom.scrape_operator(&addr);
    env.wait_for("spot replicas Ready after the overflow", wait(), || async {
        (env.ready_pods().await[1] >= 1).then_some(())
    })
    .await;
    let dash = queries::load();
    // The dashboard's range is the scenario so far: counters' increase() needs two samples in it.
    let mut all = queries::queries(&dash, "10m");
    all.extend(queries::variable_queries(&dash));
    let url = env.prom.url();
    let deadline = Instant::now() + wait();
    loop {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        let failures = queries::failures(&url, &all, now).await;
        if failures.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard queries still failing or empty after {:?}:\n{}\n{}",
            wait(),
            failures.join("\n"),
            op.log().lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // The shipped alert rules (loaded by the e2e Prometheus) evaluate without error on the real series.
    loop {
        let unhealthy = rule_problems(&url).await;
        if unhealthy.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline + wait(), "alert rules not evaluating cleanly: {}", unhealthy.join("; "));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // `hybridscale report` for the month adds up to the ledger in status, to the cent: between two ticks
    // (every 5 s; Prometheus scrapes every second) the last scraped month-to-date equals the status.
    loop {
        let cost = env.status().await.map(|s| s.cost).unwrap_or_default();
        let month = cost.month.clone().unwrap_or_default();
        let argv = ["hybridscale", "report", "--prometheus-url", &url, "--month", &month, "--namespace", &env.ns];
        let args = match hybridscale::cli::parse(argv.into_iter().chain(["--chunk-hours", "744"])) {
            Ok(hybridscale::cli::Parsed::Command(cli)) => match cli.command {
                hybridscale::cli::Command::Report(a) => a,
                other => panic!("parsed as {other:?}"),
            },
            _ => panic!("report flags for month {month:?} do not parse"),
        };
        let report = report::build(&args, &indicatif::ProgressBar::hidden()).await.expect("report");
        let pool = report.pools.iter().find(|p| p.pool == MODEL).map(|p| p.cost_usd);
        let after = env.status().await.map(|s| s.cost.month_to_date_usd).unwrap_or_default();
        if cost.month_to_date_usd > 0.0 && after == cost.month_to_date_usd && pool == Some(cents(after)) {
            break;
        }
        let seen = format!("report {pool:?}, status {} then {after}", cost.month_to_date_usd);
        assert!(Instant::now() < deadline + wait(), "the report never matched the status to the cent: {seen}");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    op.stop().await;
    env.stop().await;
}

/// Every rule of the e2e Prometheus that has not evaluated cleanly yet: "name: health lastError".
async fn rule_problems(url: &str) -> Vec<String> {
    let text = match reqwest::get(format!("{url}/api/v1/rules")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return vec![format!("GET /api/v1/rules: {e}")],
    };
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let groups = body["data"]["groups"].as_array().cloned().unwrap_or_default();
    if groups.is_empty() {
        return vec![format!("no rule groups loaded: {text}")];
    }
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["health"] != "ok")
        .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
        .collect()
}
