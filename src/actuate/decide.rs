//! The pure half of actuation: desired state + observed state in, the [`Command`]s that close the gap
//! out. No I/O, so every rule below is unit-tested synchronously.
//!
//! Order of the commands, chosen so traffic never lands where capacity is going away:
//! 1. route weights, when the external share rises (traffic leaves before replicas do);
//! 2. uncordon our own cordoned nodes that are needed again;
//! 3. node pools that grow (nodes start provisioning first, they take longest);
//! 4. workload replicas;
//! 5. reclaim of idle GPU nodes: cordon, evict, hand back;
//! 6. node pools that shrink;
//! 7. route weights, when the external share falls (the planner only does that for ready replicas).

use super::command::Command;
use super::desired::{Desired, NodePoolTarget};
use super::interrupt::InterruptionSignals;
use super::observed::{NodeInfo, Observed};
use super::route;
use crate::api::inference_pool::NodePoolKind;

/// Annotation marking a node hybridscale cordoned for reclaim (so it only ever uncordons its own).
pub const RECLAIM_ANNOTATION: &str = "hybridscale.dev/reclaim";
/// Karpenter's label naming a node's NodePool.
pub const KARPENTER_NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
/// Cluster API's node annotations naming the Machine and its owner.
pub const CAPI_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/machine";
const CAPI_OWNER_KIND: &str = "cluster.x-k8s.io/owner-kind";
const CAPI_OWNER_NAME: &str = "cluster.x-k8s.io/owner-name";
/// Cluster API's Machine annotation that makes a MachineDeployment delete that machine first.
pub const CAPI_DELETE_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/delete-machine";

/// What actuation will do for one plan: the commands to run, in order, and what stopped parts of the plan
/// from being actuated (for the Degraded condition). Not the planner's decision: that is its `Plan`,
/// recorded in status as `lastDecision`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Actuation {
    pub commands: Vec<Command>,
    pub problems: Vec<String>,
}

/// Whether `node` belongs to the node pool: Karpenter labels its nodes with the NodePool name; Cluster
/// API annotates them with their MachineSet, which a MachineDeployment names `<deployment>-<hash>`.
pub fn in_node_pool(node: &NodeInfo, np: &NodePoolTarget) -> bool {
    match np.kind {
        NodePoolKind::NodePool => node.labels.get(KARPENTER_NODEPOOL_LABEL) == Some(&np.name),
        NodePoolKind::MachineDeployment => {
            node.annotations.get(CAPI_OWNER_KIND).map(String::as_str) == Some("MachineSet")
                && node.annotations.get(CAPI_OWNER_NAME).is_some_and(|o| {
                    o.strip_prefix(np.name.as_str()).and_then(|r| r.strip_prefix('-')).is_some_and(|h| !h.is_empty())
                })
        }
    }
}

fn ours(node: &NodeInfo) -> bool {
    node.annotations.contains_key(RECLAIM_ANNOTATION)
}

