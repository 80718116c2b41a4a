//! Node lifecycle shared by the node-pool simulations: launching a node (registered as a Ready Node
//! after the provisioning delay) and removing one (cordon, optional taint, evict its pods, delete).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::pods::name_suffix;
use super::predicates::NodeShape;
use super::well_known::GPU;
use super::{ClusterError, Shared, api_err, is_reason, is_status, now_rfc3339};

/// A node on its way: decided, not yet a Node object the cache has shown.
#[derive(Debug, Clone)]
pub(crate) struct Launching {
    /// The pool (NodePool or MachineDeployment name) it belongs to.
    pub pool: String,
    /// The node to create; its name is the future Node's name.
    pub shape: NodeShape,
    pub due: Instant,
    /// Wall-clock launch time, for removal order.
    pub launched_ms: i64,
    /// The Node object has been created (waiting for the cache to show it).
    pub created: bool,
}

/// Launches and removes nodes for one kind of node pool.
pub(crate) struct Launcher {
    shared: Arc<Shared>,
    pub inflight: Vec<Launching>,
}

impl Launcher {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Launcher { shared, inflight: Vec::new() }
    }

    /// Decides a new node of `template` for `pool`, registered after the provisioning delay. The name is
    /// `<pool>-<5 random chars>` (like Karpenter's NodeClaims), unique among `taken` and in-flight nodes.
    pub(crate) fn launch(&mut self, pool: &str, template: &NodeShape, taken: &HashSet<String>, now: Instant) {
        let name = loop {
            let candidate = format!("{pool}-{}", self.shared.with_rng(&format!("nodes/{pool}"), name_suffix));
            if !taken.contains(&candidate) && !self.inflight.iter().any(|l| l.shape.name == candidate) {
                break candidate;
            }
        };
        let mut shape = template.clone();
        shape.name = name;
        self.inflight.push(Launching {
            pool: pool.to_string(),
            shape,
            due: super::later(now, self.shared.opts.provisioning_delay),
            launched_ms: jiff::Timestamp::now().as_millisecond(),
            created: false,
        });
    }

    /// Forgets launches the cache now shows as Nodes, and creates the Nodes of launches that are due.
    pub(crate) async fn register_due(&mut self, cached: &HashSet<String>, now: Instant) -> Result<(), ClusterError> {
        // A created Node the cache never shows was deleted before the watch delivered it: forget it.
        let patience = (self.shared.opts.resync * 4).max(std::time::Duration::from_secs(2));
        let vanished = |l: &Launching| l.created && now > super::later(l.due, patience);
        self.inflight.retain(|l| !(cached.contains(&l.shape.name) || vanished(l)));
        let mut first_err = None;
        for i in 0..self.inflight.len() {
            let l = &self.inflight[i];
            if l.created || l.due > now {
                continue;
            }
            match create_node(&self.shared.client, &l.shape).await {
                Ok(()) => self.inflight[i].created = true,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The earliest launch still waiting for its delay.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.inflight.iter().filter(|l| !l.created).map(|l| l.due).min()
    }

    /// Cancels a launch that has not created its Node yet; false when there is no such launch.
    pub(crate) fn cancel(&mut self, name: &str) -> bool {
        let before = self.inflight.len();
        self.inflight.retain(|l| l.created || l.shape.name != name);
        self.inflight.len() != before
    }
}

/// Whether someone marked the node for removal: cordoned or annotated `cluster.x-k8s.io/delete-machine`.
pub(crate) fn marked_for_removal(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
        || node
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(super::well_known::CAPI_DELETE_MACHINE_ANNOTATION))
}

/// The kubelet version simulated nodes report (the Kubernetes version k8s-openapi is built for).
const KUBELET_VERSION: &str = "v1.33.0-sandbox";

/// A fake but stable InternalIP for a node name.
fn node_ip(name: &str) -> String {
    let h = name.bytes().fold(7u32, |h, b| h.wrapping_mul(33).wrapping_add(u32::from(b)));
    format!("10.0.{}.{}", (h >> 8) % 250, (h % 250) + 2)
}

