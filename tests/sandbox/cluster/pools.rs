//! Node pools of the simulated cluster: a Karpenter NodePool provisions within its GPU limit and
//! consolidates, a Cluster API MachineDeployment's scale creates and removes nodes for a StatefulSet.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodepool_provisions_within_its_gpu_limit_and_consolidates() {
    init_tracing();
    let (sandbox, cluster) =
        start_sandbox_with_cluster(SandboxOptions::default(), options(1)).await.expect("start sandbox");
    let client = sandbox.client().expect("client");
    create_nodepool(&client, "gpu", "on-demand", 2, 4).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(gpu_workload("Deployment", "llm", 3, ("karpenter.sh/nodepool", "gpu")))
        .expect("deployment");
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");

    // Three Ready pods on two 2-GPU nodes of the pool (4 GPUs: the limit).
    let status = eventually("deployment llm with 3 ready replicas", || async {
        let d = deployments.get("llm").await.ok()?;
        let s = d.status?;
        (s.ready_replicas == Some(3) && s.available_replicas == Some(3)).then_some(s)
    })
    .await;
    assert_eq!(status.replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));
    let pool_nodes = nodes_labelled(&client, "karpenter.sh/nodepool=gpu").await;
    assert_eq!(pool_nodes.len(), 2, "three 1-GPU pods pack onto two 2-GPU nodes");
    for n in &pool_nodes {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("karpenter.sh/capacity-type").map(String::as_str), Some("on-demand"));
        assert_eq!(labels.get("gpu").map(String::as_str), Some("l4"));
        assert_eq!(gpus(n), 2);
        assert!(
            n.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| t.key == "nvidia.com/gpu"))
        );
    }
    let node_names: BTreeSet<String> = pool_nodes.iter().filter_map(|n| n.metadata.name.clone()).collect();
    let pods = pods_of(&client, "llm").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(ready(p), "pod {:?} ready", p.metadata.name);
        assert!(node_of(p).is_some_and(|n| node_names.contains(&n)), "pod on a pool node");
        let owner = p.metadata.owner_references.as_ref().and_then(|o| o.first()).expect("owner reference");
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Deployment", "llm", Some(true)));
    }
    let nodepools: Api<DynamicObject> = Api::all_with(client.clone(), &nodepool_resource());
    eventually("nodepool status counts 4 GPUs", || async {
        let np = nodepools.get("gpu").await.ok()?;
        (np.data["status"]["resources"]["nvidia.com/gpu"] == "4").then_some(())
    })
    .await;

    // At rest nothing is rewritten: the controllers only write when something changed.
    let versions = || async {
        let d = deployments.get("llm").await.expect("get deployment");
        let np = nodepools.get("gpu").await.expect("get nodepool");
        let pods: Vec<Option<String>> =
            pods_of(&client, "llm").await.into_iter().map(|p| p.metadata.resource_version).collect();
        (d.metadata.resource_version, np.metadata.resource_version, pods)
    };
    let before = versions().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(versions().await, before, "no writes at rest");

    // Scaled to 5, the limit holds: 4 run, 1 stays Pending as Unschedulable, no third node.
    scale_deployment(&client, "llm", 5).await;
    eventually("4 ready pods and 1 unschedulable", || async {
        let pods = pods_of(&client, "llm").await;
        let n_ready = pods.iter().filter(|p| ready(p)).count();
        let n_unsched = pods.iter().filter(|p| unschedulable(p) && node_of(p).is_none()).count();
        (pods.len() == 5 && n_ready == 4 && n_unsched == 1).then_some(())
    })
    .await;
    // Give the provisioner several of its delays to (wrongly) launch a node beyond the limit.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(nodes_labelled(&client, "karpenter.sh/nodepool=gpu").await.len(), 2, "never beyond the GPU limit");
    let pending = pods_of(&client, "llm").await.into_iter().find(|p| node_of(p).is_none()).expect("a pending pod");
    let message = pending
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| c.message)
        .unwrap_or_default();
    assert!(message.starts_with("0/2 nodes are available: 2 Insufficient nvidia.com/gpu"), "{message}");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let pending_name = pending.metadata.name.clone();
    let events = events.list(&ListParams::default()).await.expect("list events").items;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling") && e.involved_object.name == pending_name),
        "a FailedScheduling event for the pending pod"
    );

    // Scaled down to 1, the emptied node is consolidated away.
    scale_deployment(&client, "llm", 1).await;
    eventually("one pool node left", || async {
        (nodes_labelled(&client, "karpenter.sh/nodepool=gpu").await.len() == 1).then_some(())
    })
    .await;
    eventually("deployment back to 1 ready replica", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        (s.replicas == Some(1) && s.ready_replicas == Some(1)).then_some(())
    })
    .await;

    // Lowering the limit to 0 removes the last node; the pod goes back to Pending.
    nodepools
        .patch("gpu", &PatchParams::default(), &Patch::Merge(json!({"spec": {"limits": {"nvidia.com/gpu": "0"}}})))
        .await
        .expect("lower the limit");
    eventually("no pool nodes and the pod unschedulable", || async {
        let nodes = nodes_labelled(&client, "karpenter.sh/nodepool=gpu").await;
        let pods = pods_of(&client, "llm").await;
        (nodes.is_empty() && pods.len() == 1 && unschedulable(&pods[0])).then_some(())
    })
    .await;
    eventually("deployment reports 0 ready", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        (s.replicas == Some(1) && s.ready_replicas.unwrap_or(0) == 0).then_some(())
    })
    .await;

    cluster.shutdown().await;
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_deployment_scale_creates_and_removes_nodes() {
    init_tracing();
    let (sandbox, cluster) =
        start_sandbox_with_cluster(SandboxOptions::default(), options(2)).await.expect("start sandbox");
    let client = sandbox.client().expect("client");
    let mds: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &md_resource());
    let md: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
        "metadata": {"name": "md-l4", "namespace": "default", "annotations": {
            "capacity.cluster-autoscaler.kubernetes.io/gpu-count": "2",
            "capacity.cluster-autoscaler.kubernetes.io/taints": "nvidia.com/gpu=true:NoSchedule"}},
        "spec": {"clusterName": "prod", "replicas": 0,
                 "selector": {"matchLabels": {"cluster.x-k8s.io/deployment-name": "md-l4"}},
                 "template": {"metadata": {"labels": {"node.cluster.x-k8s.io/pool": "l4"}}}}
    }))
    .expect("md object");
    mds.create(&PostParams::default(), &md).await.expect("create machinedeployment");

    // Scale through /scale, as the operator does.
    mds.patch_scale("md-l4", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .expect("scale machinedeployment");
    let selector = "cluster.x-k8s.io/deployment-name=md-l4";
    eventually("two MachineDeployment nodes", || async {
        (nodes_labelled(&client, selector).await.len() == 2).then_some(())
    })
    .await;
    let status = eventually("machinedeployment status 2/2", || async {
        let md = mds.get("md-l4").await.ok()?;
        let s = md.data["status"].clone();
        (s["replicas"] == 2 && s["readyReplicas"] == 2).then_some(s)
    })
    .await;
    assert_eq!(status["phase"], "Running");
    for n in nodes_labelled(&client, selector).await {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("cluster.x-k8s.io/cluster-name").map(String::as_str), Some("prod"));
        assert_eq!(labels.get("node.cluster.x-k8s.io/pool").map(String::as_str), Some("l4"));
        assert_eq!(gpus(&n), 2);
    }

    // A StatefulSet of two 1-GPU replicas on those nodes.
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let sts: StatefulSet =
        serde_json::from_value(gpu_workload("StatefulSet", "vllm", 2, ("cluster.x-k8s.io/deployment-name", "md-l4")))
            .expect("statefulset");
    sts_api.create(&PostParams::default(), &sts).await.expect("create statefulset");
    eventually("statefulset 2 ready", || async {
        let s = sts_api.get("vllm").await.ok()?.status?;
        (s.ready_replicas == Some(2) && s.replicas == 2).then_some(())
    })
    .await;
    let names: BTreeSet<String> = pods_of(&client, "vllm").await.into_iter().filter_map(|p| p.metadata.name).collect();
    assert_eq!(names, BTreeSet::from(["vllm-0".to_string(), "vllm-1".to_string()]));

    // The operator hands a node back: it cordons it, then scales the MachineDeployment down. That node
    // goes; its pods are evicted and come back on the other node (2 GPUs fit both).
    let mut names: Vec<String> =
        nodes_labelled(&client, selector).await.into_iter().filter_map(|n| n.metadata.name).collect();
    names.sort();
    let (keep, give_back) = (names[0].clone(), names[1].clone());
    Api::<Node>::all(client.clone())
        .patch(&give_back, &PatchParams::default(), &Patch::Merge(json!({"spec": {"unschedulable": true}})))
        .await
        .expect("cordon");
    mds.patch_scale("md-l4", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}})))
        .await
        .expect("scale machinedeployment down");
    eventually("only the kept node, statefulset 2 ready on it", || async {
        let nodes = nodes_labelled(&client, selector).await;
        let pods = pods_of(&client, "vllm").await;
        let all_there = pods.len() == 2 && pods.iter().all(|p| ready(p) && node_of(p).as_ref() == Some(&keep));
        (nodes.len() == 1 && nodes[0].metadata.name.as_ref() == Some(&keep) && all_there).then_some(())
    })
    .await;
    eventually("machinedeployment status 1/1", || async {
        let s = mds.get("md-l4").await.ok()?.data["status"].clone();
        (s["replicas"] == 1 && s["readyReplicas"] == 1).then_some(())
    })
    .await;
    let before = mds.get("md-l4").await.expect("get md").metadata.resource_version;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = mds.get("md-l4").await.expect("get md").metadata.resource_version;
    assert_eq!(after, before, "no status rewrites at rest (the CRD prunes fields the simulation writes)");

    // Deleting the Node by hand deletes its pods; the MachineDeployment replaces the node and the
    // StatefulSet's pods come back on the new one.
    let old_node =
        nodes_labelled(&client, selector).await.into_iter().next().and_then(|n| n.metadata.name).expect("node");
    Api::<Node>::all(client.clone()).delete(&old_node, &Default::default()).await.expect("delete node");
    eventually("a replacement node with both pods Ready on it", || async {
        let nodes = nodes_labelled(&client, selector).await;
        let new_node = nodes.first().and_then(|n| n.metadata.name.clone()).filter(|n| *n != old_node)?;
        let pods = pods_of(&client, "vllm").await;
        let moved = pods.len() == 2 && pods.iter().all(|p| ready(p) && node_of(p).as_ref() == Some(&new_node));
        (nodes.len() == 1 && moved).then_some(())
    })
    .await;

    cluster.shutdown().await;
    sandbox.stop().await;
}
