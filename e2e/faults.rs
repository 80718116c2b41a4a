//! 10% injected API errors and cut watches (in-process operator on the faulty server): the operator
//! converges to the same state as without faults, never applies a change twice (no repeated Scaled
//! event for the same step, replicas never go backwards during a ramp) and loses none (node pool
//! limits and route weights agree with the replicas at the end).

use std::time::Duration;

use hybridscale::sandbox::faults::{Fault, FaultConfig, FaultRule, WatchCut};

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;
use crate::support::target::{Need, require};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_api_errors_and_cut_watches() {
    let faults = FaultConfig {
        seed: 42,
        rules: vec![FaultRule { verb: None, resource: None, fault: Fault::Internal, rate: 0.1 }],
        watch_cut: Some(WatchCut { max_events: 20, max_age: Duration::from_secs(4) }),
        ..FaultConfig::default()
    };
    if !require(Need::FaultInjection, "faults") {
        return;
    }
    let setup = Setup::default();
    let env = Env::start("e2e-faults", &setup, faults).await;
    env.set_demand(14.0);
    // The operator's own client, as `hybridscale controller` builds it: transient errors retried per request.
    let uri = env.sandbox().url.parse().expect("sandbox url");
    let client = hybridscale::controller::retry::client_with_retries(kube::Config::new(uri)).expect("client");
    let mut op = Operator::in_process(&env, client, "faults", None);

    // Replicas only ever grow during the ramp: a lost or repeated action would show as a step back.
    let seen = std::cell::Cell::new([0i32; 3]);
    env.wait_for("[1,2,0] ready, route self-hosted, limits matching, under faults", wait(), || {
        let env = &env;
        let seen = &seen;
        async move {
            let now = env.replicas().await;
            let mut max = seen.get();
            for i in 0..3 {
                if now[i] >= 0 {
                    assert!(now[i] >= max[i], "replicas went backwards {max:?} -> {now:?}");
                    max[i] = now[i];
                }
            }
            seen.set(max);
            let limits = env.nodepool_limits().await;
            let done = env.ready_pods().await == [1, 2, 0]
                && env.weights().await == Some((100, 0))
                && limits[1].as_deref() == Some("2");
            done.then_some(())
        }
    })
    .await;
    // Stays converged (no oscillation from retried writes) for a few ticks.
    for _ in 0..10 {
        let r = env.replicas().await;
        if r.iter().all(|x| *x >= 0) {
            assert_eq!(r, [1, 2, 0], "{}", env.describe().await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let events = env.events().await;
    let scaled: Vec<&String> = events.iter().filter(|(r, _)| r == "Scaled").map(|(_, n)| n).collect();
    for w in scaled.windows(2) {
        assert_ne!(w[0], w[1], "the same scale step applied twice: {scaled:?}");
    }
    op.stop().await;
    env.stop().await;
}
