//! What one pool's plan asks of the cluster, resolved against the pool's spec (names, kinds, namespaces).

use crate::api::inference_pool::{BackendRef, InferencePoolSpec, NodePoolKind};
use crate::planner::{Class, Plan, TrafficWeights};

/// A namespaced or cluster-scoped object by apiVersion, kind and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Replicas wanted of one class's workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadTarget {
    pub class: Class,
    pub target: ObjectRef,
    pub replicas: u32,
}

/// GPUs wanted of one class's node pool.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePoolTarget {
    pub class: Class,
    pub kind: NodePoolKind,
    pub name: String,
    /// Namespace of a MachineDeployment; `None` for a (cluster-scoped) Karpenter NodePool.
    pub namespace: Option<String>,
    pub gpus: u32,
    pub gpus_per_node: u32,
}

impl NodePoolTarget {
    /// Nodes needed to hold `gpus`.
    pub fn nodes(&self) -> u32 {
        self.gpus.div_ceil(self.gpus_per_node.max(1))
    }
}

/// Route weights wanted.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteTarget {
    pub namespace: String,
    pub name: String,
    pub rule_index: usize,
    pub self_hosted: BackendRef,
    pub external: BackendRef,
    pub weights: TrafficWeights,
}

/// Everything one plan asks of the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub workloads: Vec<WorkloadTarget>,
    pub node_pools: Vec<NodePoolTarget>,
    pub route: RouteTarget,
    /// Whether idle GPU nodes beyond the plan are cordoned, drained and handed back (the policy's
    /// `idleReclaim.enabled`). When false, nodes hybridscale cordoned earlier are uncordoned.
    pub reclaim_idle_nodes: bool,
}

impl Desired {
    /// Resolve a plan against the pool's spec. Classes the spec does not configure are skipped (the
    /// planner never gives them replicas). `reclaim_idle_nodes` is the policy's `idleReclaim.enabled`:
    /// a required argument, so no caller can leave it at a default the policy did not choose.
    pub fn from_plan(namespace: &str, spec: &InferencePoolSpec, plan: &Plan, reclaim_idle_nodes: bool) -> Self {
        let mut workloads = Vec::new();
        let mut node_pools = Vec::new();
        for class in Class::ALL {
            let Some(cc) = spec.capacity.get(class) else { continue };
            workloads.push(WorkloadTarget {
                class,
                target: ObjectRef {
                    api_version: cc.scale_target_ref.api_version.clone(),
                    kind: cc.scale_target_ref.kind.clone(),
                    namespace: Some(namespace.to_string()),
                    name: cc.scale_target_ref.name.clone(),
                },
                replicas: plan.replicas.get(class),
            });
            if let Some(np) = &cc.node_pool_ref {
                node_pools.push(NodePoolTarget {
                    class,
                    kind: np.kind,
                    name: np.name.clone(),
                    namespace: match np.kind {
                        NodePoolKind::NodePool => None,
                        NodePoolKind::MachineDeployment => {
                            Some(np.namespace.clone().unwrap_or_else(|| namespace.to_string()))
                        }
                    },
                    gpus: plan.node_pool_gpus[class as usize],
                    gpus_per_node: np.gpus_per_node,
                });
            }
        }
        Desired {
            workloads,
            node_pools,
            route: RouteTarget {
                namespace: namespace.to_string(),
                name: spec.route.http_route.clone(),
                rule_index: spec.route.rule_index as usize,
                self_hosted: spec.route.self_hosted_backend.clone(),
                external: spec.route.external_backend.clone(),
                weights: plan.traffic,
            },
            reclaim_idle_nodes,
        }
    }
}
