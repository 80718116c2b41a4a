//! The simulated cluster against the real sandbox API server, driven through kube::Client over HTTP:
//! Deployments on NodePool nodes within the GPU limit, consolidation, MachineDeployment scaling with a
//! StatefulSet on its nodes, and a spot interruption. Delays are hundreds of milliseconds; every wait is
//! a poll with a deadline, never a timing assertion.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use hybridscale::sandbox::SandboxOptions;
use hybridscale::sandbox::cluster::{ClusterOptions, interrupt_node, start_sandbox_with_cluster};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn options(seed: u64) -> ClusterOptions {
    ClusterOptions {
        seed,
        startup_delay: Duration::from_millis(200),
        provisioning_delay: Duration::from_millis(300),
        consolidation_delay: Duration::from_millis(400),
        interruption_notice: Duration::from_millis(600),
        resync: Duration::from_millis(500),
        ..ClusterOptions::default()
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 50 ms until it returns Some, or panics with `what` after [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn nodepool_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"), "nodepools")
}

fn md_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "MachineDeployment"),
        "machinedeployments",
    )
}

async fn create_nodepool(client: &kube::Client, name: &str, capacity_type: &str, gpus_per_node: u32, limit: u32) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &nodepool_resource());
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": name, "annotations": {"sandbox.hybridscale.dev/gpus-per-node": gpus_per_node.to_string()}},
        "spec": {
            "limits": {"nvidia.com/gpu": limit.to_string()},
            "template": {
                "metadata": {"labels": {"gpu": "l4"}},
                "spec": {
                    "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity_type]}],
                    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
                }
            }
        }
    }))
    .expect("nodepool object");
    api.create(&PostParams::default(), &obj).await.expect("create nodepool");
}

/// A 1-GPU model-server Deployment pinned to a node pool by required node affinity.
fn gpu_workload(kind: &str, name: &str, replicas: i32, pool_label: (&str, &str)) -> Value {
    let mut obj = json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": pool_label.0, "operator": "In", "values": [pool_label.1]}]}
                    ]}}},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.0",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}}}]
                }
            }
        }
    });
    if kind == "StatefulSet" {
        obj["spec"]["serviceName"] = json!(name);
        obj["spec"]["podManagementPolicy"] = json!("Parallel");
    }
    obj
}

async fn pods_of(client: &kube::Client, app: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.list(&ListParams::default().labels(&format!("app={app}"))).await.expect("list pods").items
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn unschedulable(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        cs.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    })
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

async fn nodes_labelled(client: &kube::Client, selector: &str) -> Vec<Node> {
    let api: Api<Node> = Api::all(client.clone());
    api.list(&ListParams::default().labels(selector)).await.expect("list nodes").items
}

fn gpus(node: &Node) -> u64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("nvidia.com/gpu"))
        .and_then(|q| q.0.parse().ok())
        .unwrap_or(0)
}

async fn scale_deployment(client: &kube::Client, name: &str, replicas: i32) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch_scale(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .expect("scale deployment");
}

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

    // Down to one node: its pods are evicted and come back on the remaining node (2 GPUs fit both).
    mds.patch_scale("md-l4", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}})))
        .await
        .expect("scale machinedeployment down");
    eventually("one node, statefulset 2 ready on it", || async {
        let nodes = nodes_labelled(&client, selector).await;
        let pods = pods_of(&client, "vllm").await;
        let on_node = nodes.first().and_then(|n| n.metadata.name.clone());
        let all_there = pods.len() == 2 && pods.iter().all(|p| ready(p) && node_of(p) == on_node);
        (nodes.len() == 1 && all_there).then_some(())
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
