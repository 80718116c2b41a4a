//! The Helm chart installs: `helm template` with the default values and with every option
//! (charts/hybridscale/ci/all-features-values.yaml) goes through the real kubectl, `apply --server-side`,
//! into the sandbox API server with its simulated cluster. Every object must be accepted, the
//! controller's pods created by the Deployment and scheduled onto the cluster's node, and the RBAC the
//! server holds afterwards must be exactly what src/actuate/rbac.rs says the operator uses, bound to the
//! ServiceAccount the pods run as.
//!
//! The ServiceMonitor and PrometheusRule of the all-features install need the Prometheus Operator's CRDs,
//! which such a cluster has: the test installs stand-ins first (tests/support/, one file per CRD).
//! Needs helm (`.ci/helm`) and kubectl 1.32+ on PATH; `make tools` provides both.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use hybridscale::actuate::rbac;
use hybridscale::sandbox::cluster::{ClusterHandle, ClusterOptions, spawn_cluster};
use hybridscale::sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use support::chart::render;

use crate::support;

const NS: &str = "hybridscale-system";

struct World {
    sandbox: Sandbox,
    cluster: ClusterHandle,
    client: kube::Client,
    dir: tempfile::TempDir,
}

impl World {
    /// A sandbox with its simulated cluster and one plain (CPU) node, as a kind cluster has.
    async fn start() -> World {
        hybridscale::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let sandbox = Sandbox::start(SandboxOptions {
            kubeconfig_path: Some(dir.path().join("kubeconfig")),
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox starts");
        let client = sandbox.client().expect("client");
        let opts = ClusterOptions {
            startup_delay: Duration::from_millis(200),
            resync: Duration::from_millis(200),
            ..ClusterOptions::default()
        };
        let cluster = spawn_cluster(client.clone(), opts);
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "system-0", "labels": {"kubernetes.io/hostname": "system-0", "kubernetes.io/os": "linux"}},
            "status": {
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            },
        }))
        .expect("node");
        Api::<Node>::all(client.clone()).create(&PostParams::default(), &node).await.expect("create node");
        World { sandbox, cluster, client, dir }
    }

    async fn kubectl(&self, args: &[&str]) -> Output {
        let run = tokio::process::Command::new("kubectl")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            // A fresh discovery cache per server: ports are reused across runs.
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60 s"))
            .expect("kubectl 1.32+ on PATH (make tools)")
    }

    async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "kubectl {args:?}: {}{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    async fn stop(self) {
        self.cluster.shutdown().await;
        self.sandbox.stop().await;
    }
}

async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> Fut) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Apply the rendered chart server-side and check every object is accepted and the pods scheduled.
async fn install(world: &World, docs: &[Value]) -> Vec<Pod> {
    world.kubectl_ok(&["create", "namespace", NS]).await;
    let file = world.dir.path().join("chart.json");
    std::fs::write(&file, json!({"apiVersion": "v1", "kind": "List", "items": docs}).to_string()).expect("write");
    let file = file.to_string_lossy().into_owned();
    let applied = world.kubectl_ok(&["apply", "--server-side", "--field-manager=helm", "-f", &file]).await;
    let accepted = applied.lines().filter(|l| l.ends_with(" serverside-applied")).count();
    assert_eq!(accepted, docs.len(), "every rendered object must be accepted:\n{applied}");

    let deploy: Deployment = serde_json::from_value(
        docs.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment is rendered").clone(),
    )
    .expect("Deployment");
    let want = deploy.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
    let selector = deploy.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    let selector: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), NS);
    let lp = ListParams::default().labels(&selector.join(","));
    eventually("the controller's pods to be created and scheduled", || async {
        let list = pods.list(&lp).await.ok()?;
        let bound =
            list.items.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("system-0"));
        (bound.count() == want && list.items.len() == want).then_some(list.items)
    })
    .await
}

