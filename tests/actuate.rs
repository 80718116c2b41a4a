//! Actuation against the sandbox API server over HTTP with the real kube::Client: observe → decide →
//! execute makes the cluster match a plan, a second pass writes nothing, SSA keeps other managers' fields,
//! a PodDisruptionBudget's 429 is "retry later" (never forced), a drained idle node is handed back, and
//! the pool's finalizer leaves the route where the policy allows.

use hybridscale::actuate::decide::RECLAIM_ANNOTATION;
use hybridscale::actuate::{
    Command, Desired, Executor, FIELD_MANAGER, InterruptionSignals, NodePoolTarget, ObjectRef, Outcome, RouteTarget,
    RouteWeights, WorkloadTarget, decide,
};
use hybridscale::api::inference_pool::{BackendRef, NodePoolKind};
use hybridscale::planner::Class;
use hybridscale::sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const NS: &str = "inference";

/// The executor's own client, without kube's retry layer (see `Executor::new`).
fn executor(sb: &Sandbox) -> Executor {
    Executor::from_config(kube::Config::new(sb.url.parse().expect("sandbox url"))).expect("executor")
}

async fn start() -> (Sandbox, Client, tempfile::TempDir) {
    hybridscale::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        kubeconfig_path: Some(dir.path().join("kubeconfig")),
        ..SandboxOptions::default()
    };
    let sb = Sandbox::start(opts).await.expect("sandbox starts");
    let client = sb.client().expect("client");
    (sb, client, dir)
}

fn dynamic(client: &Client, api_version: &str, kind: &str, plural: &str, ns: Option<&str>) -> Api<DynamicObject> {
    let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

async fn create<K>(api: &Api<K>, v: Value)
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object");
    api.create(&PostParams::default(), &obj).await.expect("create");
}

