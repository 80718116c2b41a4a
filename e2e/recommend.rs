//! Recommend mode (in-process operator): the status shows what would be done; the cluster is untouched.

use std::time::Duration;

use hybridscale::api::conditions::ConditionStatus;
use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommend_mode_changes_nothing() {
    let setup = Setup { mode: "Recommend", ..Setup::default() };
    let env = Env::start("e2e-recommend", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
    let before_limits = env.nodepool_limits().await;
    let mut op = Operator::in_process(&env, env.client.clone(), "recommend", None);
    let status = env
        .wait_for("a recommendation of two spot replicas", wait(), || async {
            let s = env.status().await?;
            let d = s.last_decision.clone()?;
            (d.recommended_only && s.replicas.spot == 2).then_some(s)
        })
        .await;
    let rec = status.conditions.iter().find(|c| c.type_ == "RecommendOnly").expect("RecommendOnly condition");
    assert_eq!(rec.status, ConditionStatus::True);
    assert!(!status.last_decision.as_ref().map(|d| d.summary.clone()).unwrap_or_default().is_empty());
    // Several ticks later the cluster is still exactly as applied.
    for _ in 0..12 {
        assert_eq!(env.replicas().await, [1, 0, 0], "{}", env.describe().await);
        assert_eq!(env.weights().await, Some((100, 0)));
        assert_eq!(env.nodepool_limits().await, before_limits);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let events = env.events().await;
    assert!(
        events.iter().all(|(r, _)| !matches!(r.as_str(), "Scaled" | "TrafficShifted" | "NodePoolResized")),
        "no change events in Recommend mode: {events:?}"
    );
    op.stop().await;
    env.stop().await;
}
