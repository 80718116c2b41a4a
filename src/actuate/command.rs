//! Decisions as data: each [`Command`] is one idempotent write the executor performs.

use super::desired::{ObjectRef, RouteWeights};
use crate::planner::Class;

/// One write to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Set the backend weights of one HTTPRoute rule by applying the route's whole `spec.rules` list
    /// (see `route.rs` for why the whole list).
    SetRouteWeights {
        namespace: String,
        route: String,
        /// The complete new `spec.rules`.
        rules: serde_json::Value,
        /// The route's metadata.resourceVersion when it was read: sent with the apply as a precondition so
        /// a rule edited since (by Git, by a person) is never overwritten with the stale copy.
        resource_version: Option<String>,
        /// The backends' names in the weights' order: "self-hosted", then each provider ("external"
        /// for the single form).
        backends: Vec<String>,
        from: Option<RouteWeights>,
        to: RouteWeights,
    },
    /// Set a workload's replicas through its /scale subresource.
    ScaleWorkload { class: Class, target: ObjectRef, from: u32, to: u32 },
    /// Set a Karpenter NodePool's `spec.limits["nvidia.com/gpu"]`.
    SetNodePoolGpuLimit { class: Class, name: String, from: Option<u32>, to: u32 },
    /// Set a Cluster API MachineDeployment's replicas through its /scale subresource.
    ScaleMachineDeployment { class: Class, namespace: String, name: String, from: Option<u32>, to: u32 },
    /// Cordon an idle GPU node before handing it back, marking it as ours; for a Cluster API node, first
    /// annotate its Machine so the MachineDeployment deletes that machine when its replicas drop.
    Cordon { node: String, machine: Option<(String, String)> },
    /// Undo our cordon (and our Machine deletion mark): the node is needed again.
    Uncordon { node: String, machine: Option<(String, String)> },
    /// Evict one pod through the Eviction API (PodDisruptionBudgets apply).
    Evict { node: String, namespace: String, pod: String },
    /// Delete a drained, empty Karpenter node: Karpenter's termination finalizer returns the instance.
    DeleteNode { node: String },
}

impl Command {
    /// One line for logs and Events.
    pub fn describe(&self) -> String {
        match self {
            Command::SetRouteWeights { namespace, route, backends, from, to, .. } => format!(
                "HTTPRoute {namespace}/{route}: {} weights {} -> {}",
                backends.join("/"),
                from.as_ref().map_or("?".to_string(), RouteWeights::numbers),
                to.numbers()
            ),
            Command::ScaleWorkload { class, target, from, to } => format!("{class} {target}: replicas {from} -> {to}"),
            Command::SetNodePoolGpuLimit { class, name, from, to } => format!(
                "{class} NodePool {name}: nvidia.com/gpu limit {} -> {to}",
                from.map_or("unset".to_string(), |f| f.to_string())
            ),
            Command::ScaleMachineDeployment { class, namespace, name, from, to } => format!(
                "{class} MachineDeployment {namespace}/{name}: replicas {} -> {to}",
                from.map_or("?".to_string(), |f| f.to_string())
            ),
            Command::Cordon { node, .. } => format!("cordon idle GPU node {node}"),
            Command::Uncordon { node, .. } => format!("uncordon GPU node {node}: needed again"),
            Command::Evict { node, namespace, pod } => format!("evict {namespace}/{pod} from {node}"),
            Command::DeleteNode { node } => format!("hand back drained GPU node {node}"),
        }
    }
}
