//! Node-pool sizing decisions as plain functions: which pools launch how many nodes for the pending
//! pods (within each pool's GPU limit), and which nodes go first when a pool shrinks. The Karpenter and
//! Cluster API loops only gather inputs and carry the decisions out.

use std::collections::BTreeMap;

use super::predicates::{NodeShape, PodNeeds, choose_node, fits};

/// A node pool as the provisioner sees it: the node it would launch and its GPU limit.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolShape {
    pub name: String,
    /// Karpenter `spec.weight`: higher weights are tried first.
    pub weight: i64,
    /// Labels, taints and GPUs of a node this pool launches (the name is unused).
    pub template: NodeShape,
    /// `spec.limits["nvidia.com/gpu"]`; `None` means unlimited.
    pub gpu_limit: Option<u64>,
    /// Labels the pool may set to any of several values (a Karpenter `In` requirement with several
    /// values, e.g. instance types): the template carries the first, a pod asking for another gets it.
    pub choices: BTreeMap<String, Vec<String>>,
}

/// How many nodes of which shape one pool should launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub pool: String,
    pub nodes: u64,
    /// The node to launch: the pool's template, with label choices made for the pod that asked.
    pub template: NodeShape,
}

/// The pool's template with each label choice set to the value the pod asks for (by nodeSelector or by
/// an `In` expression of a required node-affinity term), as Karpenter picks an instance type that
/// satisfies both the pool's requirements and the pod's.
pub fn specialize(pool: &PoolShape, pod: &PodNeeds) -> NodeShape {
    let mut node = pool.template.clone();
    for (key, values) in &pool.choices {
        let from_selector = pod.node_selector.get(key).filter(|v| values.contains(v));
        let from_affinity = || {
            pod.required_terms
                .iter()
                .flatten()
                .flat_map(|t| t.match_expressions.iter().flatten())
                .filter(|r| &r.key == key && r.operator == "In")
                .flat_map(|r| r.values.iter().flatten())
                .find(|v| values.contains(v))
        };
        if let Some(v) = from_selector.or_else(from_affinity) {
            node.labels.insert(key.clone(), v.clone());
        }
    }
    node
}

/// Decides the launches for `pending` pods (in the order given, which should be the scheduler's).
///
/// `capacity` holds every node a pending pod could still land on without a launch, with the GPUs
/// already used on it: registered nodes and nodes being launched. Pending pods are first packed onto that
/// capacity (a node in flight will take them when it registers); the rest go to the first pool (highest
/// weight, then name) whose template fits the pod and whose GPUs (`pool_gpus`, counting nodes in flight)
/// stay within its limit after one more node. Pods no pool can take stay pending. Later pods pack onto
/// nodes earlier pods caused to be launched, so three 1-GPU pods and a 4-GPU node template give one node.
pub fn plan_launches(
    pending: &[PodNeeds],
    pools: &[PoolShape],
    capacity: &[(NodeShape, u64)],
    pool_gpus: &BTreeMap<String, u64>,
) -> Vec<Launch> {
    let mut capacity: Vec<(NodeShape, u64)> = capacity.to_vec();
    let mut pool_gpus = pool_gpus.clone();
    let mut order: Vec<&PoolShape> = pools.iter().collect();
    order.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.name.cmp(&b.name)));
    let mut launches: Vec<Launch> = Vec::new();
    for pod in pending {
        if let Ok(node) = choose_node(pod, &capacity) {
            let name = node.name.clone();
            if let Some(slot) = capacity.iter_mut().find(|(n, _)| n.name == name) {
                slot.1 += pod.gpus;
            }
            continue;
        }
        for pool in &order {
            let template = specialize(pool, pod);
            if fits(pod, &template, 0).is_err() {
                continue;
            }
            let used = pool_gpus.get(&pool.name).copied().unwrap_or(0);
            let after = used.saturating_add(template.gpus);
            if pool.gpu_limit.is_some_and(|limit| after > limit) {
                continue;
            }
            pool_gpus.insert(pool.name.clone(), after);
            let n = launches.len();
            match launches.iter_mut().find(|l| l.pool == pool.name && l.template == template) {
                Some(l) => l.nodes += 1,
                None => launches.push(Launch { pool: pool.name.clone(), nodes: 1, template: template.clone() }),
            }
            let mut node = template;
            // Hypothetical names cannot clash with real ones (no '#' in Kubernetes names).
            node.name = format!("{}#{n}", pool.name);
            capacity.push((node, pod.gpus));
            break;
        }
    }
    launches
}

