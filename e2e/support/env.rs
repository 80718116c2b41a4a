//! One scenario's world: a Kubernetes API (by default a sandbox API server with the simulated cluster,
//! or a cluster named by `HS_E2E_KUBECONFIG`, see [`super::target`]), the synthetic model-server
//! exporter, the real Prometheus scraping it, and a small gateway simulation that splits the offered
//! demand between the self-hosted replicas and the external API by the HTTPRoute's live weights. The
//! exporter, Prometheus and the gateway simulation run on this machine whatever the target: the load is
//! synthetic, only the cluster state is real.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hybridscale::api::InferencePoolStatus;
use hybridscale::api::conditions::Condition;
use hybridscale::modelserver::ExporterHandle;
use hybridscale::sandbox::Sandbox;
use hybridscale::sandbox::cluster::interrupt_node;
use hybridscale::sandbox::cluster::{ClusterHandle, ClusterOptions};
use hybridscale::sandbox::faults::FaultConfig;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::cluster::{self as on_cluster, Cleanup};
use super::objects::{self, DEPLOYMENTS, MODEL, Placement, ROUTE, Setup};
use super::prom::{self, Prom};
use super::target::{self, ClusterTarget};
pub use hybridscale::demo::gateway::{GatewayView, backend_weights, pod_ready, route_resource, weights_of};

/// Upper bound of every wait for the operator to reach a state (90 s on the sandbox, longer on a
/// cluster; `HS_E2E_WAIT_SECONDS` overrides it).
pub fn wait() -> Duration {
    target::wait()
}

/// Cluster delays used by every scenario (the demo's too).
pub fn cluster_options() -> ClusterOptions {
    hybridscale::demo::world::cluster_options()
}

/// A running scenario world.
pub struct Env {
    /// The scenario's namespace: its name on the sandbox, with a random suffix on a cluster.
    pub ns: String,
    /// The in-process sandbox; `None` on a cluster.
    sandbox: Option<Sandbox>,
    pub client: kube::Client,
    /// The kubeconfig the operator binary gets.
    kubeconfig: PathBuf,
    /// Where the replicas run (NodePools or plain pods).
    pub placement: Placement,
    pub exporter: Arc<ExporterHandle>,
    pub prom: Prom,
    pub dir: tempfile::TempDir,
    cluster: Option<ClusterHandle>,
    demand: Arc<Mutex<f64>>,
    view: Arc<Mutex<GatewayView>>,
    gateway: tokio::task::JoinHandle<()>,
    /// Operator log files, shown when a wait fails.
    pub logs: Mutex<Vec<PathBuf>>,
    /// On a cluster: deletes the namespace and NodePools when the Env is dropped (declared last, so it
    /// runs after the gateway task and Prometheus are gone).
    _cleanup: Option<Cleanup>,
}

