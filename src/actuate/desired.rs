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
    /// Each external provider's name and backend, in the spec's order (the single `external` form is
    /// one, behind `spec.route.externalBackend`).
    pub external: Vec<(String, BackendRef)>,
    pub weights: RouteWeights,
}

/// Weights of the backends of one route rule: the self-hosted backend's and each provider's (in the
/// target's order). Planned weights add up to 100.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteWeights {
    pub self_hosted: u32,
    pub external: Vec<u32>,
}

impl RouteTarget {
    /// The backends' names in the weights' order: "self-hosted", then each provider's name, or
    /// "external" for a single provider.
    pub fn backend_names(&self) -> Vec<String> {
        let mut names = vec!["self-hosted".to_string()];
        match self.external.as_slice() {
            [_] => names.push("external".into()),
            many => names.extend(many.iter().map(|(n, _)| n.clone())),
        }
        names
    }
}

impl RouteWeights {
    /// A plan's weights: the self-hosted weight and the providers' split of the external weight.
    pub fn of_plan(plan: &Plan, providers: usize) -> RouteWeights {
        let mut external = plan.provider_weights();
        external.resize(providers, 0);
        // A plan made without a split (none of its providers known to it) sends the external weight to
        // the first provider, so the weights still add up.
        let placed: u32 = external.iter().sum();
        if let Some(first) = external.first_mut() {
            *first += plan.traffic.external_weight.saturating_sub(placed);
        }
        RouteWeights { self_hosted: plan.traffic.self_hosted_weight, external }
    }

    /// The self-hosted weight and the providers' together.
    pub fn total(&self) -> TrafficWeights {
        TrafficWeights { self_hosted_weight: self.self_hosted, external_weight: self.external.iter().sum() }
    }

    /// "80/12/8": the weights in the target's order, self-hosted first.
    pub fn numbers(&self) -> String {
        std::iter::once(self.self_hosted)
            .chain(self.external.iter().copied())
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
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
        let providers = spec.providers();
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
                    gpus: plan.node_pool_gpus[class],
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
                external: providers.iter().map(|p| (p.name.clone(), p.backend_ref.clone())).collect(),
                weights: RouteWeights::of_plan(plan, providers.len()),
            },
            reclaim_idle_nodes,
        }
    }
}
