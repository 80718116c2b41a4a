//! Load ramps (real binary): the overflow goes to the external backend while new spot replicas start,
//! spot scales up with its NodePool limit, and the weights return to self-hosted as replicas become
//! Ready. Every applied change leaves an Event with the planner's reason.

use hybridscale::api::conditions::ConditionStatus;
use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, WAIT};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_ramp_scales_spot_and_overflows_meanwhile() {
    let setup = Setup::default();
    let Some(env) = Env::start("e2e-ramp", &setup, FaultConfig::default()).await else { return };
    env.set_demand(2.0);
    let mut op = Operator::binary(&env, "ramp", None);

    // Steady state on the one reserved replica: everything self-hosted, status written.
    env.wait_for("first status with all traffic self-hosted", WAIT, || async {
        let s = env.status().await?;
        (s.traffic.self_hosted_weight == 100 && s.ready.reserved == 1).then_some(())
    })
    .await;
    assert_eq!(env.replicas().await, [1, 0, 0], "{}", op.log());

    // Ramp to 14 rps: the reserved replica serves 5; the rest needs two spot replicas (5 rps each).
    env.set_demand(14.0);
    let ext = env
        .wait_for("overflow to the external backend", WAIT, || async {
            let (_, ext) = env.weights().await?;
            (ext > 0).then_some(ext)
        })
        .await;
    let (ready_then, replicas_then) = (env.ready_pods().await, env.replicas().await);
    assert!(
        ready_then[1] < 2,
        "the overflow must go external while spot replicas start, not after: ext={ext} ready={ready_then:?} \
         replicas={replicas_then:?}"
    );

    env.wait_for("two spot replicas asked for", WAIT, || async { (env.replicas().await == [1, 2, 0]).then_some(()) })
        .await;
    env.wait_for("spot NodePool limit raised to 2 GPUs", WAIT, || async {
        (env.nodepool_limits().await[1].as_deref() == Some("2")).then_some(())
    })
    .await;
    env.wait_for("weights back to self-hosted once the replicas are Ready", WAIT, || async {
        let ready = env.ready_pods().await;
        (env.weights().await == Some((100, 0)) && ready == [1, 2, 0]).then_some(())
    })
    .await;
    let status = env
        .wait_for("status shows 3 ready replicas and Ready=True", WAIT, || async {
            let s = env.status().await?;
            let ready = s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
            (s.ready_replicas == 3 && ready).then_some(s)
        })
        .await;
    assert_eq!(status.replicas.spot, 2);

    let events = env.events().await;
    assert!(
        events.iter().any(|(r, n)| r == "Scaled" && n.contains("llm-spot")),
        "a Scaled event for the spot Deployment: {events:?}"
    );
    assert!(events.iter().any(|(r, _)| r == "TrafficShifted"), "a TrafficShifted event: {events:?}");
    assert!(events.iter().any(|(r, _)| r == "NodePoolResized"), "a NodePoolResized event: {events:?}");
    assert!(events.iter().all(|(_, n)| !n.is_empty()), "every event carries a note: {events:?}");

    op.stop().await;
    env.stop().await;
}
