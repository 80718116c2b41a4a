//! Karpenter NodePools (karpenter.sh/v1): launch nodes for unschedulable pods that a pool's nodes could
//! host, after the provisioning delay and never beyond `spec.limits["nvidia.com/gpu"]`; remove nodes
//! that stay empty for the consolidation delay (unless `spec.disruption.consolidateAfter: Never`),
//! nodes over a lowered limit after the same delay, and the nodes of a deleted pool; report
//! `status.resources` (counting nodes in flight, as Karpenter counts NodeClaims).
//!
//! A pool's nodes carry `karpenter.sh/nodepool=<pool>`, `karpenter.sh/capacity-type` (from the
//! requirements, else `on-demand`), the template's labels, one label per `In` requirement (the value the
//! pending pod asks for when it is one of the allowed values, else the first), and the template's taints. GPUs per node come from, in order: [`ClusterOptions::
//! pool_gpus_per_node`](super::ClusterOptions), the annotation `sandbox.hybridscale.dev/gpus-per-node`,
//! the template label or `In` requirement `karpenter.k8s.aws/instance-gpu-count`, else the default.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::cache::{Cache, Needs, Pass, Progress, nodepool_resource};
use super::launcher::{Launcher, marked_for_removal, no_schedule_taint, remove_node};
use super::pods::{condition_true, is_active, node_name};
use super::predicates::{NodeShape, PodNeeds, whole_quantity};
use super::scheduler::{gpus_in_use, is_pending, node_usable, scheduling_order};
use super::sizing::{Member, PoolShape, plan_launches, trim_to_gpu_limit};
use super::well_known::*;
use super::{ClusterError, ClusterOptions, Shared, api_err, is_status, later};

/// What the simulation reads from a NodePool.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePoolView {
    pub shape: PoolShape,
    /// `spec.disruption.consolidateAfter: Never`.
    pub never_consolidate: bool,
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// A whole-number quantity given as a JSON string or number.
fn json_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => whole_quantity(&k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.clone())),
        _ => None,
    }
}

/// Reads a NodePool object into the pool shape the sizing functions use.
pub fn parse_nodepool(obj: &DynamicObject, opts: &ClusterOptions) -> Result<NodePoolView, String> {
    let name = obj.metadata.name.clone().ok_or("nodepool without a name")?;
    let spec = &obj.data["spec"];
    let tmpl = &spec["template"];
    let mut labels = string_map(&tmpl["metadata"]["labels"]);
    let mut gpus_from_requirement = None;
    let mut choices = BTreeMap::new();
    for req in tmpl["spec"]["requirements"].as_array().into_iter().flatten() {
        let (Some(key), Some("In")) = (req["key"].as_str(), req["operator"].as_str()) else { continue };
        let values: Vec<String> =
            req["values"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        if values.len() > 1 && !labels.contains_key(key) {
            choices.insert(key.to_string(), values.clone());
        }
        if let Some(first) = values.first() {
            labels.entry(key.to_string()).or_insert_with(|| first.to_string());
            if key == KARPENTER_GPU_COUNT_LABEL {
                gpus_from_requirement = first.parse::<u64>().ok();
            }
        }
    }
    labels.insert(KARPENTER_NODEPOOL_LABEL.into(), name.clone());
    labels.entry(KARPENTER_CAPACITY_TYPE_LABEL.into()).or_insert_with(|| "on-demand".into());
    labels.insert("karpenter.sh/registered".into(), "true".into());
    labels.insert("karpenter.sh/initialized".into(), "true".into());
    let taints: Vec<Taint> = match tmpl["spec"].get("taints") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => {
            serde_json::from_value(t.clone()).map_err(|e| format!("nodepool {name}: spec.template.spec.taints: {e}"))?
        }
    };
    let annotation = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SANDBOX_GPUS_PER_NODE_ANNOTATION))
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                format!("nodepool {name}: annotation {SANDBOX_GPUS_PER_NODE_ANNOTATION}: {v:?} is not a whole number")
            })
        })
        .transpose()?;
    let gpus = opts
        .pool_gpus_per_node
        .get(&name)
        .copied()
        .or(annotation)
        .or_else(|| labels.get(KARPENTER_GPU_COUNT_LABEL).and_then(|v| v.parse().ok()))
        .or(gpus_from_requirement)
        .unwrap_or(opts.default_gpus_per_node);
    let gpu_limit = match spec["limits"].get(GPU) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            json_count(v).ok_or_else(|| format!("nodepool {name}: spec.limits[{GPU}]: {v} is not a whole number"))?,
        ),
    };
    let weight = spec["weight"].as_i64().unwrap_or(0);
    let never_consolidate = spec["disruption"]["consolidateAfter"].as_str() == Some("Never");
    let template = NodeShape { name: String::new(), labels, taints, unschedulable: false, gpus };
    Ok(NodePoolView { shape: PoolShape { name, weight, template, gpu_limit, choices }, never_consolidate })
}

