//! A spike shorter than break-even (in-process operator): with an external API cheap enough that a
//! GPU must stay busy for about two minutes to pay for itself, a 15 s burst goes to the external API
//! and no GPU is started for it.

use std::time::{Duration, Instant};

use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_spike_is_absorbed_by_the_external_api() {
    // Spot break-even utilisation 0.5 (3.23 $/GPU-h vs 768 tokens at 0.47/0.94 $/M); on-demand never pays
    // off. A 60 s planning lead time (spec, not the sandbox's real delays) and the keep window make the
    // forecast's base level the minimum over the last ~2 minutes.
    let setup = Setup {
        external_usd_per_m: (0.47, 0.94),
        class_bounds: [(1, 1), (0, 4), (0, 4)],
        startup_seconds: 30,
        node_provision_seconds: 30,
        ..Setup::default()
    };
    let env = Env::start("e2e-spike", &setup, FaultConfig::default()).await;
    env.set_demand(3.0);
    let mut op = Operator::in_process(&env, env.client.clone(), "spike", None);
    env.wait_for("steady on the reserved replica", wait(), || async {
        let s = env.status().await?;
        (s.traffic.self_hosted_weight == 100 && s.ready.reserved == 1 && s.last_decision.is_some()).then_some(())
    })
    .await;
    // A real pool has hours of history; this one needs at least a few ticks of it.
    env.wait_for_history(20).await;

    env.set_demand(20.0);
    let spike_start = Instant::now();
    let ext = env
        .wait_for("the spike's overflow goes external", wait(), || async {
            let (_, ext) = env.weights().await?;
            (ext > 0).then_some(ext)
        })
        .await;
    assert!(ext >= 50, "most of a 20 rps spike over one 5 rps replica goes external, got {ext}%");
    // Hold the spike for 15 s in all, watching that no GPU replica or node is added.
    while spike_start.elapsed() < Duration::from_secs(15) {
        assert_eq!(env.replicas().await, [1, 0, 0], "no GPU started for a short spike\n{}", env.describe().await);
        if env.has_node_pools() {
            assert_eq!(env.nodes().await[1..], [0, 0], "no spot or on-demand node launched");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    env.set_demand(3.0);
    env.wait_for("all traffic back on the reserved replica", wait(), || async {
        (env.weights().await == Some((100, 0))).then_some(())
    })
    .await;
    // A few ticks more: the spike must not show up later as a delayed scale-up.
    for _ in 0..10 {
        assert_eq!(env.replicas().await, [1, 0, 0], "no late scale-up\n{}", env.describe().await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let status = env.status().await.expect("status");
    assert!(status.cost.month_to_date_by_class.external > 0.0, "the spike's external tokens are accounted: {status:?}");

    // Deleted while part of the traffic is external: the finalizer returns the route to the ready
    // self-hosted replica (what it served before hybridscale managed it) and lets the pool go.
    env.set_demand(20.0);
    env.wait_for("overflow external again", wait(), || async { (env.weights().await?.1 > 0).then_some(()) }).await;
    let pools: kube::Api<hybridscale::api::InferencePool> = kube::Api::namespaced(env.client.clone(), &env.ns);
    pools.delete("llm", &Default::default()).await.expect("delete pool");
    env.wait_for("pool gone through its finalizer", wait(), || async {
        pools.get_opt("llm").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(env.weights().await, Some((100, 0)), "route back on the ready reserved replica");
    op.stop().await;
    env.stop().await;
}