/// A node of a pool (registered or in flight) as the scale-down decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub gpus: u64,
    /// Pods bound to it (not terminating).
    pub pods: usize,
    /// Still being launched: not a Node yet, so cancelling it disturbs nothing.
    pub launching: bool,
    /// Marked for removal by someone else: cordoned, or annotated `cluster.x-k8s.io/delete-machine`.
    pub marked: bool,
    /// Creation time in milliseconds since the epoch (launch time for nodes in flight).
    pub created_ms: i64,
}

/// The order in which a shrinking pool gives nodes back: launches in flight first, then nodes marked
/// for removal (an operator cordons the idle node it hands back), then empty nodes, then nodes with the
/// fewest pods; within each, the newest first (ties by name, for determinism).
pub fn removal_order(members: &[Member]) -> Vec<&Member> {
    let mut order: Vec<&Member> = members.iter().collect();
    order.sort_by(|a, b| {
        b.launching
            .cmp(&a.launching)
            .then_with(|| b.marked.cmp(&a.marked))
            .then_with(|| a.pods.cmp(&b.pods))
            .then_with(|| b.created_ms.cmp(&a.created_ms))
            .then_with(|| b.name.cmp(&a.name))
    });
    order
}

/// The nodes to remove so the pool's GPUs come within `limit`, in removal order.
pub fn trim_to_gpu_limit(members: &[Member], limit: u64) -> Vec<String> {
    let mut total: u64 = members.iter().map(|m| m.gpus).sum();
    let mut out = Vec::new();
    for m in removal_order(members) {
        if total <= limit {
            break;
        }
        total -= m.gpus;
        out.push(m.name.clone());
    }
    out
}