/// The Karpenter loop's state.
pub struct Karpenter {
    shared: Arc<Shared>,
    cache: Cache,
    launcher: Launcher,
    /// Node → when it was first seen empty.
    empty_since: HashMap<String, Instant>,
    /// Pool → when it was first seen over its GPU limit.
    over_since: HashMap<String, Instant>,
    /// Nodes whose removal has been carried out (the cache may still show them).
    removed: HashSet<String>,
}

impl Karpenter {
    pub(crate) fn new(shared: Arc<Shared>, cache: Cache) -> Self {
        let launcher = Launcher::new(shared.clone());
        Karpenter {
            shared,
            cache,
            launcher,
            empty_since: HashMap::new(),
            over_since: HashMap::new(),
            removed: HashSet::new(),
        }
    }

    async fn remove(&mut self, node: &Node) -> Result<(), ClusterError> {
        if node.metadata.name.as_ref().is_some_and(|n| self.removed.contains(n)) {
            return Ok(());
        }
        let Some(name) = node.metadata.name.clone() else { return Ok(()) };
        tracing::info!(node = %name, "karpenter: removing node");
        let taint = Some(no_schedule_taint(KARPENTER_DISRUPTED_TAINT, None));
        if remove_node(&self.shared.client, node, taint, false).await? {
            self.empty_since.remove(&name);
            self.removed.insert(name);
        }
        Ok(())
    }

    async fn write_status(&self, pool: &str, nodes: usize, gpus: u64) -> Result<(), ClusterError> {
        let cached = self.cache.nodepools.state().into_iter().find(|p| p.metadata.name.as_deref() == Some(pool));
        let desired = json!({"resources": {"nodes": nodes.to_string(), GPU: gpus.to_string()}});
        let stored = cached.as_ref().map(|p| p.data["status"].clone()).unwrap_or(Value::Null);
        let key = format!("nodepool/{pool}");
        if !self.shared.status_needs_write(&key, &stored, &desired) {
            return Ok(());
        }
        let api: Api<DynamicObject> = Api::all_with(self.shared.client.clone(), &nodepool_resource());
        let ready = json!([{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                            "lastTransitionTime": super::now_rfc3339()}]);
        let mut status = desired.clone();
        if stored["conditions"].is_null() {
            status["conditions"] = ready;
        }
        match api.patch_status(pool, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await {
            Ok(_) => {
                self.shared.status_written(&key, &desired);
                Ok(())
            }
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("nodepool {pool}: patch status"))(e)),
        }
    }
}

impl Pass for Karpenter {
    const NAME: &'static str = "karpenter";
    const NEEDS: Needs = Needs::NodePools;

    async fn pass(&mut self) -> Result<Option<Instant>, ClusterError> {
        let now = Instant::now();
        let (nodes, cached) = self.cache.nodes_and_names();
        self.removed.retain(|n| cached.contains(n));
        self.empty_since.retain(|n, _| cached.contains(n));
        let mut progress = Progress::default();
        progress.keep(self.launcher.register_due(&cached, now).await);
        let view = self.view(&nodes);
        let pool_names: HashSet<&str> = view.pools.iter().map(|p| p.shape.name.as_str()).collect();
        self.launcher.inflight.retain(|l| pool_names.contains(l.pool.as_str()) && !cached.contains(&l.shape.name));

        // Nodes of pools that no longer exist go.
        for node in &view.orphans {
            progress.keep(self.remove(node).await);
        }
        self.provision(&view, &cached, now);
        self.disrupt(&view, now, &mut progress).await;
        for pool in &view.pools {
            let name = &pool.shape.name;
            let members = view.members.get(name).map(Vec::as_slice).unwrap_or_default();
            let kept: Vec<&Member> =
                members.iter().map(|(_, m)| m).filter(|m| !self.removed.contains(&m.name)).collect();
            let inflight: Vec<u64> =
                self.launcher.inflight.iter().filter(|l| &l.pool == name).map(|l| l.shape.gpus).collect();
            let gpus = kept.iter().map(|m| m.gpus).sum::<u64>() + inflight.iter().sum::<u64>();
            progress.keep(self.write_status(name, kept.len() + inflight.len(), gpus).await);
        }
        progress.due(self.launcher.next_due());
        progress.finish()
    }
}

