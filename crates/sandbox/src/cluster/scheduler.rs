//! The scheduler: binds each pending pod (oldest first) to the best-fitting node that passes the
//! predicates in [`super::predicates`], through the `pods/binding` subresource as kube-scheduler does, or
//! marks it `PodScheduled=False` with reason `Unschedulable` and the real message form. Like the real
//! scheduler it "assumes" its bindings until the watch shows them, so one pass never double-books a node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::cache::{Cache, Needs, Pass, Progress};
use super::pods::{is_active, node_name};
use super::predicates::{NodeShape, PodNeeds, choose_node, unschedulable_message};
use super::well_known::DEFAULT_SCHEDULER;
use super::{ClusterError, Shared, api_err, is_status, now_rfc3339};

/// The scheduler loop's state.
pub struct Scheduler {
    shared: Arc<Shared>,
    cache: Cache,
    /// Pod uid → (node, GPUs) for bindings the cache has not shown yet.
    assumed: HashMap<String, (String, u64)>,
    /// Set when the API server has no `pods/binding`: bind by patching `spec.nodeName` instead.
    binding_unsupported: bool,
}

/// A node is a scheduling target unless it is being deleted or reports Ready other than True (a node
/// without conditions, e.g. one created by hand, counts as ready).
pub fn node_usable(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_none_or(|c| c.status == "True");
    node.metadata.deletion_timestamp.is_none() && ready
}

/// GPUs in use per node by the active pods bound to it.
pub fn gpus_in_use<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> BTreeMap<String, u64> {
    let mut used = BTreeMap::new();
    for pod in pods {
        if let (Some(node), true) = (node_name(pod), is_active(pod)) {
            let gpus = PodNeeds::of(pod).map(|n| n.gpus).unwrap_or(0);
            *used.entry(node.to_string()).or_insert(0) += gpus;
        }
    }
    used
}

/// Whether this scheduler is responsible for the pod: unbound, active, default scheduler, and no
/// scheduling gates left (gated pods wait, as with the real scheduler).
pub fn is_pending(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    let scheduler = spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or(DEFAULT_SCHEDULER);
    let gated = spec.and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty());
    node_name(pod).is_none() && is_active(pod) && scheduler == DEFAULT_SCHEDULER && !gated
}

/// Pending pods in scheduling order: higher priority first, then oldest, then namespace/name.
pub fn scheduling_order(pods: &mut [Arc<Pod>]) {
    pods.sort_by_key(|p| {
        let priority = p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0.as_millisecond()).unwrap_or(0);
        (std::cmp::Reverse(priority), created, p.metadata.namespace.clone(), p.metadata.name.clone())
    });
}

impl Scheduler {
    pub(crate) fn new(shared: Arc<Shared>, cache: Cache) -> Self {
        Scheduler { shared, cache, assumed: HashMap::new(), binding_unsupported: false }
    }

    async fn bind(&mut self, pod: &Pod, node: &str) -> Result<bool, ClusterError> {
        let (Some(ns), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else { return Ok(false) };
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        let what = format!("bind pod {ns}/{name} to node {node}");
        if !self.binding_unsupported {
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            match api
                .create_subresource::<_, serde_json::Value>("binding", name, &PostParams::default(), &binding)
                .await
            {
                Ok(_) => return Ok(true),
                // Already bound (409) or gone (404 with the pod missing): nothing to do.
                Err(e) if is_status(&e, 409) => return Ok(false),
                Err(e) if is_status(&e, 404) || is_status(&e, 405) => {
                    if matches!(api.get_opt(name).await, Ok(None)) {
                        return Ok(false);
                    }
                    tracing::info!("the API server has no pods/binding; binding by patching spec.nodeName");
                    self.binding_unsupported = true;
                }
                Err(e) => return Err(api_err(what)(e)),
            }
        }
        let patch = json!({"spec": {"nodeName": node}});
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(false),
            Err(e) => Err(api_err(what)(e)),
        }
    }

    async fn mark_unschedulable(&self, pod: &Pod, message: &str) -> Result<(), ClusterError> {
        let (Some(ns), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else { return Ok(()) };
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        if current.is_some_and(|c| {
            c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)
        }) {
            return Ok(());
        }
        // A strategic merge patch merges `conditions` by type, as the real scheduler's status update does.
        let patch = json!({"status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastTransitionTime": now_rfc3339(),
        }]}});
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        match api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => {
                super::events::record(
                    &self.shared.client,
                    pod,
                    DEFAULT_SCHEDULER,
                    "Warning",
                    "FailedScheduling",
                    message,
                )
                .await;
                Ok(())
            }
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("mark pod {ns}/{name} unschedulable"))(e)),
        }
    }
}

