//! kubectl on workloads and bundled kinds: create, scale and watch a Deployment with server-side apply
//! conflicts, the bundled CRDs served with scale, `kubectl drain` within a PodDisruptionBudget, and the
//! two InferencePool CRDs side by side.

use super::*;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: llama-70b-spot
  namespace: inference
spec:
  replicas: 1
  selector:
    matchLabels: {app: llama}
  template:
    metadata:
      labels: {app: llama}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.6.3
";

#[tokio::test]
async fn deployment_scale_watch_and_server_side_apply() {
    let env = start().await;
    // kubectl's generator sends the Namespace as protobuf.
    let created = env.ok(&["create", "namespace", "inference"]).await;
    assert!(created.contains("namespace/inference created"), "{created}");
    let out = apply_stdin(&env, DEPLOYMENT).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A bounded `kubectl get --watch`: it prints the table, then a row per change.
    let mut watch = env
        .command(&["get", "deployments", "-n", "inference", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl watch spawns");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let scaled = env.ok(&["scale", "deployment/llama-70b-spot", "-n", "inference", "--replicas=3"]).await;
    assert!(scaled.contains("scaled"), "{scaled}");
    let replicas =
        env.ok(&["get", "deploy", "llama-70b-spot", "-n", "inference", "-o", "jsonpath={.spec.replicas}"]).await;
    assert_eq!(replicas, "3");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    watch.start_kill().expect("stop the watch");
    let watched = watch.wait_with_output().await.expect("watch output");
    let text = String::from_utf8_lossy(&watched.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("NAME")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("llama-70b-spot") && l.contains("0/1")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("llama-70b-spot") && l.contains("0/3")), "{text}");

    // Server-side apply: the replicas kubectl scale set through /scale belong to another manager.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("deploy.yaml");
    std::fs::write(&file, DEPLOYMENT).expect("write");
    let path = file.to_str().expect("utf-8");
    let conflict = env.run(&["apply", "--server-side", "-f", path]).await;
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(!conflict.status.success(), "expected a conflict");
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\"")
            && stderr.contains(".spec.replicas"),
        "{stderr}"
    );
    env.ok(&["apply", "--server-side", "--force-conflicts", "-f", path]).await;
    let replicas =
        env.ok(&["get", "deploy", "llama-70b-spot", "-n", "inference", "-o", "jsonpath={.spec.replicas}"]).await;
    assert_eq!(replicas, "1");
}

#[tokio::test]
async fn bundled_crds_are_served_with_scale() {
    let env = start().await;
    let crds = env.ok(&["get", "crds"]).await;
    for name in [
        "httproutes.gateway.networking.k8s.io",
        "nodepools.karpenter.sh",
        "machinedeployments.cluster.x-k8s.io",
        "inferencepools.inference.networking.k8s.io",
    ] {
        assert!(crds.contains(name), "{crds}");
    }
    let md = "apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata:
  name: gpu
  namespace: default
spec:
  clusterName: c1
  replicas: 1
";
    let out = apply_stdin(&env, md).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.ok(&["scale", "machinedeployment/gpu", "--replicas=4"]).await;
    let got = env.ok(&["get", "md", "gpu"]).await;
    let header: Vec<&str> = got.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "CLUSTER", "DESIRED", "REPLICAS", "READY", "PHASE", "AGE"], "{got}");
    assert!(got.lines().nth(1).is_some_and(|l| l.starts_with("gpu") && l.contains("c1") && l.contains(" 4 ")), "{got}");
}

const NODE_AND_PODS: &str = "apiVersion: v1
kind: Node
metadata:
  name: gpu-1
status:
  conditions:
  - {type: Ready, status: \"True\"}
---
apiVersion: v1
kind: Pod
metadata: {name: p1, namespace: default, labels: {app: llm}}
spec:
  nodeName: gpu-1
  containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Pod
metadata: {name: p2, namespace: default, labels: {app: llm}}
spec:
  nodeName: gpu-1
  containers: [{name: c, image: i}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: llm, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: llm}}
";

/// `kubectl drain` cordons the node and evicts through the Eviction API; the PodDisruptionBudget lets one
/// of the two ready pods go and keeps the other (429, which kubectl retries until its timeout).
#[tokio::test]
async fn drain_cordons_and_evicts_within_the_disruption_budget() {
    let env = start().await;
    let out = apply_stdin(&env, NODE_AND_PODS).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for p in ["p1", "p2"] {
        let status = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
        env.ok(&["patch", "pod", p, "--subresource=status", "--type=merge", "-p", status]).await;
    }
    let drain = env.run(&["drain", "gpu-1", "--force", "--timeout=4s"]).await;
    let stderr = String::from_utf8_lossy(&drain.stderr);
    assert!(!drain.status.success(), "the budget keeps one pod: {stderr}");
    assert!(stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."), "{stderr}");
    let nodes = env.ok(&["get", "nodes"]).await;
    assert!(nodes.contains("Ready,SchedulingDisabled"), "{nodes}");
    let pods = env.ok(&["get", "pods", "-o", "name"]).await;
    assert_eq!(pods.lines().count(), 1, "one pod evicted, one kept: {pods}");
}

/// The Gateway API Inference Extension's InferencePool (bundled in the sandbox) and ours share the plural
/// `inferencepools` (GIE issue #1372): `kubectl get inferencepools` resolves to one of the two groups. Our
/// short name, full name and category always list ours, and only ours.
#[tokio::test]
async fn both_inferencepool_crds_coexist_and_ours_are_listed_by_short_name_full_name_and_category() {
    let env = start().await;
    install_crds(&env).await;
    env.ok(&["apply", "-k", "config/samples/"]).await;
    let gie = "apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: gie-pool-only
  namespace: inference
spec:
  selector:
    matchLabels: {app: vllm}
  targetPorts:
  - number: 8000
  endpointPickerRef:
    name: vllm-epp
    port: {number: 9002}
";
    let out = apply_stdin(&env, gie).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for args in [
        ["get", "hpool", "-n", "inference"],
        ["get", "inferencepools.hybridscale.dev", "-n", "inference"],
        ["get", "hybridscale", "-n", "inference"],
    ] {
        let got = env.ok(&args).await;
        assert!(got.contains("llama-70b"), "kubectl {}: {got}", args.join(" "));
        assert!(!got.contains("gie-pool-only"), "kubectl {}: {got}", args.join(" "));
    }
    let theirs = env.ok(&["get", "inferencepools.inference.networking.k8s.io", "-n", "inference"]).await;
    assert!(theirs.contains("gie-pool-only") && !theirs.contains("llama-70b"), "{theirs}");
    // `kubectl explain` by short name is ours, whatever `inferencepools` resolves to.
    let explain = env.ok(&["explain", "hpool.spec.route.selfHostedBackend"]).await;
    assert!(explain.contains("GROUP:      hybridscale.dev"), "{explain}");
}