/// One pass's reading of the cache.
struct View {
    pools: Vec<NodePoolView>,
    /// Registered nodes of each pool that are not being removed, with their sizing view.
    members: BTreeMap<String, Vec<(Arc<Node>, Member)>>,
    /// Nodes labelled with a pool that does not exist (any more).
    orphans: Vec<Node>,
    /// Every usable node (of any pool or none) with the GPUs in use on it.
    capacity: Vec<(NodeShape, u64)>,
    /// Pods the scheduler found no room for, in scheduling order.
    pending: Vec<PodNeeds>,
}

impl Karpenter {
    fn view(&self, nodes: &[Arc<Node>]) -> View {
        let mut pools = Vec::new();
        for obj in self.cache.nodepools.state() {
            if obj.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match parse_nodepool(&obj, &self.shared.opts) {
                Ok(p) => pools.push(p),
                Err(e) => tracing::warn!("karpenter: {e}"),
            }
        }
        pools.sort_by(|a, b| a.shape.name.cmp(&b.shape.name));
        let pods: Vec<Arc<Pod>> = self.cache.pods.state();
        let used = gpus_in_use(pods.iter().map(AsRef::as_ref));
        let mut pod_count: HashMap<&str, usize> = HashMap::new();
        for p in pods.iter().filter(|p| is_active(p)) {
            if let Some(n) = node_name(p) {
                *pod_count.entry(n).or_default() += 1;
            }
        }
        let mut members: BTreeMap<String, Vec<(Arc<Node>, Member)>> = BTreeMap::new();
        let mut orphans = Vec::new();
        let mut capacity = Vec::new();
        for node in nodes {
            let Some(name) = node.metadata.name.clone() else { continue };
            if node.metadata.deletion_timestamp.is_some() || self.removed.contains(&name) {
                continue;
            }
            let shape = NodeShape::of(node);
            if node_usable(node) {
                capacity.push((shape.clone(), used.get(&name).copied().unwrap_or(0)));
            }
            let Some(pool) = node.metadata.labels.as_ref().and_then(|l| l.get(KARPENTER_NODEPOOL_LABEL)) else {
                continue;
            };
            if !pools.iter().any(|p| &p.shape.name == pool) {
                orphans.push(node.as_ref().clone());
                continue;
            }
            let member = Member {
                pods: pod_count.get(name.as_str()).copied().unwrap_or(0),
                gpus: shape.gpus,
                launching: false,
                marked: marked_for_removal(node),
                created_ms: node.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_millisecond()),
                name,
            };
            members.entry(pool.clone()).or_default().push((node.clone(), member));
        }
        let mut pending: Vec<Arc<Pod>> = pods
            .iter()
            .filter(|p| is_pending(p) && !condition_true(p, "PodScheduled") && unschedulable(p))
            .cloned()
            .collect();
        scheduling_order(&mut pending);
        let pending = pending.iter().filter_map(|p| PodNeeds::of(p).ok()).collect();
        View { pools, members, orphans, capacity, pending }
    }

    /// GPUs per pool: registered nodes plus launches in flight.
    fn pool_gpus(&self, view: &View) -> BTreeMap<String, u64> {
        let mut gpus: BTreeMap<String, u64> = BTreeMap::new();
        for (pool, members) in &view.members {
            *gpus.entry(pool.clone()).or_default() += members.iter().map(|(_, m)| m.gpus).sum::<u64>();
        }
        for l in &self.launcher.inflight {
            *gpus.entry(l.pool.clone()).or_default() += l.shape.gpus;
        }
        gpus
    }

    /// Launches nodes for the pending pods that nothing registered or in flight can take.
    fn provision(&mut self, view: &View, cached: &HashSet<String>, now: Instant) {
        let mut capacity = view.capacity.clone();
        capacity.extend(self.launcher.inflight.iter().map(|l| (l.shape.clone(), 0)));
        let shapes: Vec<PoolShape> = view.pools.iter().map(|p| p.shape.clone()).collect();
        for launch in plan_launches(&view.pending, &shapes, &capacity, &self.pool_gpus(view)) {
            for _ in 0..launch.nodes {
                tracing::info!(nodepool = %launch.pool, "karpenter: launching a node");
                self.launcher.launch(&launch.pool, &launch.template, cached, now);
            }
        }
    }

    /// Removes nodes over a lowered limit (launches in flight at once, Nodes after the consolidation
    /// delay) and nodes empty for the consolidation delay, noting in `progress` when a delay next runs out.
    async fn disrupt(&mut self, view: &View, now: Instant, progress: &mut Progress) {
        let delay = self.shared.opts.consolidation_delay;
        let pool_gpus = self.pool_gpus(view);
        for pool in &view.pools {
            let name = &pool.shape.name;
            let nodes = view.members.get(name).map(Vec::as_slice).unwrap_or_default();
            let over = pool.shape.gpu_limit.filter(|limit| pool_gpus.get(name).copied().unwrap_or(0) > *limit);
            if let Some(limit) = over {
                let mut members: Vec<Member> = nodes.iter().map(|(_, m)| m.clone()).collect();
                members.extend(self.launcher.inflight.iter().filter(|l| &l.pool == name).map(|l| Member {
                    name: l.shape.name.clone(),
                    gpus: l.shape.gpus,
                    pods: 0,
                    launching: true,
                    marked: false,
                    created_ms: l.launched_ms,
                }));
                let since = *self.over_since.entry(name.clone()).or_insert(now);
                for victim in trim_to_gpu_limit(&members, limit) {
                    if self.launcher.cancel(&victim) {
                        continue;
                    }
                    let due = later(since, delay);
                    if now < due {
                        progress.due(due);
                        continue;
                    }
                    if let Some((node, _)) = nodes.iter().find(|(_, m)| m.name == victim) {
                        progress.keep(self.remove(node).await);
                    }
                }
            } else {
                self.over_since.remove(name);
            }
            if pool.never_consolidate {
                continue;
            }
            for (node, member) in nodes {
                let blocked =
                    node.metadata.annotations.as_ref().and_then(|a| a.get(KARPENTER_DO_NOT_DISRUPT_ANNOTATION));
                if self.removed.contains(&member.name) || member.pods > 0 || blocked.is_some_and(|v| v == "true") {
                    self.empty_since.remove(&member.name);
                    continue;
                }
                let since = *self.empty_since.entry(member.name.clone()).or_insert(now);
                let due = later(since, delay);
                if now < due {
                    progress.due(due);
                } else {
                    progress.keep(self.remove(node).await);
                }
            }
        }
    }
}

