//! Spot interruption (in-process operator): on the notice the interrupted replica's share moves to the
//! external API at once, a replacement is started, and traffic returns once it is Ready. On the sandbox
//! the simulated cluster delivers the notice and ends the node; on a cluster (with the scenario's own
//! NodePools only) the harness puts the termination handler's taint on the node and deletes it later.

use std::time::{Duration, Instant};

use hybridscale::sandbox::faults::FaultConfig;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::support::env::{Env, cluster_options, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;
use crate::support::target::{Need, require};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_interruption_moves_traffic_and_replaces() {
    if !require(Need::OwnSpotNodes, "interruption") {
        return;
    }
    let setup = Setup::default();
    // A notice long enough to watch the operator react before the node is gone (on a cluster the
    // harness ends the node after the same notice).
    let notice = Duration::from_secs(8);
    let cluster = hybridscale::sandbox::cluster::ClusterOptions { interruption_notice: notice, ..cluster_options() };
    let env = Env::start_with("e2e-spot", &setup, FaultConfig::default(), cluster).await;
    env.set_demand(14.0);
    let mut op = Operator::in_process(&env, env.client.clone(), "spot", None);
    env.wait_for("[1,2,0] ready and all traffic self-hosted", wait(), || async {
        (env.ready_pods().await == [1, 2, 0] && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;

    let nodes: Api<Node> = Api::all(env.client.clone());
    let spot_pool = env.placement.node_pools.as_ref().expect("node pools")[1].clone();
    let spot_nodes =
        nodes.list(&ListParams::default().labels(&format!("karpenter.sh/nodepool={spot_pool}"))).await.expect("nodes");
    let victim = spot_nodes.items.first().and_then(|n| n.metadata.name.clone()).expect("a spot node");
    env.interrupt_node(&victim).await;
    let noticed = Instant::now();

    // At once: before the node is terminated, its replica's share goes external and a replacement starts.
    env.wait_for("external share while the interrupted node still exists", Duration::from_secs(8), || async {
        let still_there = nodes.get_opt(&victim).await.ok()?.is_some();
        let (_, ext) = env.weights().await?;
        (still_there && ext > 0).then_some(())
    })
    .await;
    env.wait_for("a replacement spot replica asked for", wait(), || async {
        (env.replicas().await[1] >= 3).then_some(())
    })
    .await;
    // After the node is gone, two spot replicas serve again and the traffic comes back.
    env.end_interrupted_node(&victim, noticed, notice).await;
    env.wait_for("interrupted node terminated", wait(), || async {
        nodes.get_opt(&victim).await.ok()?.is_none().then_some(())
    })
    .await;
    env.wait_for("traffic back on two ready spot replicas", wait(), || async {
        (env.ready_pods().await[1] >= 2 && env.weights().await == Some((100, 0))).then_some(())
    })
    .await;
    let st = env.status().await.expect("status");
    assert!(!st.planner_state.spot_interruptions.is_empty(), "the interruption is remembered in status: {st:?}");
    op.stop().await;
    env.stop().await;
}
