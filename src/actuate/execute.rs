//! The async half of actuation: read what `decide` needs, and run its commands against the API server.
//!
//! Every command re-reads the object and skips when it already matches (so a stale decision or a second
//! run of the same plan writes nothing). Writes are server-side applies with `force` under
//! [`FIELD_MANAGER`] (hybridscale takes ownership of exactly the fields it sets, and of nothing else) or
//! patches of the /scale subresource recorded under the same manager.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, DeleteParams, DynamicObject, EvictParams, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Client, Error as KubeError};
use serde_json::{Value, json};

use super::command::Command;
use super::decide::{Actuation, decide};
use super::decide::{CAPI_DELETE_MACHINE_ANNOTATION, RECLAIM_ANNOTATION};
use super::desired::{Desired, NodePoolTarget, ObjectRef};
use super::interrupt::InterruptionSignals;
use super::observed::{NodeInfo, NodePoolView, Observed, ScaleView, whole_quantity};
use super::{ActuateError, FIELD_MANAGER, resources};
use crate::api::inference_pool::NodePoolKind;

/// What running one command did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The write was made.
    Applied,
    /// The cluster already matched; nothing was written.
    Unchanged,
    /// Refused for now in a way that is expected to clear (a PodDisruptionBudget, a concurrent edit);
    /// the next tick decides again.
    RetryLater(String),
}

/// The commands run, in order, and the first hard failure (which stops the rest: later commands may
/// depend on it, e.g. never scale down before traffic has moved).
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<(Command, Outcome)>,
    pub failed: Option<(Command, ActuateError)>,
}

impl Report {
    /// Commands that changed something.
    pub fn applied(&self) -> impl Iterator<Item = &Command> {
        self.done.iter().filter(|(_, o)| *o == Outcome::Applied).map(|(c, _)| c)
    }
}

/// Runs commands against one cluster. Caches resolved kinds.
pub struct Executor {
    client: Client,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
}

fn kube_err(what: impl Into<String>) -> impl FnOnce(KubeError) -> ActuateError {
    let what = what.into();
    move |source| ActuateError::Kube { what, source }
}

fn code(e: &KubeError) -> Option<u16> {
    match e {
        KubeError::Api(s) => Some(s.code),
        _ => None,
    }
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn update_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() }
}

impl Executor {
    /// An executor over `client`.
    ///
    /// Build the client with `Config::default_retry = false` (or use [`Executor::from_config`]): kube's
    /// default retry layer retries every 429 with exponential backoff for minutes, so an eviction refused
    /// by a PodDisruptionBudget would block the reconcile instead of being reported as
    /// [`Outcome::RetryLater`] and retried on the next tick.
    pub fn new(client: Client) -> Self {
        Executor { client, kinds: Mutex::new(HashMap::new()) }
    }

    /// An executor with its own client built from `config`, with kube's 429/503 retry layer turned off
    /// (see [`Executor::new`]); every command is idempotent and the next tick retries.
    pub fn from_config(mut config: kube::Config) -> Result<Self, ActuateError> {
        config.default_retry = false;
        let client = Client::try_from(config)
            .map_err(|source| ActuateError::Kube { what: "build the actuation client".into(), source })?;
        Ok(Executor::new(client))
    }

