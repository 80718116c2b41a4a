//! The Grafana dashboard filled by a running operator (real binary): the e2e Prometheus scrapes the
//! operator's /metrics while load overflows to spot and the external API, and every panel query of
//! config/grafana/hybridscale.json (and every template variable) must answer something. The queries are
//! the ones tests/dashboard.rs checks against backfilled series (tests/common/dashboard.rs).

#[path = "../tests/common/dashboard.rs"]
mod queries;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_panels_fill_from_the_running_operator() {
    // A monthly budget far above the spend (action Alert) so the budget panel has its series.
    let setup = Setup { monthly_budget_usd: Some(1_000_000.0), ..Setup::default() };
    let env = Env::start("e2e-dashboard", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
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
    op.stop().await;
    env.stop().await;
}