async fn seed(client: &Client) {
    create(&Api::<Namespace>::all(client.clone()), json!({"metadata": {"name": NS}})).await;
    let deploys = Api::<Deployment>::namespaced(client.clone(), NS);
    for (name, replicas) in [("llama-reserved", 2), ("llama-spot", 1)] {
        create(
            &deploys,
            json!({"metadata": {"name": name}, "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6"}]}}}}),
        )
        .await;
    }
    // The NodePool and the route as Git would have them, applied by Argo CD's field manager.
    let argo = PatchParams::apply("argocd-controller");
    let nodepools = dynamic(client, "karpenter.sh/v1", "NodePool", "nodepools", None);
    let np = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "h100-spot"},
        "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                                       "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]}},
                 "limits": {"cpu": "1000", "nvidia.com/gpu": "8"}}});
    nodepools.patch("h100-spot", &argo, &Patch::Apply(&np)).await.expect("apply NodePool");
    let routes = dynamic(client, "gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", Some(NS));
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "llama", "namespace": NS},
        "spec": {"parentRefs": [{"name": "inference-gateway"}],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/health"}}],
                            "backendRefs": [{"name": "health", "port": 80}]},
                           {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                            "backendRefs": [{"name": "llama-vllm", "port": 8000, "weight": 100},
                                            {"name": "egress", "port": 443, "weight": 0}]}]}});
    routes.patch("llama", &argo, &Patch::Apply(&route)).await.expect("apply HTTPRoute");
    // Two spot GPU nodes: n1 serves the spot replica, n2 only runs a log shipper (protected by a PDB)
    // and a DaemonSet pod.
    let nodes = Api::<Node>::all(client.clone());
    for name in ["n1", "n2"] {
        create(
            &nodes,
            json!({"metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "h100-spot"}},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}, "capacity": {"nvidia.com/gpu": "8"}}}),
        )
        .await;
    }
    let pods = Api::<Pod>::namespaced(client.clone(), NS);
    create(
        &pods,
        json!({"metadata": {"name": "llama-spot-0", "labels": {"app": "llama-spot"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "vllm", "image": "vllm",
                 "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}),
    )
    .await;
    create(
        &pods,
        json!({"metadata": {"name": "shipper", "labels": {"app": "shipper"}},
        "spec": {"nodeName": "n2", "containers": [{"name": "s", "image": "fluent-bit"}]}}),
    )
    .await;
    // Ready, so the PodDisruptionBudget protects it (an unready pod may always be evicted).
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("shipper", &PatchParams::default(), &Patch::Merge(&ready)).await.expect("pod status");
    create(&pods, json!({"metadata": {"name": "dcgm-n2", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "dcgm", "uid": "00000000-0000-0000-0000-000000000001"}]},
        "spec": {"nodeName": "n2", "containers": [{"name": "d", "image": "dcgm"}]}}))
    .await;
    create(&Api::<PodDisruptionBudget>::namespaced(client.clone(), NS),
        json!({"metadata": {"name": "shipper"}, "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "shipper"}}}}))
    .await;
}

fn backend(name: &str) -> BackendRef {
    BackendRef { group: String::new(), kind: "Service".into(), name: name.into(), port: None }
}

fn desired(spot: u32, spot_gpus: u32, own: u32) -> Desired {
    let w = |class, name: &str, replicas| WorkloadTarget {
        class,
        target: ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(NS.into()),
            name: name.into(),
        },
        replicas,
    };
    Desired {
        workloads: vec![w(Class::Reserved, "llama-reserved", 2), w(Class::Spot, "llama-spot", spot)],
        node_pools: vec![NodePoolTarget {
            class: Class::Spot,
            kind: NodePoolKind::NodePool,
            name: "h100-spot".into(),
            namespace: None,
            gpus: spot_gpus,
            gpus_per_node: 8,
        }],
        route: RouteTarget {
            namespace: NS.into(),
            name: "llama".into(),
            rule_index: 1,
            self_hosted: backend("llama-vllm"),
            external: vec![("gpt-4o".into(), backend("egress"))],
            weights: RouteWeights { self_hosted: own, external: vec![100 - own] },
        },
        reclaim_idle_nodes: true,
    }
}

async fn tick(exec: &Executor, want: &Desired) -> Vec<(Command, Outcome)> {
    let observed = exec.observe(want).await.expect("observe");
    let decision = decide(want, &observed, &InterruptionSignals::default());
    assert!(decision.problems.is_empty(), "{:?}", decision.problems);
    let report = exec.run_all(&decision.commands).await;
    assert!(report.failed.is_none(), "{:?}", report.failed);
    report.done
}

fn managers(obj: &DynamicObject) -> Vec<String> {
    obj.managed_fields().iter().filter_map(|m| m.manager.clone()).collect()
}

#[tokio::test]
async fn plan_is_applied_once_and_keeps_other_managers_fields() {
    let (sb, client, _dir) = start().await;
    seed(&client).await;
    let exec = executor(&sb);

    // The plan keeps the spot replica, needs only n1's GPUs (so idle n2 is reclaimed), and sends 30% of
    // the traffic to the external API.
    let want = desired(1, 8, 70);
    let done = tick(&exec, &want).await;
    let outcomes: Vec<(String, Outcome)> = done.iter().map(|(c, o)| (c.describe(), o.clone())).collect();
    assert_eq!(
        outcomes,
        vec![
            ("HTTPRoute inference/llama: self-hosted/external weights 100/0 -> 70/30".to_string(), Outcome::Applied),
            ("cordon idle GPU node n2".to_string(), Outcome::Applied),
            (
                "evict inference/shipper from n2".to_string(),
                Outcome::RetryLater("eviction of inference/shipper refused by a PodDisruptionBudget".into())
            ),
        ]
    );
    let routes = dynamic(&client, "gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", Some(NS));
    let route = routes.get("llama").await.unwrap();
    let spec = &route.data["spec"];
    assert_eq!(spec["rules"][1]["backendRefs"][0]["weight"], 70);
    assert_eq!(spec["rules"][1]["backendRefs"][1]["weight"], 30);
    assert_eq!(spec["rules"][0]["backendRefs"][0]["name"], "health", "other rules kept");
    assert_eq!(spec["parentRefs"][0]["name"], "inference-gateway", "fields outside rules kept");
    assert!(managers(&route).contains(&FIELD_MANAGER.to_string()), "{:?}", managers(&route));

    let n2 = Api::<Node>::all(client.clone()).get("n2").await.unwrap();
    assert_eq!(n2.spec.as_ref().and_then(|s| s.unschedulable), Some(true));
    assert!(n2.annotations().contains_key(RECLAIM_ANNOTATION));

    // Same plan again: nothing to write except the eviction the PDB still refuses.
    let again = tick(&exec, &want).await;
    assert!(again.iter().all(|(c, _)| matches!(c, Command::Evict { .. })), "{again:?}");
    // Re-running commands already applied is a no-op too (stale decisions are safe).
    for (c, _) in &done[..2] {
        assert_eq!(exec.run(c).await.unwrap(), Outcome::Unchanged, "{}", c.describe());
    }

    // The PDB goes away: the pod is evicted (the DaemonSet pod stays), then the node is handed back.
    Api::<PodDisruptionBudget>::namespaced(client.clone(), NS)
        .delete("shipper", &DeleteParams::default())
        .await
        .unwrap();
    let evicted = tick(&exec, &want).await;
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].1, Outcome::Applied);
    assert!(Api::<Pod>::namespaced(client.clone(), NS).get_opt("shipper").await.unwrap().is_none());
    let handed_back = tick(&exec, &want).await;
    assert_eq!(handed_back, vec![(Command::DeleteNode { node: "n2".into() }, Outcome::Applied)]);
    assert!(Api::<Node>::all(client.clone()).get_opt("n2").await.unwrap().is_none());
    assert!(tick(&exec, &want).await.is_empty(), "converged");

    // Scale up: the NodePool limit rises (its cpu limit, owned by Argo CD, stays), then the replicas.
    let up = desired(3, 24, 70);
    let done = tick(&exec, &up).await;
    let names: Vec<String> = done.iter().map(|(c, _)| c.describe()).collect();
    assert_eq!(
        names,
        vec![
            "spot NodePool h100-spot: nvidia.com/gpu limit 8 -> 24".to_string(),
            "spot Deployment inference/llama-spot: replicas 1 -> 3".to_string(),
        ]
    );
    let np = dynamic(&client, "karpenter.sh/v1", "NodePool", "nodepools", None).get("h100-spot").await.unwrap();
    assert_eq!(np.data["spec"]["limits"], json!({"cpu": "1000", "nvidia.com/gpu": "24"}));
    assert!(np.data["spec"]["template"]["spec"]["requirements"].is_array(), "template kept");
    let deploy = Api::<Deployment>::namespaced(client.clone(), NS).get("llama-spot").await.unwrap();
    assert_eq!(deploy.spec.unwrap().replicas, Some(3));
    let scale_manager: Vec<_> =
        deploy.metadata.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    assert!(scale_manager.contains(&FIELD_MANAGER.to_string()), "{scale_manager:?}");
    assert!(tick(&exec, &up).await.is_empty(), "converged");
}

#[tokio::test]
async fn recommend_mode_writes_nothing_and_a_route_edited_after_it_was_read_is_not_overwritten() {
    let (sb, client, _dir) = start().await;
    seed(&client).await;
    let exec = executor(&sb);
    let want = desired(1, 16, 60);
    // Recommend mode: the decision is there, nothing is written.
    let (_, recommended, report) = exec.actuate(&want, &InterruptionSignals::default(), true).await.unwrap();
    assert!(!recommended.commands.is_empty() && report.done.is_empty() && report.failed.is_none());
    let rv = |o: &DynamicObject| o.metadata.resource_version.clone();
    let routes = dynamic(&client, "gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", Some(NS));
    let before = rv(&routes.get("llama").await.unwrap());
    assert_eq!(exec.actuate(&want, &InterruptionSignals::default(), true).await.unwrap().2.done.len(), 0);
    assert_eq!(rv(&routes.get("llama").await.unwrap()), before, "Recommend mode changed the route");
    let observed = exec.observe(&want).await.unwrap();
    let decision = decide(&want, &observed, &InterruptionSignals::default());
    let set = decision.commands.iter().find(|c| matches!(c, Command::SetRouteWeights { .. })).unwrap().clone();
    // Someone changes the route (a Git sync adds a timeout) between our read and our write.
    let mut edited = routes.get("llama").await.unwrap();
    edited.data["spec"]["rules"][1]["timeouts"] = json!({"request": "30s"});
    edited.managed_fields_mut().clear();
    routes.replace("llama", &PostParams::default(), &edited).await.unwrap();
    assert!(matches!(exec.run(&set).await.unwrap(), Outcome::RetryLater(_)));
    let now = routes.get("llama").await.unwrap();
    assert_eq!(now.data["spec"]["rules"][1]["timeouts"]["request"], "30s");
    // The next tick re-reads and applies on top of the edit.
    tick(&exec, &want).await;
    let now = routes.get("llama").await.unwrap();
    assert_eq!(now.data["spec"]["rules"][1]["timeouts"]["request"], "30s");
    assert_eq!(now.data["spec"]["rules"][1]["backendRefs"][1]["weight"], 40);
}

#[tokio::test]
async fn spot_interruption_is_found_from_taints_and_scale_selectors() {
    use hybridscale::actuate::find_interruptions;
    use hybridscale::planner::PerClass;

    let (sb, client, _dir) = start().await;
    seed(&client).await;
    let pods = Api::<Pod>::namespaced(client.clone(), NS);
    let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("llama-spot-0", &PatchParams::default(), &Patch::Merge(&ready)).await.unwrap();
    // The AWS Node Termination Handler taints n1 on a spot interruption notice.
    let taint = json!({"spec": {"taints": [{"key": "aws-node-termination-handler/spot-itn", "effect": "NoSchedule"}]}});
    Api::<Node>::all(client.clone()).patch("n1", &PatchParams::default(), &Patch::Merge(&taint)).await.unwrap();

    let exec = executor(&sb);
    let want = desired(1, 8, 100);
    let observed = exec.observe(&want).await.unwrap();
    // Which pods are whose: the /scale subresource's status.selector of each class's workload.
    let mut selectors = Vec::new();
    for w in &want.workloads {
        let scale = observed.workloads[w.class].as_ref().expect("scale target");
        let sel = scale.selector.as_deref().expect("deployments report a selector");
        selectors.push((w.class, hybridscale::selector::parse(sel).unwrap()));
    }
    let found = find_interruptions(&observed.nodes, NS, &selectors, &InterruptionSignals::default());
    assert_eq!(found.nodes, vec![("n1".to_string(), "taint aws-node-termination-handler/spot-itn".to_string())]);
    assert_eq!(found.affected, PerClass { reserved: 0, spot: 1, on_demand: 0 });
    // The interrupted node's GPUs stay counted by Karpenter until it is gone: the limit leaves room for
    // its replacement.
    let decision = decide(&want, &observed, &InterruptionSignals::default());
    assert!(
        decision.commands.contains(&Command::SetNodePoolGpuLimit {
            class: Class::Spot,
            name: "h100-spot".into(),
            from: Some(8),
            to: 16
        }),
        "{:?}",
        decision.commands
    );
}

/// The operator's own client (`controller::retry::client_with_retries`) sends a PodDisruptionBudget-refused
/// eviction once and reports "retry later": kube's default retry layer would repeat the 429 up to 15 times
/// with a backoff growing towards minutes, holding the reconcile meanwhile.
#[tokio::test]
async fn operator_client_does_not_retry_a_refused_eviction() {
    let (sb, client, _dir) = start().await;
    seed(&client).await;
    let config = kube::Config::new(sb.url.parse().expect("sandbox url"));
    let exec = Executor::new(hybridscale::controller::retry::client_with_retries(config).expect("client"));
    let evict = Command::Evict { node: "n2".into(), namespace: NS.into(), pod: "shipper".into() };
    let creates = || sb.request_counts().get("Create pods").copied().unwrap_or(0);
    let before = creates();
    // A guard against a hang, not a performance bound: the count below is the assertion.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(120), exec.run(&evict))
        .await
        .expect("the eviction returned")
        .expect("a refused eviction is an outcome, not an error");
    assert_eq!(outcome, Outcome::RetryLater("eviction of inference/shipper refused by a PodDisruptionBudget".into()));
    assert_eq!(creates() - before, 1, "the refused eviction was sent exactly once");
    assert!(Api::<Pod>::namespaced(client.clone(), NS).get_opt("shipper").await.expect("get").is_some());
}

/// Install the hybridscale CRDs and wait until the server serves both kinds.
async fn install_hybridscale_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in hybridscale::api::crds() {
        crds.create(&PostParams::default(), &crd).await.expect("create CRD");
    }
    for kind in ["CostPolicy", "InferencePool"] {
        let gvk = GroupVersionKind::gvk("hybridscale.dev", "v1alpha1", kind);
        let mut served = false;
        for _ in 0..100 {
            if kube::discovery::pinned_kind(client, &gvk).await.is_ok() {
                served = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(served, "{kind} served");
    }
}

fn sample(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(file);
    hybridscale::input::parse_yaml(&path, &std::fs::read_to_string(&path).expect("sample")).expect("sample parses")
}

/// Bug 4, through the real finalizer: a pool deleted while no replica is ready left the route on the
/// external backend even when its policy forbids data leaving the cluster.
#[tokio::test]
async fn deleting_a_pool_leaves_the_route_where_its_policy_allows() {
    use hybridscale::api::{CostPolicy, InferencePool};
    use hybridscale::controller::{Context, Options, context::system_clock, pool};
    let (_sb, client, _dir) = start().await;
    seed(&client).await;
    install_hybridscale_crds(&client).await;
    let routes = dynamic(&client, "gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", Some(NS));
    let weights = |route: &DynamicObject| {
        let refs = route.data.pointer("/spec/rules/1/backendRefs").cloned().unwrap_or_default();
        (refs[0]["weight"].as_u64(), refs[1]["weight"].as_u64())
    };
    let options = Options {
        prometheus_url: None,
        prometheus_token: None,
        price_file: None,
        namespace: None,
        identity: "t".into(),
    };
    let ctx = std::sync::Arc::new(Context::new(
        client.clone(),
        std::sync::Arc::new(hybridscale::telemetry::Metrics::new()),
        options,
        system_clock(),
    ));
    let policies = Api::<CostPolicy>::namespaced(client.clone(), NS);
    let pools = Api::<InferencePool>::namespaced(client.clone(), NS);
    for (allowed, want) in [(false, (Some(100), Some(0))), (true, (Some(0), Some(100)))] {
        // The route as hybridscale left it at its last tick: half the traffic outside.
        let half = json!({"spec": {"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/health"}}], "backendRefs": [{"name": "health", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
             "backendRefs": [{"name": "llama-vllm", "port": 8000, "weight": 50}, {"name": "egress", "port": 443, "weight": 50}]}]}});
        routes.patch("llama", &PatchParams::default(), &Patch::Merge(&half)).await.expect("route at 50/50");

        let mut policy = sample("costpolicy.yaml");
        policy["metadata"] = json!({"name": format!("p-{allowed}"), "namespace": NS});
        policy["spec"]["external"] = json!({"allowed": allowed});
        create(&policies, policy).await;
        let mut pool = sample("inferencepool.yaml");
        pool["metadata"] =
            json!({"name": format!("llama-{allowed}"), "namespace": NS, "finalizers": [pool::FINALIZER]});
        pool["spec"]["costPolicyRef"]["name"] = json!(format!("p-{allowed}"));
        pool["spec"]["route"] = json!({"httpRoute": "llama", "ruleIndex": 1,
            "selfHostedBackend": {"kind": "Service", "name": "llama-vllm", "port": 8000},
            "externalBackend": {"kind": "Service", "name": "egress", "port": 443}});
        create(&pools, pool).await;
        let name = format!("llama-{allowed}");
        pools.delete(&name, &DeleteParams::default()).await.expect("delete");
        let deleting = pools.get(&name).await.expect("held by the finalizer");
        assert!(deleting.metadata.deletion_timestamp.is_some());

        pool::reconcile(std::sync::Arc::new(deleting), ctx.clone()).await.expect("finalizer runs");
        let route = routes.get("llama").await.expect("route");
        assert_eq!(weights(&route), want, "external.allowed: {allowed}, no replica ready");
        assert!(pools.get_opt(&name).await.expect("get").is_none(), "the finalizer is released");
    }
}

/// The route's self-hosted backend as a Gateway API Inference Extension InferencePool: the executor reads
/// the pool (none before it exists), sets the weights on the InferencePool backendRef as on a Service, and
/// the pool's selector is checked against the classes' pods.
#[tokio::test]
async fn an_inference_extension_pool_backend_is_weighted_and_its_selector_checked() {
    use hybridscale::actuate::gie;
    let (sb, client, _dir) = start().await;
    seed(&client).await;
    let exec = executor(&sb);
    let gie_ref = BackendRef { group: gie::GROUP.into(), kind: gie::KIND.into(), name: "llama".into(), port: None };
    let routes = dynamic(&client, "gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", Some(NS));
    let on_gie = json!({"spec": {"rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/health"}}], "backendRefs": [{"name": "health", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
         "backendRefs": [{"group": gie::GROUP, "kind": gie::KIND, "name": "llama", "weight": 100},
                         {"name": "egress", "port": 443, "weight": 0}]}]}});
    routes.patch("llama", &PatchParams::default(), &Patch::Merge(&on_gie)).await.expect("route to the GIE pool");
    let mut want = desired(1, 8, 60);
    want.route.self_hosted = gie_ref.clone();
    want.reclaim_idle_nodes = false;

    let workloads = |o: &hybridscale::actuate::Observed| -> Vec<String> {
        let w = [(Class::Reserved, "llama-reserved"), (Class::Spot, "llama-spot")]
            .map(|(c, n)| (c, n, o.workloads[c].as_ref()));
        gie::problems(NS, &gie_ref, o.gie_pool.as_ref(), &w)
    };
    let before = exec.observe(&want).await.expect("observe");
    assert_eq!(before.gie_pool, None);
    assert!(workloads(&before)[0].contains("InferencePool inference/llama (spec.route.selfHostedBackend) not found"));

    // Selects the reserved pods only (`app: llama-reserved`).
    let pools = dynamic(&client, gie::API_VERSION, gie::KIND, "inferencepools", Some(NS));
    let pool = json!({"apiVersion": gie::API_VERSION, "kind": gie::KIND, "metadata": {"name": "llama"},
        "spec": {"selector": {"matchLabels": {"app": "llama-reserved"}}, "targetPorts": [{"number": 8000}],
                 "endpointPickerRef": {"name": "llama-epp", "port": {"number": 9002}}}});
    pools.patch("llama", &PatchParams::apply("argocd-controller"), &Patch::Apply(&pool)).await.expect("GIE pool");
    let seen = exec.observe(&want).await.expect("observe");
    assert_eq!(
        workloads(&seen),
        ["Inference Extension InferencePool inference/llama does not select the spot replicas: llama-spot's pods \
          lack app=llama-reserved; the route would not reach them"]
    );

    let done = tick(&exec, &want).await;
    assert_eq!(done[0].0.describe(), "HTTPRoute inference/llama: self-hosted/external weights 100/0 -> 60/40");
    let route = routes.get("llama").await.expect("route");
    let refs = route.data.pointer("/spec/rules/1/backendRefs").cloned().unwrap_or_default();
    assert_eq!((refs[0]["kind"].as_str(), refs[0]["weight"].as_u64()), (Some(gie::KIND), Some(60)));
    assert_eq!(refs[0].get("port"), None, "no port is added to an InferencePool backendRef");
    assert_eq!(refs[1]["weight"].as_u64(), Some(40));
}
