//! What interrupts the simulated cluster: a spot interruption (requested, and seeded random ones that hit
//! spot nodes only), and injected API faults with watch cuts that the loops converge through.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_interruption_taints_then_removes_the_node_and_the_pod_moves() {
    init_tracing();
    let (sandbox, cluster) =
        start_sandbox_with_cluster(SandboxOptions::default(), options(3)).await.expect("start sandbox");
    let client = sandbox.client().expect("client");
    create_nodepool(&client, "spot", "spot", 1, 4).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment =
        serde_json::from_value(gpu_workload("Deployment", "llm", 2, ("karpenter.sh/capacity-type", "spot")))
            .expect("d");
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");
    eventually("2 ready replicas", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        (s.ready_replicas == Some(2)).then_some(())
    })
    .await;
    let victim_pod = pods_of(&client, "llm").await.into_iter().next().expect("a pod");
    let victim = node_of(&victim_pod).expect("pod is bound");

    interrupt_node(&client, &victim).await.expect("interrupt");
    let nodes: Api<Node> = Api::all(client.clone());
    let noticed = eventually("interruption taints on the node", || async {
        let n = nodes.get(&victim).await.ok()?;
        let taints = n.spec.as_ref()?.taints.clone()?;
        let keys: BTreeSet<String> = taints.into_iter().map(|t| t.key).collect();
        (keys.contains("aws-node-termination-handler/spot-itn") && keys.contains("karpenter.sh/disrupted")).then_some(n)
    })
    .await;
    assert_eq!(noticed.spec.as_ref().and_then(|s| s.unschedulable), Some(true), "cordoned");
    eventually("SpotInterruption condition", || async {
        let n = nodes.get(&victim).await.ok()?;
        let cs = n.status?.conditions?;
        let spot = cs.iter().any(|c| c.type_ == "SpotInterruption" && c.status == "True");
        let ready = cs.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        (spot && ready).then_some(())
    })
    .await;

    // After the notice the node is gone and the Deployment runs 2 Ready pods again, elsewhere.
    eventually("victim node deleted", || async { nodes.get_opt(&victim).await.ok()?.is_none().then_some(()) }).await;
    let pods = eventually("2 ready pods off the victim", || async {
        let pods = pods_of(&client, "llm").await;
        let ok = pods.len() == 2 && pods.iter().all(|p| ready(p) && node_of(p).is_some_and(|n| n != victim));
        ok.then_some(pods)
    })
    .await;
    assert!(pods.iter().all(|p| p.metadata.name != victim_pod.metadata.name), "the victim's pod was replaced");
    assert!(nodes_labelled(&client, "karpenter.sh/nodepool=spot").await.len() <= 4);

    // A template change rolls the pods (25% surge: one extra pod, on a node launched for it).
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"model-revision": "2"}}}}});
    deployments.patch("llm", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("change the template");
    eventually("rolled out: 2 updated, ready pods of the new template", || async {
        let d = deployments.get("llm").await.ok()?;
        let s = d.status?;
        let pods = pods_of(&client, "llm").await;
        let all_new = pods.len() == 2
            && pods.iter().all(|p| {
                ready(p)
                    && p.metadata.annotations.as_ref().and_then(|a| a.get("model-revision")).is_some_and(|v| v == "2")
            });
        let done = s.updated_replicas == Some(2) && s.ready_replicas == Some(2) && s.replicas == Some(2);
        (all_new && done && s.observed_generation == d.metadata.generation).then_some(())
    })
    .await;

    cluster.shutdown().await;
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_through_injected_faults_and_watch_cuts() {
    use hybridscale::sandbox::faults::{FaultConfig, WatchCut};
    init_tracing();
    let rules = ["create:pods:500:0.35", "patch:pods:409:0.35", "delete:pods:500:0.35", "create:nodes:500:0.35"]
        .into_iter()
        .chain(["patch:nodes:409:0.35", "patch:nodepools:500:0.35", "patch:deployments:500:0.35", "list:pods:500:0.2"])
        .map(|r| r.parse().expect("fault rule"))
        .collect();
    let faults = FaultConfig {
        seed: 9,
        rules,
        watch_cut: Some(WatchCut { max_events: 20, max_age: Duration::from_secs(2) }),
        ..FaultConfig::default()
    };
    let (sandbox, cluster) =
        start_sandbox_with_cluster(SandboxOptions { faults, ..SandboxOptions::default() }, options(4))
            .await
            .expect("start sandbox");
    let client = sandbox.client().expect("client");
    create_nodepool(&client, "gpu", "on-demand", 1, 3).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment =
        serde_json::from_value(gpu_workload("Deployment", "llm", 3, ("karpenter.sh/nodepool", "gpu"))).expect("d");
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");
    eventually("3 ready replicas on 3 nodes despite faults", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.ok()?.items;
        (s.ready_replicas == Some(3) && nodes.len() == 3).then_some(())
    })
    .await;
    eventually("scaled to 1", || async {
        let patch = Patch::Merge(json!({"spec": {"replicas": 1}}));
        deployments.patch_scale("llm", &PatchParams::default(), &patch).await.ok().map(|_| ())
    })
    .await;
    eventually("one node left and 1 ready replica", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await.ok()?.items;
        (s.ready_replicas == Some(1) && s.replicas == Some(1) && nodes.len() == 1).then_some(())
    })
    .await;
    cluster.shutdown().await;
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_random_spot_interruptions_hit_spot_nodes_only() {
    init_tracing();
    // About five interruptions per spot node per second: the first comes within a few passes.
    let opts = ClusterOptions { spot_interruptions_per_node_hour: 5.0 * 3600.0, ..options(5) };
    let (sandbox, cluster) = start_sandbox_with_cluster(SandboxOptions::default(), opts).await.expect("start");
    let client = sandbox.client().expect("client");
    create_nodepool(&client, "spot", "spot", 1, 1).await;
    create_nodepool(&client, "od", "on-demand", 1, 1).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    for (name, pool) in [("a", "spot"), ("b", "od")] {
        let d: Deployment =
            serde_json::from_value(gpu_workload("Deployment", name, 1, ("karpenter.sh/nodepool", pool))).expect("d");
        deployments.create(&PostParams::default(), &d).await.expect("create deployment");
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let od_node = eventually("an on-demand node", || async {
        nodes_labelled(&client, "karpenter.sh/nodepool=od").await.into_iter().next().and_then(|n| n.metadata.name)
    })
    .await;
    eventually("a spot node noticed without being asked", || async {
        let spot = nodes_labelled(&client, "karpenter.sh/nodepool=spot").await;
        spot.iter()
            .any(|n| {
                n.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("sandbox.hybridscale.dev/terminate-at"))
            })
            .then_some(())
    })
    .await;
    let od = nodes.get(&od_node).await.expect("the on-demand node is still there");
    assert!(
        od.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_none_or(|t| t.iter().all(|t| t.key != "aws-node-termination-handler/spot-itn"))
    );
    cluster.shutdown().await;
    sandbox.stop().await;
}