/// The RBAC the server holds is what src/actuate/rbac.rs lists (plus `extra` grants), bound to the
/// ServiceAccount every controller pod runs as.
async fn check_rbac(world: &World, pods: &[Pod], extra: &[(String, String, String)]) {
    let sa = pods[0].spec.as_ref().and_then(|s| s.service_account_name.clone()).expect("pods name a ServiceAccount");
    for p in pods {
        assert_eq!(p.spec.as_ref().and_then(|s| s.service_account_name.as_deref()), Some(sa.as_str()));
    }
    world.kubectl_ok(&["get", "serviceaccount", "-n", NS, &sa]).await;
    let subject =
        Subject { kind: "ServiceAccount".into(), name: sa.clone(), namespace: Some(NS.into()), api_group: None };
    let bound = |subjects: Option<&Vec<Subject>>| subjects.is_some_and(|s| s.contains(&subject));

    let bindings =
        Api::<ClusterRoleBinding>::all(world.client.clone()).list(&ListParams::default()).await.expect("list");
    let binding = bindings.items.iter().find(|b| bound(b.subjects.as_ref())).expect("a ClusterRoleBinding for the SA");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    let role =
        Api::<ClusterRole>::all(world.client.clone()).get(&binding.role_ref.name).await.expect("bound ClusterRole");
    let mut needed = rbac::static_triples(rbac::CLUSTER_RULES);
    needed.extend(extra.iter().cloned());
    needed.sort();
    let granted = rbac::policy_rule_triples(role.rules.as_deref().unwrap_or_default());
    rbac::same_grants("ClusterRole", &granted, &needed).unwrap_or_else(|e| panic!("{e}"));

    let bindings =
        Api::<RoleBinding>::namespaced(world.client.clone(), NS).list(&ListParams::default()).await.expect("list");
    let binding = bindings.items.iter().find(|b| bound(b.subjects.as_ref())).expect("a RoleBinding for the SA");
    assert_eq!(binding.role_ref.kind, "Role");
    let role = Api::<Role>::namespaced(world.client.clone(), NS).get(&binding.role_ref.name).await.expect("bound Role");
    let granted = rbac::policy_rule_triples(role.rules.as_deref().unwrap_or_default());
    let needed = rbac::static_triples(rbac::LEADER_ELECTION_RULES);
    rbac::same_grants("Role", &granted, &needed).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn chart_with_defaults_installs_and_schedules_the_controller() {
    let world = World::start().await;
    let docs = render(&[]);
    let pods = install(&world, &docs).await;
    check_rbac(&world, &pods, &[]).await;
    world.stop().await;
}

#[tokio::test]
async fn chart_with_every_option_installs_where_the_prometheus_operator_is() {
    let world = World::start().await;
    for crd in ["servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/support/{crd}.yaml"));
        world.kubectl_ok(&["apply", "--server-side", "-f", &file.to_string_lossy()]).await;
        world.kubectl_ok(&["wait", "--for=condition=Established", "--timeout=30s", &format!("crd/{crd}")]).await;
    }
    let docs = render(&["-f", "charts/hybridscale/ci/all-features-values.yaml"]);
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        assert!(docs.iter().any(|d| d["kind"] == kind), "all-features renders a {kind}");
    }
    let pods = install(&world, &docs).await;
    let extra = rbac::scale_target_triples("leaderworkerset.x-k8s.io", "leaderworkersets");
    check_rbac(&world, &pods, &extra).await;
    let monitors = world.kubectl_ok(&["get", "servicemonitors", "-n", NS, "-o", "name"]).await;
    assert_eq!(monitors.trim(), "servicemonitor.monitoring.coreos.com/hybridscale");
    let rules = world.kubectl_ok(&["get", "prometheusrules", "-n", NS, "-o", "name"]).await;
    assert_eq!(rules.trim(), "prometheusrule.monitoring.coreos.com/hybridscale");
    world.stop().await;
}
