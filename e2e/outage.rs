//! Prometheus killed (real binary): the operator holds the last safe plan whatever the load does and
//! says so with SignalsStale; restarted on the same port and TSDB, it resumes and follows the load.

use std::time::Duration;

use hybridscale::api::conditions::ConditionStatus;
use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_outage_holds_then_resumes() {
    let setup = Setup { stabilization_seconds: 5, ..Setup::default() };
    let mut env = Env::start("e2e-outage", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
    let mut op = Operator::binary(&env, "outage", None);
    env.wait_for("[1,2,0] ready and all traffic self-hosted", wait(), || async {
        (env.ready_pods().await == [1, 2, 0] && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;

    env.prom.kill();
    // Load drops to nothing meanwhile: without signals this must not scale anything down.
    env.set_demand(0.0);
    env.wait_for("SignalsStale=True", wait(), || async {
        (env.condition("SignalsStale").await?.status == ConditionStatus::True).then_some(())
    })
    .await;
    for _ in 0..20 {
        assert_eq!(env.replicas().await, [1, 2, 0], "holds while blind\n{}", env.describe().await);
        let (sh, _) = env.weights().await.expect("route");
        assert!(sh > 0, "never removes the self-hosted path while blind");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Back, with more load than before: the operator sees it and scales up.
    env.set_demand(24.0);
    env.prom.restart().await.unwrap_or_else(|e| panic!("{e}"));
    env.wait_for("SignalsStale=False after the restart", wait(), || async {
        (env.condition("SignalsStale").await?.status == ConditionStatus::False).then_some(())
    })
    .await;
    env.wait_for("scaled up for 24 rps", wait(), || async { (env.replicas().await == [1, 4, 0]).then_some(()) }).await;
    op.stop().await;
    env.stop().await;
}
