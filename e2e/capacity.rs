//! A pool whose replicas serve a third of what its replicaCapacity claims (in-process operator,
//! learnFromMetrics on): the exporter's pods complete 2 rps while the pool believes 6. The operator
//! sees the queue and the latency its replicas build, lowers the capacity it believes, adds replicas
//! (or external share) until every serving pod is back within the SLO, and status shows the learned
//! figure with its evidence.

use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::{MODEL, Setup};
use crate::support::operator::Operator;

/// What a pod really completes per second.
const TRUE_RPS: f64 = 2.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overclaimed_capacity_is_learned_down_until_latency_is_within_the_slo() {
    let setup = Setup {
        replica_rps: 3.0 * TRUE_RPS,
        pod_capacity_rps: Some(TRUE_RPS),
        learn_from_metrics: true,
        class_bounds: [(0, 1), (0, 6), (0, 4)],
        ..Setup::default()
    };
    let env = Env::start("e2e-capacity", &setup, FaultConfig::default()).await;
    // 5 rps: one replica by the claim, three by the truth.
    env.set_demand(5.0);
    let mut op = Operator::in_process(&env, env.client.clone(), "capacity", None);
    let long = 4 * wait();

    let learned = env
        .wait_for("a learned capacity well below the claim in status", long, || async {
            let c = env.status().await?.capacity?;
            (c.source == "learned" && c.requests_per_second_per_replica <= 0.5 * setup.replica_rps).then_some(c)
        })
        .await;
    let evidence = learned.evidence.clone().unwrap_or_default();
    assert!(
        evidence.contains("exceeds the 20 s SLO") || evidence.contains("requests waiting"),
        "the evidence names what was seen: {learned:?}"
    );
    assert_eq!(learned.configured_requests_per_second, setup.replica_rps, "{learned:?}");

    // Enough capacity for what the pods really serve: every serving pod back within the SLO with no
    // queue, and staying so for ten checks in a row (a few ticks).
    let within = || async {
        let g = env.gateway();
        let pods = env.exporter.pods(&env.ns, MODEL);
        let serving: Vec<_> = g.ready_pods.iter().filter_map(|p| pods.get(p)).collect();
        let per_pod = g.demand_rps * g.self_share / g.ready_pods.len().max(1) as f64;
        !serving.is_empty()
            && per_pod <= TRUE_RPS * 1.02
            && serving.iter().all(|s| s.latency_s <= 20.0 && s.waiting < 1.0)
    };
    let streak = std::cell::Cell::new(0);
    env.wait_for("every serving pod within the SLO with no queue, ten checks in a row", long, || async {
        streak.set(if within().await { streak.get() + 1 } else { 0 });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        (streak.get() >= 10).then_some(())
    })
    .await;
    let s = env.status().await.expect("status");
    let c = s.capacity.expect("capacity in status");
    assert!(c.requests_per_second_per_replica <= 0.5 * setup.replica_rps, "still learned: {c:?}");
    let summary = s.last_decision.map(|d| d.summary).unwrap_or_default();
    assert!(summary.contains("rps/replica, learned"), "the summary names the learned capacity: {summary}");

    op.stop().await;
    env.stop().await;
}