/// The nodes to remove so the pool has at most `count` nodes, in removal order.
pub fn trim_to_count(members: &[Member], count: usize) -> Vec<String> {
    let excess = members.len().saturating_sub(count);
    removal_order(members).into_iter().take(excess).map(|m| m.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Taint, Toleration};

    fn template(labels: &[(&str, &str)], gpus: u64) -> NodeShape {
        NodeShape {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            gpus,
            ..Default::default()
        }
    }

    fn launch(pool: &PoolShape, nodes: u64) -> Launch {
        Launch { pool: pool.name.clone(), nodes, template: pool.template.clone() }
    }

    fn pod(gpus: u64, selector: &[(&str, &str)]) -> PodNeeds {
        PodNeeds {
            gpus,
            node_selector: selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    fn pool(name: &str, weight: i64, tmpl: NodeShape, limit: Option<u64>) -> PoolShape {
        PoolShape { name: name.into(), weight, template: tmpl, gpu_limit: limit, choices: BTreeMap::new() }
    }

    #[test]
    fn launches_pack_pods_and_respect_the_gpu_limit() {
        let pools = [pool("spot", 0, template(&[("karpenter.sh/nodepool", "spot")], 2), Some(4))];
        let pending = vec![pod(1, &[("karpenter.sh/nodepool", "spot")]); 5];
        let plan = plan_launches(&pending, &pools, &[], &BTreeMap::new());
        assert_eq!(plan, vec![launch(&pools[0], 2)], "4 GPUs fit 4 pods; the 5th waits");
        let used = BTreeMap::from([("spot".to_string(), 2)]);
        let plan = plan_launches(&pending, &pools, &[], &used);
        assert_eq!(plan, vec![launch(&pools[0], 1)]);
    }

    #[test]
    fn capacity_in_flight_absorbs_pending_pods() {
        let pools = [pool("p", 0, template(&[("pool", "p")], 1), None)];
        let mut inflight = template(&[("pool", "p")], 1);
        inflight.name = "p-abcde".into();
        let pending = vec![pod(1, &[("pool", "p")]), pod(1, &[("pool", "p")])];
        let plan = plan_launches(&pending, &pools, &[(inflight.clone(), 0)], &BTreeMap::new());
        assert_eq!(plan, vec![launch(&pools[0], 1)]);
        let plan = plan_launches(&pending, &pools, &[(inflight, 1)], &BTreeMap::new());
        assert_eq!(plan, vec![launch(&pools[0], 2)], "a full node absorbs nothing");
    }

    #[test]
    fn pools_are_tried_by_weight_and_must_match_the_pod() {
        let mut tainted = template(&[("gpu", "yes"), ("tier", "spot")], 1);
        tainted.taints.push(Taint { key: "spot".into(), value: None, effect: "NoSchedule".into(), time_added: None });
        let pools = [
            pool("a-light", 1, template(&[("gpu", "yes")], 1), None),
            pool("b-heavy", 10, tainted, None),
            pool("c-other", 100, template(&[("gpu", "no")], 1), None),
        ];
        let plan = plan_launches(&[pod(1, &[("gpu", "yes")])], &pools, &[], &BTreeMap::new());
        assert_eq!(plan, vec![launch(&pools[0], 1)], "b-heavy's taint is not tolerated");
        let mut tolerant = pod(1, &[("gpu", "yes")]);
        tolerant.tolerations.push(Toleration {
            key: Some("spot".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        });
        let plan = plan_launches(&[tolerant], &pools, &[], &BTreeMap::new());
        assert_eq!(plan, vec![launch(&pools[1], 1)]);
        let plan = plan_launches(&[pod(2, &[("gpu", "yes")])], &pools, &[], &BTreeMap::new());
        assert!(plan.is_empty(), "no template has 2 GPUs");
    }

    #[test]
    fn label_choices_follow_the_pod() {
        let mut pool = pool("g5", 0, template(&[("node.kubernetes.io/instance-type", "g5.xlarge")], 1), None);
        pool.choices.insert("node.kubernetes.io/instance-type".into(), vec!["g5.xlarge".into(), "g5.12xlarge".into()]);
        let big = pod(1, &[("node.kubernetes.io/instance-type", "g5.12xlarge")]);
        let plan = plan_launches(&[big.clone(), pod(1, &[])], std::slice::from_ref(&pool), &[], &BTreeMap::new());
        let types: Vec<(&str, u64)> =
            plan.iter().map(|l| (l.template.labels["node.kubernetes.io/instance-type"].as_str(), l.nodes)).collect();
        assert_eq!(types, [("g5.12xlarge", 1), ("g5.xlarge", 1)]);
        let other = pod(1, &[("node.kubernetes.io/instance-type", "p5.48xlarge")]);
        assert!(plan_launches(&[other], &[pool], &[], &BTreeMap::new()).is_empty(), "not among the choices");
    }

    fn member(name: &str, gpus: u64, pods: usize, launching: bool, created_ms: i64) -> Member {
        Member { name: name.into(), gpus, pods, launching, marked: false, created_ms }
    }

    #[test]
    fn shrinking_gives_back_launches_then_empty_then_least_loaded_newest_first() {
        let members = [
            member("old-empty", 1, 0, false, 1),
            member("new-empty", 1, 0, false, 5),
            member("busy", 1, 2, false, 9),
            member("light", 1, 1, false, 3),
            member("flight", 1, 0, true, 10),
        ];
        let names: Vec<&str> = removal_order(&members).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["flight", "new-empty", "old-empty", "light", "busy"]);
        assert_eq!(trim_to_gpu_limit(&members, 3), ["flight", "new-empty"]);
        assert_eq!(trim_to_gpu_limit(&members, 5), Vec::<String>::new());
        assert_eq!(trim_to_count(&members, 1), ["flight", "new-empty", "old-empty", "light"]);
        let mut members = members.to_vec();
        members[2].marked = true;
        assert_eq!(trim_to_count(&members, 3), ["flight", "busy"], "a cordoned node goes before empty ones");
    }
}
