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

mod interruptions;
mod pools;
mod workloads;

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

/// `hybridscale sandbox apiserver --simulate-cluster` runs the simulation next to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_command_runs_the_simulation() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["sandbox", "apiserver", "--simulate-cluster", "--time-scale", "0.005", "--gpus-per-node", "2"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start hybridscale sandbox apiserver");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    tokio::time::timeout(WAIT, tokio::io::BufReader::new(stdout).read_line(&mut first))
        .await
        .expect("kubeconfig path printed in time")
        .expect("read stdout");
    assert_eq!(first.trim(), kubeconfig.display().to_string());
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("kubeconfig");
    let client = kube::Client::try_from(config).expect("client");

    create_nodepool(&client, "gpu", "on-demand", 2, 2).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment =
        serde_json::from_value(gpu_workload("Deployment", "llm", 2, ("karpenter.sh/nodepool", "gpu"))).expect("d");
    deployments.create(&PostParams::default(), &d).await.expect("create deployment");
    eventually("2 ready replicas on one 2-GPU node", || async {
        let s = deployments.get("llm").await.ok()?.status?;
        let nodes = nodes_labelled(&client, "karpenter.sh/nodepool=gpu").await;
        (s.ready_replicas == Some(2) && nodes.len() == 1 && gpus(&nodes[0]) == 2).then_some(())
    })
    .await;
    child.kill().await.expect("stop the server");
}
