//! Load falls, idles and returns (real binary): scale-down waits for the stabilisation window, an idle
//! pool scales to zero with all traffic external, and replicas come back when load returns, which the
//! operator can only see through the gateway-level request-rate query (vLLM's counters see nothing
//! while every request goes external).

use std::time::{Duration, Instant};

use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_idles_to_zero_and_comes_back() {
    let setup = Setup { stabilization_seconds: 15, idle_seconds: 10, max_step_replicas: 1, ..Setup::default() };
    let env = Env::start("e2e-idle", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
    let mut op = Operator::binary(&env, "idle", None);
    env.wait_for("[1,2,0] ready and all traffic self-hosted", wait(), || async {
        (env.ready_pods().await == [1, 2, 0] && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;

    // Falls to what the reserved replica and one spot replica serve.
    env.set_demand(7.0);
    let fell = Instant::now();
    env.wait_for("spot scaled down to 1", wait(), || async { (env.replicas().await[1] == 1).then_some(()) }).await;
    let waited = fell.elapsed();
    assert!(
        waited >= Duration::from_secs(u64::from(setup.stabilization_seconds) - 1),
        "scale-down only after the {} s stabilisation window, happened after {waited:?}",
        setup.stabilization_seconds
    );
    assert_eq!(env.weights().await, Some((100, 0)), "7 rps fits the two remaining replicas");

    // Idle: everything released after the idle period, all traffic to the external API.
    env.set_demand(0.0);
    env.wait_for("scaled to zero with all traffic external", wait(), || async {
        (env.replicas().await == [0, 0, 0] && env.weights().await == Some((0, 100))).then_some(())
    })
    .await;
    if env.has_node_pools() {
        env.wait_for("GPU nodes handed back", wait(), || async { (env.nodes().await == [0, 0, 0]).then_some(()) })
            .await;
    }

    // Load returns: seen through the gateway query, replicas come back and traffic returns to them.
    env.set_demand(8.0);
    env.wait_for("replicas back and traffic self-hosted", wait(), || async {
        let ready: usize = env.ready_pods().await.iter().sum();
        (ready >= 2 && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;
    op.stop().await;
    env.stop().await;
}
