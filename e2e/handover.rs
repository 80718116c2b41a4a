//! Restart and leader hand-over (real binaries with --leader-elect): the leader is killed mid-scale,
//! the standby takes over and finishes the scale; then the new leader is stopped (SIGTERM, releasing
//! the lease) during a scale-down's stabilisation window and a fresh instance takes over. The cost
//! ledger (status.cost) and the stabilisation state (status.plannerState) carry over each time.

use k8s_openapi::api::coordination::v1::Lease as LeaseObject;
use kube::api::Api;

use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::{Lease, Operator};

async fn holder(env: &Env) -> Option<String> {
    let api: Api<LeaseObject> = Api::namespaced(env.client.clone(), &env.ns);
    api.get_opt("hybridscale-leader").await.ok()??.spec?.holder_identity
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_and_stabilisation_survive_restart_and_handover() {
    let setup = Setup { stabilization_seconds: 30, ..Setup::default() };
    let env = Env::start("e2e-handover", &setup, FaultConfig::default()).await;
    env.set_demand(14.0);
    let lease = |id: &str| Lease { identity: id.to_string(), seconds: 4 };
    let mut ops = vec![
        ("a", Operator::binary(&env, "a", Some(&lease("a")))),
        ("b", Operator::binary(&env, "b", Some(&lease("b")))),
    ];

    // Mid-scale: spot replicas asked for, not all Ready yet. Kill the leader without a goodbye.
    env.wait_for("spot scale-up asked for", wait(), || async { (env.replicas().await[1] == 2).then_some(()) }).await;
    let first = holder(&env).await.expect("a leader holds the lease");
    let before = env.status().await.expect("status").cost;
    ops.iter_mut().find(|(id, _)| *id == first).expect("leader instance").1.crash().await;

    env.wait_for("the standby takes the lease", wait(), || async { holder(&env).await.filter(|h| *h != first) }).await;
    env.wait_for("[1,2,0] ready, traffic self-hosted after the take-over", wait(), || async {
        (env.ready_pods().await == [1, 2, 0] && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;
    let after = env
        .wait_for("the new leader accrues from where the old one stopped", wait(), || async {
            let c = env.status().await?.cost;
            (ts(c.accrued_until.as_deref()?) > ts(before.accrued_until.as_deref()?)).then_some(c)
        })
        .await;
    assert!(after.month_to_date_usd >= before.month_to_date_usd, "spend never goes back: {before:?} -> {after:?}");
    assert_eq!(after.month, before.month);

    // Load falls: spot is no longer needed, but only after the 30 s window. Hand over inside it.
    env.set_demand(4.0);
    env.wait_for("the scale-down is recorded but held", wait(), || async {
        let s = env.status().await?;
        (s.planner_state.recommendations.iter().any(|r| r.replicas.spot == 0) && env.replicas().await[1] == 2)
            .then_some(())
    })
    .await;
    let second = holder(&env).await.expect("leader");
    let held = env.status().await.expect("status");
    let handover_at = jiff::Timestamp::now();
    ops.iter_mut().find(|(id, _)| *id == second).expect("leader instance").1.stop().await;
    ops.push(("c", Operator::binary(&env, "c", Some(&lease("c")))));
    env.wait_for("the fresh instance leads", wait(), || async { holder(&env).await.filter(|h| h == "c") }).await;
    let kept = env
        .wait_for("a status written by the new leader", wait(), || async {
            let s = env.status().await?;
            let t = ts(&s.last_decision.as_ref()?.time);
            (t > handover_at).then_some(s)
        })
        .await;
    assert!(
        kept.planner_state.recommendations.iter().any(|r| ts(&r.time) < handover_at && r.replicas.spot == 2),
        "the stabilisation window from before the hand-over is still there: before={:?} after={:?}",
        held.planner_state.recommendations,
        kept.planner_state.recommendations
    );
    assert!(kept.cost.month_to_date_usd >= held.cost.month_to_date_usd);
    // The window still counts from before the hand-over, and the scale-down does happen.
    env.wait_for("spot released after the window", wait(), || async { (env.replicas().await[1] == 0).then_some(()) })
        .await;
    for (_, op) in &mut ops {
        op.stop().await;
    }
    env.stop().await;
}