/// The commands that make the cluster match `desired`.
pub fn decide(desired: &Desired, observed: &Observed, signals: &InterruptionSignals) -> Actuation {
    let mut d = Actuation::default();
    let (mut route_first, mut route_last) = (None, None);
    let (mut uncordon, mut grow, mut scale, mut reclaim, mut shrink) = (vec![], vec![], vec![], vec![], vec![]);

    // Route.
    let rt = &desired.route;
    match &observed.route {
        None => d.problems.push(format!("HTTPRoute {}/{} not found", rt.namespace, rt.name)),
        Some(json) => match route::rules_with_weights(json, rt) {
            Err(e) => d.problems.push(e.to_string()),
            Ok(None) => {}
            Ok(Some(rules)) => {
                let from = route::current_weights(json, rt).ok();
                let rises =
                    from.as_ref().is_none_or(|f| rt.weights.total().external_weight > f.total().external_weight);
                let cmd = Command::SetRouteWeights {
                    namespace: rt.namespace.clone(),
                    route: rt.name.clone(),
                    rules,
                    resource_version: json
                        .pointer("/metadata/resourceVersion")
                        .and_then(|v| v.as_str())
                        .map(String::from),
                    backends: rt.backend_names(),
                    from,
                    to: rt.weights.clone(),
                };
                if rises { route_first = Some(cmd) } else { route_last = Some(cmd) }
            }
        },
    }

    // Workloads.
    for w in &desired.workloads {
        match &observed.workloads[w.class] {
            None => d.problems.push(format!("{} scale target {} not found", w.class, w.target)),
            Some(s) if s.replicas != w.replicas => scale.push(Command::ScaleWorkload {
                class: w.class,
                target: w.target.clone(),
                from: s.replicas,
                to: w.replicas,
            }),
            Some(_) => {}
        }
    }

    // Node pools and reclaim.
    for np in &desired.node_pools {
        let Some(view) = observed.node_pools[np.class] else {
            d.problems.push(format!("{} {:?} {} not found", np.class, np.kind, np.name));
            continue;
        };
        let members: Vec<&NodeInfo> = observed.nodes.iter().filter(|n| in_node_pool(n, np)).collect();
        let going = |n: &&NodeInfo| n.deleting || signals.reason(n).is_some();
        let live: Vec<&NodeInfo> = members.iter().copied().filter(|n| !going(n)).collect();
        let needed = np.nodes() as usize;

        // Idle nodes beyond what the plan needs are reclaimed, ours first so a half-done reclaim finishes.
        let mut idle: Vec<&NodeInfo> =
            live.iter().copied().filter(|n| !n.pods.iter().any(|p| p.holds_gpus())).collect();
        idle.sort_by_key(|n| (!ours(n), n.name.clone()));
        let excess = if desired.reclaim_idle_nodes { live.len().saturating_sub(needed) } else { 0 };
        let chosen: Vec<&NodeInfo> = idle.into_iter().take(excess).collect();
        let is_chosen = |n: &NodeInfo| chosen.iter().any(|c| c.name == n.name);
        let machine_of = |n: &NodeInfo| match np.kind {
            NodePoolKind::MachineDeployment => n
                .annotations
                .get(CAPI_MACHINE_ANNOTATION)
                .map(|m| (np.namespace.clone().unwrap_or_default(), m.clone())),
            NodePoolKind::NodePool => None,
        };
        for n in live.iter().filter(|n| ours(n) && !is_chosen(n)) {
            uncordon.push(Command::Uncordon { node: n.name.clone(), machine: machine_of(n) });
        }
        let mut drained = 0usize;
        for n in &chosen {
            let evict: Vec<_> = n.pods.iter().filter(|p| p.needs_eviction()).collect();
            let cordoned = n.unschedulable && ours(n);
            if !cordoned {
                reclaim.push(Command::Cordon { node: n.name.clone(), machine: machine_of(n) });
            }
            for p in &evict {
                reclaim.push(Command::Evict {
                    node: n.name.clone(),
                    namespace: p.namespace.clone(),
                    pod: p.name.clone(),
                });
            }
            if cordoned && evict.is_empty() {
                drained += 1;
                if np.kind == NodePoolKind::NodePool {
                    reclaim.push(Command::DeleteNode { node: n.name.clone() });
                }
            }
        }

        match np.kind {
            NodePoolKind::NodePool => {
                // Nodes on their way out still count against Karpenter's limit until they are gone; leave
                // room for their replacements or an interrupted spot node could not be replaced.
                let leaving: u32 =
                    members.iter().filter(|n| going(n)).map(|n| n.gpus.unwrap_or(np.gpus_per_node)).sum();
                let to = np.gpus + leaving;
                if view.gpu_limit != Some(to) {
                    let cmd = Command::SetNodePoolGpuLimit {
                        class: np.class,
                        name: np.name.clone(),
                        from: view.gpu_limit,
                        to,
                    };
                    if view.gpu_limit.is_some_and(|f| f > to) { shrink.push(cmd) } else { grow.push(cmd) }
                }
            }
            NodePoolKind::MachineDeployment => {
                let Some(spec) = view.replicas else {
                    d.problems.push(format!("{} MachineDeployment {} has no spec.replicas", np.class, np.name));
                    continue;
                };
                // Only shrink by machines already drained (and annotated for deletion): lowering replicas
                // further would let Cluster API pick a busy machine. Machines not yet joined count as not
                // drained, so a scale-up in flight can be cut back.
                let keep = (live.len() - drained).min(spec as usize).max(needed);
                let to = u32::try_from(keep).unwrap_or(u32::MAX);
                if to != spec {
                    let cmd = Command::ScaleMachineDeployment {
                        class: np.class,
                        namespace: np.namespace.clone().unwrap_or_default(),
                        name: np.name.clone(),
                        from: Some(spec),
                        to,
                    };
                    if to > spec { grow.push(cmd) } else { shrink.push(cmd) }
                }
            }
        }
    }

    d.commands.extend(route_first);
    d.commands.extend(uncordon);
    d.commands.extend(grow);
    d.commands.extend(scale);
    d.commands.extend(reclaim);
    d.commands.extend(shrink);
    d.commands.extend(route_last);
    d
}