/// Creates a Ready Node with the shape's labels, taints and GPUs, then writes its status through
/// `/status` (an API server may drop status on create, as the real one does for most kinds).
pub(crate) async fn create_node(client: &kube::Client, shape: &NodeShape) -> Result<(), ClusterError> {
    let name = &shape.name;
    let mut labels = shape.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), name.clone());
    labels.entry("kubernetes.io/os".into()).or_insert_with(|| "linux".into());
    labels.entry("kubernetes.io/arch".into()).or_insert_with(|| "amd64".into());
    let resources: BTreeMap<&str, String> = BTreeMap::from([
        (GPU, shape.gpus.to_string()),
        ("cpu", (8 * shape.gpus.max(1)).to_string()),
        ("memory", format!("{}Gi", 64 * shape.gpus.max(1))),
        ("pods", "110".to_string()),
    ]);
    let now = now_rfc3339();
    let status = json!({
        "capacity": resources, "allocatable": resources,
        "addresses": [{"type": "InternalIP", "address": node_ip(name)}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "phase": "Running",
        "nodeInfo": {
            "architecture": "amd64", "operatingSystem": "linux", "osImage": "hybridscale sandbox",
            "kernelVersion": "sandbox", "containerRuntimeVersion": "sandbox://0", "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "machineID": name, "systemUUID": name, "bootID": name,
        },
    });
    // The status goes in the create (so the node appears with its GPUs in one event where the server
    // keeps it, as the sandbox does for Nodes) and again through /status for servers that drop it.
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": format!("sandbox:///{name}"), "taints": shape.taints, "unschedulable": shape.unschedulable},
        "status": status,
    });
    let api: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(node).map_err(|e| ClusterError::Invalid(format!("node {name}: {e}")))?;
    let (uid, has_status) = match api.create(&PostParams::default(), &node).await {
        Ok(created) => (created.metadata.uid, created.status.is_some_and(|s| s.allocatable.is_some())),
        Err(e) if is_reason(&e, "AlreadyExists") => (None, false),
        Err(e) => return Err(api_err(format!("create node {name}"))(e)),
    };
    if !has_status {
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map_err(api_err(format!("report status of node {name}")))?;
    }
    if let Some(uid) = uid {
        create_lease(client, name, &uid).await;
    }
    Ok(())
}

/// The node's heartbeat Lease in `kube-node-lease`, owned by the Node (so it goes with it), as the
/// kubelet creates it. Best effort: `kubectl describe node` shows it, nothing else reads it.
async fn create_lease(client: &kube::Client, node: &str, uid: &str) {
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}]},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                 "renewTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()},
    });
    let result = match serde_json::from_value::<Lease>(lease) {
        Ok(lease) => {
            let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
            api.create(&PostParams::default(), &lease).await.map(|_| ()).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        tracing::debug!(node, "node lease: {e}");
    }
}

/// Removes a node the way node-pool controllers do: cordon it and add `taint` (if any), drain it through
/// the eviction API (which honours PodDisruptionBudgets), then delete the Node. With `force` (the
/// instance is gone, as at the end of a spot notice) pods are deleted without eviction. Returns false
/// when a PodDisruptionBudget held a pod back: the node stays cordoned and the caller retries later.
/// A node already gone counts as removed.
pub(crate) async fn remove_node(
    client: &kube::Client,
    node: &Node,
    taint: Option<Taint>,
    force: bool,
) -> Result<bool, ClusterError> {
    let Some(name) = node.metadata.name.as_deref() else { return Ok(true) };
    let nodes: Api<Node> = Api::all(client.clone());
    let mut taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    if let Some(t) = taint.filter(|t| !taints.iter().any(|x| x.key == t.key && x.effect == t.effect)) {
        taints.push(t);
    }
    let patch = json!({"spec": {"unschedulable": true, "taints": taints}});
    match nodes.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {}
        Err(e) if is_status(&e, 404) => return Ok(true),
        Err(e) => return Err(api_err(format!("cordon node {name}"))(e)),
    }
    if !drain(client, name, force).await? {
        return Ok(false);
    }
    match nodes.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) if is_status(&e, 404) => Ok(true),
        Err(e) => Err(api_err(format!("delete node {name}"))(e)),
    }
}

/// Evicts (or with `force` deletes) every pod bound to `node`; false when an eviction was refused.
pub(crate) async fn drain(client: &kube::Client, node: &str, force: bool) -> Result<bool, ClusterError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let listed = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(api_err(format!("list pods on node {node}")))?;
    let mut drained = true;
    for pod in listed.items {
        // Filter again in case the server ignores the field selector.
        if super::pods::node_name(&pod) != Some(node) {
            continue;
        }
        let (Some(ns), Some(name)) = (pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref()) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let result = if force {
            api.delete(name, &DeleteParams::default()).await.map(|_| ())
        } else {
            api.evict(name, &EvictParams::default()).await.map(|_| ())
        };
        match result {
            Ok(()) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) if is_status(&e, 429) => {
                tracing::info!(pod = %format!("{ns}/{name}"), node, "eviction refused by a PodDisruptionBudget");
                drained = false;
            }
            Err(e) => return Err(api_err(format!("evict pod {ns}/{name} from node {node}"))(e)),
        }
    }
    Ok(drained)
}

/// A NoSchedule taint.
pub(crate) fn no_schedule_taint(key: &str, value: Option<&str>) -> Taint {
    Taint { key: key.into(), value: value.map(Into::into), effect: "NoSchedule".into(), time_added: None }
}