impl Pass for Scheduler {
    const NAME: &'static str = "scheduler";
    const NEEDS: Needs = Needs::PodsAndNodes;

    async fn pass(&mut self) -> Result<Option<Instant>, ClusterError> {
        let pods = self.cache.pods.state();
        // Forget assumptions the cache has caught up with (bound, or the pod is gone).
        let by_uid: HashMap<&str, &Pod> =
            pods.iter().filter_map(|p| p.metadata.uid.as_deref().map(|u| (u, p.as_ref()))).collect();
        self.assumed.retain(|uid, _| by_uid.get(uid.as_str()).is_some_and(|p| node_name(p).is_none() && is_active(p)));

        let mut used = gpus_in_use(pods.iter().map(AsRef::as_ref));
        for (node, gpus) in self.assumed.values() {
            *used.entry(node.clone()).or_insert(0) += gpus;
        }
        let mut nodes: Vec<(NodeShape, u64)> = self
            .cache
            .nodes
            .state()
            .iter()
            .filter(|n| node_usable(n))
            .map(|n| {
                let shape = NodeShape::of(n);
                let u = used.get(&shape.name).copied().unwrap_or(0);
                (shape, u)
            })
            .collect();
        nodes.sort_by(|a, b| a.0.name.cmp(&b.0.name));

        let mut pending: Vec<Arc<Pod>> = pods
            .iter()
            .filter(|p| is_pending(p) && p.metadata.uid.as_ref().is_some_and(|u| !self.assumed.contains_key(u)))
            .cloned()
            .collect();
        scheduling_order(&mut pending);
        let mut progress = Progress::default();
        for pod in pending {
            let needs = match PodNeeds::of(&pod) {
                Ok(n) => n,
                Err(e) => {
                    progress.keep(self.mark_unschedulable(&pod, &e.to_string()).await);
                    continue;
                }
            };
            let result = match choose_node(&needs, &nodes) {
                Ok(node) => Ok(node.name.clone()),
                Err(reasons) => Err(unschedulable_message(nodes.len(), &reasons)),
            };
            let outcome = match result {
                Ok(node) => match self.bind(&pod, &node).await {
                    Ok(true) => {
                        let (ns, name) = (pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref());
                        let message =
                            format!("Successfully assigned {}/{} to {node}", ns.unwrap_or(""), name.unwrap_or(""));
                        super::events::record(
                            &self.shared.client,
                            pod.as_ref(),
                            DEFAULT_SCHEDULER,
                            "Normal",
                            "Scheduled",
                            &message,
                        )
                        .await;
                        if let Some(uid) = &pod.metadata.uid {
                            self.assumed.insert(uid.clone(), (node.clone(), needs.gpus));
                        }
                        if let Some(slot) = nodes.iter_mut().find(|(n, _)| n.name == node) {
                            slot.1 += needs.gpus;
                        }
                        Ok(())
                    }
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                },
                Err(message) => self.mark_unschedulable(&pod, &message).await,
            };
            progress.keep(outcome);
        }
        progress.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    #[test]
    fn pending_means_unbound_ungated_and_ours() {
        assert!(is_pending(&pod(json!({"containers": []}))));
        assert!(!is_pending(&pod(json!({"containers": [], "nodeName": "n"}))));
        assert!(!is_pending(&pod(json!({"containers": [], "schedulerName": "volcano"}))));
        assert!(!is_pending(&pod(json!({"containers": [], "schedulingGates": [{"name": "wait"}]}))));
    }

    #[test]
    fn order_is_priority_then_age_then_name() {
        let mk = |name: &str, prio: i32, created: &str| {
            Arc::new(
                serde_json::from_value::<Pod>(json!({
                    "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
                    "spec": {"containers": [], "priority": prio}
                }))
                .expect("pod"),
            )
        };
        let mut pods = vec![
            mk("late", 0, "2026-01-01T00:00:10Z"),
            mk("early", 0, "2026-01-01T00:00:01Z"),
            mk("urgent", 100, "2026-01-01T00:00:20Z"),
        ];
        scheduling_order(&mut pods);
        let names: Vec<_> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
        assert_eq!(names, ["urgent", "early", "late"]);
    }
}