    async fn resource(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), ActuateError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(hit) = self.kinds.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let found = match resources::known(api_version, kind) {
            Some(k) => k,
            None => resources::discover(&self.client, api_version, kind).await?,
        };
        if let Ok(mut m) = self.kinds.lock() {
            m.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn dynamic(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
    ) -> Result<Api<DynamicObject>, ActuateError> {
        let (ar, namespaced) = self.resource(api_version, kind).await?;
        Ok(match (namespaced, ns) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// The /scale view of a workload with its ready replicas; `None` when it does not exist.
    /// Deployments and StatefulSets are read in one GET of the object ([`ScaleView::from_object`]);
    /// other kinds, whose scale subresource may map any fields, through /scale plus a GET of the object
    /// for status.readyReplicas.
    pub async fn get_workload(&self, target: &ObjectRef) -> Result<Option<ScaleView>, ActuateError> {
        let api = self.dynamic(&target.api_version, &target.kind, target.namespace.as_deref()).await?;
        let object = |e| kube_err(format!("get {target}"))(e);
        if target.api_version == "apps/v1" && matches!(target.kind.as_str(), "Deployment" | "StatefulSet") {
            return Ok(api.get_opt(&target.name).await.map_err(object)?.map(|o| ScaleView::from_object(&o.data)));
        }
        let Some(mut view) = self.get_scale(target).await? else { return Ok(None) };
        view.ready =
            api.get_opt(&target.name).await.map_err(object)?.map_or(0, |o| ScaleView::from_object(&o.data).ready);
        Ok(Some(view))
    }

    /// The /scale view of a workload (`ready` left at 0); `None` when it does not exist.
    pub async fn get_scale(&self, target: &ObjectRef) -> Result<Option<ScaleView>, ActuateError> {
        let api = self.dynamic(&target.api_version, &target.kind, target.namespace.as_deref()).await?;
        match api.get_scale(&target.name).await {
            Ok(s) => {
                let status = s.status.unwrap_or_default();
                Ok(Some(ScaleView {
                    replicas: s.spec.and_then(|s| s.replicas).and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
                    current: u32::try_from(status.replicas).unwrap_or(0),
                    selector: status.selector,
                    ready: 0,
                    pod_labels: None,
                }))
            }
            Err(e) if code(&e) == Some(404) => Ok(None),
            Err(e) => Err(kube_err(format!("get scale of {target}"))(e)),
        }
    }

    /// The current size of a node pool; `None` when it does not exist.
    pub async fn node_pool_view(&self, np: &NodePoolTarget) -> Result<Option<NodePoolView>, ActuateError> {
        match np.kind {
            NodePoolKind::NodePool => self.karpenter_view(&np.name).await,
            NodePoolKind::MachineDeployment => {
                let target = machine_deployment(np.namespace.as_deref().unwrap_or_default(), &np.name);
                Ok(self.get_scale(&target).await?.map(|s| NodePoolView { gpu_limit: None, replicas: Some(s.replicas) }))
            }
        }
    }

    /// A Karpenter NodePool's GPU limit; `None` when the NodePool does not exist.
    async fn karpenter_view(&self, name: &str) -> Result<Option<NodePoolView>, ActuateError> {
        let api = self.dynamic("karpenter.sh/v1", "NodePool", None).await?;
        let Some(obj) = api.get_opt(name).await.map_err(kube_err(format!("get NodePool {name}")))? else {
            return Ok(None);
        };
        let limit = obj
            .data
            .pointer("/spec/limits/nvidia.com~1gpu")
            .and_then(Value::as_str)
            .and_then(|q| whole_quantity(&Quantity(q.to_string())));
        Ok(Some(NodePoolView { gpu_limit: limit, replicas: None }))
    }

    /// The HTTPRoute as JSON; `None` when it does not exist.
    pub async fn get_route(&self, namespace: &str, name: &str) -> Result<Option<Value>, ActuateError> {
        let api = self.dynamic("gateway.networking.k8s.io/v1", "HTTPRoute", Some(namespace)).await?;
        let obj = api.get_opt(name).await.map_err(kube_err(format!("get HTTPRoute {namespace}/{name}")))?;
        obj.map(|o| {
            serde_json::to_value(o)
                .map_err(|e| ActuateError::Route { route: format!("{namespace}/{name}"), why: e.to_string() })
        })
        .transpose()
    }

    /// A Gateway API Inference Extension InferencePool, `None` when not found (also when its CRD is not
    /// installed: the API server answers 404 for the unknown resource).
    pub async fn get_gie_pool(&self, namespace: &str, name: &str) -> Result<Option<Value>, ActuateError> {
        let what = format!("{} {namespace}/{name}", super::gie::API_VERSION);
        let api = self.dynamic(super::gie::API_VERSION, super::gie::KIND, Some(namespace)).await?;
        let obj = api.get_opt(name).await.map_err(kube_err(format!("get {what}")))?;
        obj.map(|o| {
            serde_json::to_value(o).map_err(|e| ActuateError::UnknownKind {
                api_version: super::gie::API_VERSION.into(),
                kind: super::gie::KIND.into(),
                why: format!("{name} is not JSON: {e}"),
            })
        })
        .transpose()
    }

    /// GPU nodes (allocatable nvidia.com/gpu, or in a Karpenter/Cluster API pool) with their pods.
    /// For a controller with reflector caches, build [`NodeInfo`]s from the caches instead.
    pub async fn gpu_nodes(&self) -> Result<Vec<NodeInfo>, ActuateError> {
        let nodes =
            Api::<Node>::all(self.client.clone()).list(&ListParams::default()).await.map_err(kube_err("list nodes"))?;
        let mut out = Vec::new();
        for node in nodes.items {
            let bare = NodeInfo::from_node(&node, &[]);
            let gpu = bare.gpus.is_some_and(|g| g > 0)
                || bare.labels.contains_key(super::decide::KARPENTER_NODEPOOL_LABEL)
                || bare.annotations.contains_key(super::decide::CAPI_MACHINE_ANNOTATION);
            if !gpu {
                continue;
            }
            let pods = Api::<Pod>::all(self.client.clone())
                .list(&ListParams::default().fields(&format!("spec.nodeName={}", bare.name)))
                .await
                .map_err(kube_err(format!("list pods on node {}", bare.name)))?;
            out.push(NodeInfo::from_node(&node, &pods.items));
        }
        Ok(out)
    }

    /// Read everything `decide` needs for one pool.
    pub async fn observe(&self, desired: &Desired) -> Result<Observed, ActuateError> {
        let mut o = Observed::default();
        for w in &desired.workloads {
            o.workloads[w.class] = self.get_workload(&w.target).await?;
        }
        for np in &desired.node_pools {
            o.node_pools[np.class] = self.node_pool_view(np).await?;
        }
        o.route = self.get_route(&desired.route.namespace, &desired.route.name).await?;
        if super::gie::is_gie_pool(&desired.route.self_hosted) {
            o.gie_pool = self.get_gie_pool(&desired.route.namespace, &desired.route.self_hosted.name).await?;
        }
        if !desired.node_pools.is_empty() {
            o.nodes = self.gpu_nodes().await?;
        }
        Ok(o)
    }

    /// One actuation pass for a pool: observe, decide and, unless `recommend_only` (the policy's Recommend
    /// mode), run the commands. The [`Actuation`] lists every command (what would be done, for status in
    /// Recommend mode) and the problems (for the Degraded condition); the [`Report`] says what was run.
    pub async fn actuate(
        &self,
        desired: &Desired,
        signals: &InterruptionSignals,
        recommend_only: bool,
    ) -> Result<(Observed, Actuation, Report), ActuateError> {
        let observed = self.observe(desired).await?;
        let decision = decide(desired, &observed, signals);
        let report = if recommend_only { Report::default() } else { self.run_all(&decision.commands).await };
        Ok((observed, decision, report))
    }

    /// Run commands in order; stop at the first hard failure.
    pub async fn run_all(&self, commands: &[Command]) -> Report {
        let mut report = Report::default();
        for c in commands {
            match self.run(c).await {
                Ok(o) => report.done.push((c.clone(), o)),
                Err(e) => {
                    report.failed = Some((c.clone(), e));
                    break;
                }
            }
        }
        report
    }

    /// Run one command.
    pub async fn run(&self, command: &Command) -> Result<Outcome, ActuateError> {
        match command {
            Command::SetRouteWeights { namespace, route, rules, resource_version, .. } => {
                self.set_route(namespace, route, rules, resource_version.as_deref()).await
            }
            Command::ScaleWorkload { target, to, .. } => self.scale(target, *to).await,
            Command::ScaleMachineDeployment { namespace, name, to, .. } => {
                self.scale(&machine_deployment(namespace, name), *to).await
            }
            Command::SetNodePoolGpuLimit { name, to, .. } => self.set_gpu_limit(name, *to).await,
            Command::Cordon { node, machine } => {
                if let Some((ns, m)) = machine {
                    let body = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                        "metadata": {"name": m, "namespace": ns,
                                     "annotations": {CAPI_DELETE_MACHINE_ANNOTATION: "yes"}}});
                    self.apply_machine(ns, m, &body).await?;
                }
                let body = json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node, "annotations": {RECLAIM_ANNOTATION: "true"}},
                    "spec": {"unschedulable": true}});
                self.apply_node(node, body, |n| {
                    n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
                        && n.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(RECLAIM_ANNOTATION))
                })
                .await
            }
            Command::Uncordon { node, machine } => {
                // An apply with none of our fields hands them back: the server removes every field only
                // we owned (our annotation and spec.unschedulable), and keeps a cordon someone else set.
                if let Some((ns, m)) = machine {
                    let body = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                        "metadata": {"name": m, "namespace": ns}});
                    self.apply_machine(ns, m, &body).await?;
                }
                let body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}});
                self.apply_node(node, body, |n| {
                    !n.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(RECLAIM_ANNOTATION))
                })
                .await
            }
            Command::Evict { namespace, pod, .. } => {
                let api = Api::<Pod>::namespaced(self.client.clone(), namespace);
                match api.evict(pod, &EvictParams::default()).await {
                    Ok(_) => Ok(Outcome::Applied),
                    Err(e) if code(&e) == Some(404) => Ok(Outcome::Unchanged),
                    // 429: a PodDisruptionBudget does not allow the eviction now. Never force: retry next tick.
                    Err(e) if code(&e) == Some(429) => Ok(Outcome::RetryLater(format!(
                        "eviction of {namespace}/{pod} refused by a PodDisruptionBudget"
                    ))),
                    Err(e) => Err(kube_err(format!("evict pod {namespace}/{pod}"))(e)),
                }
            }
            Command::DeleteNode { node } => {
                let api = Api::<Node>::all(self.client.clone());
                let Some(current) = api.get_opt(node).await.map_err(kube_err(format!("get node {node}")))? else {
                    return Ok(Outcome::Unchanged);
                };
                // Only a node we cordoned ourselves, and with the uid we just read.
                if !current.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(RECLAIM_ANNOTATION)) {
                    return Ok(Outcome::RetryLater(format!("node {node} is no longer marked for reclaim")));
                }
                let dp = DeleteParams {
                    preconditions: Some(kube::api::Preconditions {
                        uid: current.metadata.uid.clone(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(node, &dp).await {
                    Ok(_) => Ok(Outcome::Applied),
                    Err(e) if code(&e) == Some(404) => Ok(Outcome::Unchanged),
                    Err(e) if code(&e) == Some(409) => Ok(Outcome::RetryLater(format!("node {node} changed"))),
                    Err(e) => Err(kube_err(format!("delete node {node}"))(e)),
                }
            }
        }
    }

    async fn scale(&self, target: &ObjectRef, to: u32) -> Result<Outcome, ActuateError> {
        let api = self.dynamic(&target.api_version, &target.kind, target.namespace.as_deref()).await?;
        let current = api.get_scale(&target.name).await.map_err(kube_err(format!("get scale of {target}")))?;
        if current.spec.and_then(|s| s.replicas) == Some(i32::try_from(to).unwrap_or(i32::MAX)) {
            return Ok(Outcome::Unchanged);
        }
        let patch = json!({"spec": {"replicas": to}});
        api.patch_scale(&target.name, &update_params(), &Patch::Merge(&patch))
            .await
            .map_err(kube_err(format!("scale {target} to {to}")))?;
        Ok(Outcome::Applied)
    }

    async fn set_gpu_limit(&self, name: &str, to: u32) -> Result<Outcome, ActuateError> {
        // Server-side apply creates what does not exist: never create a NodePool, only resize one.
        match self.karpenter_view(name).await? {
            None => return Ok(Outcome::RetryLater(format!("NodePool {name} not found"))),
            Some(v) if v.gpu_limit == Some(to) => return Ok(Outcome::Unchanged),
            Some(_) => {}
        }
        // spec.limits is a map: server-side apply gives us ownership of the nvidia.com/gpu key only, so
        // cpu/memory limits set in Git stay untouched.
        let body = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
                          "spec": {"limits": {"nvidia.com/gpu": to.to_string()}}});
        self.apply("karpenter.sh/v1", "NodePool", None, name, &body).await?;
        Ok(Outcome::Applied)
    }

    async fn set_route(
        &self,
        namespace: &str,
        name: &str,
        rules: &Value,
        resource_version: Option<&str>,
    ) -> Result<Outcome, ActuateError> {
        let current = self.get_route(namespace, name).await?;
        let Some(current) = current else {
            return Ok(Outcome::RetryLater(format!("HTTPRoute {namespace}/{name} is gone")));
        };
        if current.pointer("/spec/rules") == Some(rules) {
            return Ok(Outcome::Unchanged);
        }
        // The rules were computed from the route at `resource_version`; if it changed since, recompute
        // next tick rather than write a stale copy. The same version also goes into the apply below as a
        // server-side precondition, which closes the window between this read and the write.
        let live_version = current.pointer("/metadata/resourceVersion").and_then(Value::as_str);
        if resource_version.is_some() && live_version != resource_version {
            return Ok(Outcome::RetryLater(format!("HTTPRoute {namespace}/{name} changed since it was read")));
        }
        // See route.rs: rules and backendRefs are atomic lists, so the whole list is applied, guarded by
        // the resourceVersion it was computed from.
        let mut body = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                              "metadata": {"name": name, "namespace": namespace}, "spec": {"rules": rules}});
        if let Some(rv) = resource_version {
            body["metadata"]["resourceVersion"] = json!(rv);
        }
        match self.apply("gateway.networking.k8s.io/v1", "HTTPRoute", Some(namespace), name, &body).await {
            Ok(()) => Ok(Outcome::Applied),
            Err(ActuateError::Kube { source, .. }) if code(&source) == Some(409) => {
                Ok(Outcome::RetryLater(format!("HTTPRoute {namespace}/{name} changed since it was read")))
            }
            Err(e) => Err(e),
        }
    }

    async fn apply(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        body: &Value,
    ) -> Result<(), ActuateError> {
        let api = self.dynamic(api_version, kind, ns).await?;
        api.patch(name, &apply_params(), &Patch::Apply(body))
            .await
            .map_err(kube_err(format!("apply {kind} {}{name}", ns.map(|n| format!("{n}/")).unwrap_or_default())))?;
        Ok(())
    }

    /// Apply to a Machine only if it exists (an apply would otherwise try to create it).
    async fn apply_machine(&self, ns: &str, name: &str, body: &Value) -> Result<(), ActuateError> {
        let api = self.dynamic("cluster.x-k8s.io/v1beta1", "Machine", Some(ns)).await?;
        if api.get_opt(name).await.map_err(kube_err(format!("get Machine {ns}/{name}")))?.is_some() {
            self.apply("cluster.x-k8s.io/v1beta1", "Machine", Some(ns), name, body).await?;
        }
        Ok(())
    }

    async fn apply_node(&self, node: &str, body: Value, done: impl Fn(&Node) -> bool) -> Result<Outcome, ActuateError> {
        let api = Api::<Node>::all(self.client.clone());
        match api.get_opt(node).await.map_err(kube_err(format!("get node {node}")))? {
            None => return Ok(Outcome::Unchanged),
            Some(n) if done(&n) => return Ok(Outcome::Unchanged),
            Some(_) => {}
        }
        api.patch(node, &apply_params(), &Patch::Apply(&body)).await.map_err(kube_err(format!("apply node {node}")))?;
        Ok(Outcome::Applied)
    }
}

fn machine_deployment(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: "cluster.x-k8s.io/v1beta1".into(),
        kind: "MachineDeployment".into(),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    }
}