/// The Kubernetes side of a world, as set up for the target.
struct KubeSide {
    ns: String,
    sandbox: Option<Sandbox>,
    client: kube::Client,
    kubeconfig: PathBuf,
    placement: Placement,
    cluster: Option<ClusterHandle>,
    cleanup: Option<Cleanup>,
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn nodepool_resource() -> ApiResource {
    ar("karpenter.sh", "v1", "NodePool", "nodepools")
}

/// Split a multi-document YAML string (documents separated by `---` lines).
pub fn yaml_docs(text: &str) -> Vec<Value> {
    objects::yaml_docs(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Server-side apply one object (any kind the server serves) under `manager`.
pub async fn apply(client: &kube::Client, obj: &Value, manager: &str) {
    hybridscale::demo::world::apply(client, obj, manager).await.unwrap_or_else(|e| panic!("{e}"));
}

/// On a cluster: install crds/ only where missing, then wait until both kinds are served.
async fn install_crds_if_missing_and_wait(client: &kube::Client) {
    on_cluster::install_crds_if_missing(client).await;
    wait_crds_served(client).await;
}

async fn wait_crds_served(client: &kube::Client) {
    hybridscale::demo::world::wait_crds_served(client).await.unwrap_or_else(|e| panic!("{e}"));
}

impl Env {
    /// Start everything but the operator.
    pub async fn start(ns: &str, setup: &Setup, faults: FaultConfig) -> Env {
        Env::start_with(ns, setup, faults, cluster_options()).await
    }

    /// [`Env::start`] with other delays of the simulated cluster (a cluster target has its own).
    pub async fn start_with(ns: &str, setup: &Setup, faults: FaultConfig, cluster_opts: ClusterOptions) -> Env {
        let bin = prom::binary().unwrap_or_else(|e| panic!("{e}"));
        super::init_tracing();
        let dir = tempfile::tempdir().expect("tempdir");
        let k = match target::cluster() {
            None => {
                let kubeconfig = dir.path().join("kubeconfig");
                let world =
                    hybridscale::demo::world::start_sandbox(kubeconfig.clone(), ns, setup, cluster_opts, "e2e-gitops")
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                let (sandbox, client, cluster) = (world.sandbox, world.client, world.cluster);
                let placement = Placement::sandbox();
                KubeSide {
                    ns: ns.to_string(),
                    sandbox: Some(sandbox),
                    client,
                    kubeconfig,
                    placement,
                    cluster: Some(cluster),
                    cleanup: None,
                }
            }
            Some(c) => {
                assert!(
                    faults.rules.is_empty() && faults.watch_cut.is_none(),
                    "fault injection needs the sandbox: check target::require(Need::FaultInjection) first"
                );
                Env::prepare_cluster(ns, setup, c).await
            }
        };
        let ns = k.ns.as_str();

        let (exporter, prom) = hybridscale::demo::world::start_metrics(&bin, dir.path(), ns, setup)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let exporter = Arc::new(exporter);

        let demand = Arc::new(Mutex::new(0.0));
        let view = Arc::new(Mutex::new(GatewayView::default()));
        // The gateway uses its own client so the operator's injected faults never touch it.
        let gateway = {
            let (client, ns, exporter, demand, view) =
                (k.client.clone(), ns.to_string(), exporter.clone(), demand.clone(), view.clone());
            tokio::spawn(async move {
                loop {
                    let d = *demand.lock().unwrap_or_else(|e| e.into_inner());
                    match hybridscale::demo::gateway::step(&client, &ns, &exporter, d).await {
                        Ok(v) => *view.lock().unwrap_or_else(|e| e.into_inner()) = v,
                        Err(e) => tracing::debug!(error = %e, "gateway step"),
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        let env = Env {
            ns: ns.to_string(),
            sandbox: k.sandbox,
            client: k.client,
            kubeconfig: k.kubeconfig,
            placement: k.placement,
            exporter,
            prom,
            dir,
            cluster: k.cluster,
            demand,
            view,
            gateway,
            logs: Mutex::new(Vec::new()),
            _cleanup: k.cleanup,
        };
        // Faults only once the world is set up: they are for the operator.
        if let Some(sb) = &env.sandbox {
            sb.set_faults(faults);
        }
        env
    }

    /// On a cluster: check that it serves what the scenario needs, install the CRDs if missing, create
    /// a fresh namespace (clean-up armed before anything is created) and apply the scenario's objects.
    async fn prepare_cluster(base: &str, setup: &Setup, c: &ClusterTarget) -> KubeSide {
        let client = on_cluster::client(&c.kubeconfig).await;
        on_cluster::require_kind(
            &client,
            "gateway.networking.k8s.io",
            "v1",
            "HTTPRoute",
            "install the Gateway API standard CRDs (https://gateway-api.sigs.k8s.io/guides/#installing-gateway-api)",
        )
        .await;
        if setup.gie_backend {
            on_cluster::require_kind(
                &client,
                "inference.networking.k8s.io",
                "v1",
                "InferencePool",
                "this scenario routes to a Gateway API Inference Extension InferencePool: install its v1 CRDs \
                 (https://gateway-api-inference-extension.sigs.k8s.io/)",
            )
            .await;
        }
        if c.node_pools {
            on_cluster::require_kind(
                &client,
                "karpenter.sh",
                "v1",
                "NodePool",
                "HS_E2E_NODEPOOLS=1 needs Karpenter v1; unset it to run the replicas as plain pods",
            )
            .await;
        }
        install_crds_if_missing_and_wait(&client).await;
        let ns = on_cluster::namespace_name(base);
        let cleanup = Cleanup { kubeconfig: c.kubeconfig.clone(), ns: ns.clone() };
        let placement = c.placement(&ns);
        for d in yaml_docs(&objects::manifests(&ns, setup, &placement)) {
            apply(&client, &d, "e2e-gitops").await;
        }
        super::say!("e2e: scenario {base} runs in namespace {ns} of the HS_E2E_KUBECONFIG cluster");
        KubeSide {
            ns,
            sandbox: None,
            client,
            kubeconfig: c.kubeconfig.clone(),
            placement,
            cluster: None,
            cleanup: Some(cleanup),
        }
    }

    /// The in-process sandbox. Only scenarios that checked `target::require(Need::FaultInjection)` call it.
    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("the sandbox target (check target::require first)")
    }

    /// Whether the replicas run on the scenario's own NodePools (always on the sandbox).
    pub fn has_node_pools(&self) -> bool {
        self.placement.node_pools.is_some()
    }

    /// Deliver a spot interruption notice to `node`. On the sandbox the simulated cluster taints the node
    /// and terminates it after the notice period; on a cluster the harness puts the termination handler's
    /// taint on it, and [`Env::end_interrupted_node`] deletes it.
    pub async fn interrupt_node(&self, node: &str) {
        match &self.sandbox {
            Some(_) => interrupt_node(&self.client, node).await.expect("interrupt"),
            None => on_cluster::taint_spot_notice(&self.client, node).await,
        }
    }

    /// What the cloud does when an interruption notice of `notice` given at `noticed` runs out: on a
    /// cluster the harness waits for that moment and deletes the node; on the sandbox the simulated
    /// cluster does it by itself.
    pub async fn end_interrupted_node(&self, node: &str, noticed: Instant, notice: Duration) {
        if self.sandbox.is_none() {
            tokio::time::sleep_until((noticed + notice).into()).await;
            on_cluster::terminate_node(&self.client, node).await;
        }
    }

    /// Offer `rps` requests per second to the route from now on.
    pub fn set_demand(&self, rps: f64) {
        *self.demand.lock().unwrap_or_else(|e| e.into_inner()) = rps;
    }

    pub fn gateway(&self) -> GatewayView {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The kubeconfig for the operator binary: the sandbox's, or `HS_E2E_KUBECONFIG`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// spec.replicas of the class's Deployment, per class.
    pub async fn replicas(&self) -> [i32; 3] {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &self.ns);
        let mut out = [0; 3];
        for (i, d) in DEPLOYMENTS.iter().enumerate() {
            out[i] = api.get(d).await.ok().and_then(|d| d.spec?.replicas).unwrap_or(-1);
        }
        out
    }

    /// Ready pods per class.
    pub async fn ready_pods(&self) -> [usize; 3] {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns);
        let mut out = [0; 3];
        for (i, d) in DEPLOYMENTS.iter().enumerate() {
            out[i] = api
                .list(&ListParams::default().labels(&format!("app={d}")))
                .await
                .map(|l| l.items.iter().filter(|p| pod_ready(p)).count())
                .unwrap_or(0);
        }
        out
    }

    /// (self-hosted, external) route weights.
    pub async fn weights(&self) -> Option<(u32, u32)> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.ns, &route_resource());
        let r = api.get(ROUTE).await.ok()?;
        weights_of(&serde_json::to_value(&r).ok()?)
    }

    /// (backend name, weight) of every backendRef of the route's rule, in order.
    pub async fn backend_weights(&self) -> Option<Vec<(String, u32)>> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.ns, &route_resource());
        let r = api.get(ROUTE).await.ok()?;
        backend_weights(&serde_json::to_value(&r).ok()?)
    }

    /// spec.limits["nvidia.com/gpu"] per class NodePool.
    pub async fn nodepool_limits(&self) -> [Option<String>; 3] {
        let mut out: [Option<String>; 3] = Default::default();
        let Some(nps) = &self.placement.node_pools else { return out };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &nodepool_resource());
        for (i, n) in nps.iter().enumerate() {
            out[i] = api.get(n).await.ok().and_then(|o| {
                let v = o.data.pointer("/spec/limits/nvidia.com~1gpu")?.clone();
                Some(match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
            });
        }
        out
    }

    /// GPU nodes per class NodePool (none without node pools).
    pub async fn nodes(&self) -> [usize; 3] {
        let mut out = [0; 3];
        let Some(nps) = &self.placement.node_pools else { return out };
        let api: Api<Node> = Api::all(self.client.clone());
        for (i, n) in nps.iter().enumerate() {
            out[i] = api
                .list(&ListParams::default().labels(&format!("karpenter.sh/nodepool={n}")))
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
        }
        out
    }

    /// The pool's status, if written.
    pub async fn status(&self) -> Option<InferencePoolStatus> {
        let api: Api<hybridscale::api::InferencePool> = Api::namespaced(self.client.clone(), &self.ns);
        api.get(MODEL).await.ok()?.status
    }

    pub async fn condition(&self, type_: &str) -> Option<Condition> {
        self.status().await?.conditions.into_iter().find(|c| c.type_ == type_)
    }

    /// (reason, note) of the operator's events (reporting controller `hybridscale`), oldest first. A
    /// real cluster's own controllers (Deployment, scheduler, kubelet) write events into the namespace too.
    pub async fn events(&self) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), &self.ns);
        let mut evs = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
        evs.retain(|e| e.reporting_controller.as_deref() == Some("hybridscale"));
        evs.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        evs.into_iter().map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default())).collect()
    }

    /// Everything worth seeing when a wait fails.
    pub async fn describe(&self) -> String {
        let st = self.status().await;
        let gw = self.gateway();
        format!(
            "replicas={:?} ready_pods={:?} nodes={:?} weights={:?} limits={:?} gateway: demand={} rps, self-hosted \
             share={:.2}, serving pods={:?}, providers (rps)={:?}, exporter pods={}\nstatus={}\nevents={:?}",
            self.replicas().await,
            self.ready_pods().await,
            self.nodes().await,
            self.backend_weights().await,
            self.nodepool_limits().await,
            gw.demand_rps,
            gw.self_share,
            gw.ready_pods,
            gw.provider_rps,
            self.exporter.totals(&self.ns, MODEL).pods,
            serde_json::to_string(&st).unwrap_or_default(),
            self.events().await,
        )
    }

    fn log_tails(&self) -> String {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        for l in logs {
            let text = std::fs::read_to_string(&l).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            out.push_str(&format!("\n--- {} (last 40 lines)\n{tail}", l.display()));
        }
        out
    }

    /// Poll until `check` holds on the world; on timeout panic with a description of it.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, limit: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "[{}] timed out after {limit:?} waiting for: {what}\n{}{}",
                    self.ns,
                    self.describe().await,
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until Prometheus holds at least `seconds` of the gateway's request-rate series (scraped
    /// every second): the forecast needs some history to tell a spike from a lasting rise.
    pub async fn wait_for_history(&self, seconds: u32) {
        let query = format!("count_over_time(gateway_requests_per_second{{namespace=\"{}\"}}[5m])", self.ns);
        let url = format!("{}/api/v1/query", self.prom.url());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("http client");
        self.wait_for(&format!("{seconds} s of load history in Prometheus"), wait(), || async {
            let text = http.get(&url).query(&[("query", &query)]).send().await.ok()?.text().await.ok()?;
            let body: Value = serde_json::from_str(&text).ok()?;
            let n: f64 = body.pointer("/data/result/0/value/1")?.as_str()?.parse().ok()?;
            (n >= f64::from(seconds)).then_some(())
        })
        .await;
    }

    /// Stop the gateway, the cluster and the servers.
    pub async fn stop(mut self) {
        self.gateway.abort();
        if let Some(c) = self.cluster.take() {
            c.shutdown().await;
        }
        self.prom.kill();
    }
}