/// The scheduler marked the pod `PodScheduled=False` / `Unschedulable`.
fn unschedulable(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        cs.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodepool(v: Value) -> DynamicObject {
        serde_json::from_value(v).expect("nodepool")
    }

    #[test]
    fn parses_template_requirements_limits_and_gpu_sources() {
        let obj = nodepool(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "gpu-spot"},
            "spec": {
                "weight": 10,
                "limits": {"nvidia.com/gpu": "8"},
                "disruption": {"consolidateAfter": "Never"},
                "template": {
                    "metadata": {"labels": {"team": "ml"}},
                    "spec": {
                        "requirements": [
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
                            {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "In", "values": ["4"]},
                            {"key": "kubernetes.io/arch", "operator": "Exists"},
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.xlarge", "g6.xlarge"]}
                        ],
                        "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
                    }
                }
            }
        }));
        let opts = ClusterOptions::default();
        let view = parse_nodepool(&obj, &opts).expect("parse");
        let labels = &view.shape.template.labels;
        assert_eq!(labels.get("karpenter.sh/nodepool").map(String::as_str), Some("gpu-spot"));
        assert_eq!(labels.get("karpenter.sh/capacity-type").map(String::as_str), Some("spot"));
        assert_eq!(labels.get("team").map(String::as_str), Some("ml"));
        assert!(!labels.contains_key("kubernetes.io/arch"));
        assert_eq!(
            (view.shape.template.gpus, view.shape.gpu_limit, view.shape.weight, view.never_consolidate),
            (4, Some(8), 10, true)
        );
        assert_eq!(view.shape.template.taints.len(), 1);
        assert_eq!(labels.get("node.kubernetes.io/instance-type").map(String::as_str), Some("g5.xlarge"));
        let choices: Vec<&str> =
            view.shape.choices["node.kubernetes.io/instance-type"].iter().map(String::as_str).collect();
        assert_eq!(choices, ["g5.xlarge", "g6.xlarge"]);
        assert!(!view.shape.choices.contains_key("karpenter.sh/capacity-type"), "a single value is no choice");

        let mut opts = ClusterOptions::default();
        opts.pool_gpus_per_node.insert("gpu-spot".into(), 2);
        assert_eq!(parse_nodepool(&obj, &opts).expect("parse").shape.template.gpus, 2);
    }

    #[test]
    fn bad_limit_is_a_clear_error() {
        let obj = nodepool(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "p"},
            "spec": {"limits": {"nvidia.com/gpu": "1.5"}, "template": {"spec": {}}}}));
        let err = parse_nodepool(&obj, &ClusterOptions::default()).expect_err("bad");
        assert_eq!(err, "nodepool p: spec.limits[nvidia.com/gpu]: \"1.5\" is not a whole number");
        let obj = nodepool(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "p"},
            "spec": {"template": {"spec": {}}}}));
        let view = parse_nodepool(&obj, &ClusterOptions::default()).expect("no limit");
        assert_eq!((view.shape.gpu_limit, view.shape.template.gpus), (None, 1));
    }
}
