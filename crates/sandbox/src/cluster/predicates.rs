//! Scheduling predicates as plain functions: nodeSelector, required node affinity, taints and
//! tolerations, cordoning and `nvidia.com/gpu` capacity. The scheduler, the node-pool provisioner and
//! the tests all use these, so "would this pod fit on a node of that pool" has one answer.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::well_known::GPU;

/// What a pod asks of a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodNeeds {
    /// `nvidia.com/gpu` the pod requests (extended resources: requests default to limits).
    pub gpus: u64,
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; `None` when absent.
    pub required_terms: Option<Vec<NodeSelectorTerm>>,
    pub tolerations: Vec<Toleration>,
}

/// What a node (real or hypothetical, e.g. one a node pool would launch) offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeShape {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Allocatable `nvidia.com/gpu`.
    pub gpus: u64,
}

/// Why a pod does not fit a node; the order is the order the checks run in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unfit {
    Cordoned,
    Affinity,
    Taint(String),
    InsufficientGpu,
}

/// A pod's GPU request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container {container}: {GPU} quantity {quantity:?} is not a whole number")]
pub struct BadQuantity {
    pub container: String,
    pub quantity: String,
}

/// Parses a whole-number quantity (`"2"`, `"0"`); extended resources cannot be fractional.
pub fn whole_quantity(q: &Quantity) -> Option<u64> {
    let s = q.0.trim();
    if let Some(k) = s.strip_suffix('k') {
        return k.parse::<u64>().ok().and_then(|v| v.checked_mul(1000));
    }
    s.parse::<u64>().ok()
}

impl PodNeeds {
    /// Reads a pod's scheduling needs. Only the GPU quantity can be malformed.
    pub fn of(pod: &Pod) -> Result<Self, BadQuantity> {
        let Some(spec) = pod.spec.as_ref() else {
            return Ok(PodNeeds::default());
        };
        let container_gpus = |c: &k8s_openapi::api::core::v1::Container| -> Result<u64, BadQuantity> {
            let res = c.resources.as_ref();
            let q = res
                .and_then(|r| r.requests.as_ref())
                .and_then(|m| m.get(GPU))
                .or_else(|| res.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(GPU)));
            match q {
                None => Ok(0),
                Some(q) => {
                    whole_quantity(q).ok_or_else(|| BadQuantity { container: c.name.clone(), quantity: q.0.clone() })
                }
            }
        };
        let mut app = 0u64;
        for c in &spec.containers {
            app = app.saturating_add(container_gpus(c)?);
        }
        // Init containers run one at a time before the app containers: the pod needs the larger of
        // the biggest init container and the sum of the app containers (as the real scheduler does).
        let mut init = 0u64;
        for c in spec.init_containers.iter().flatten() {
            init = init.max(container_gpus(c)?);
        }
        let required_terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
            .map(|ns| ns.node_selector_terms.clone());
        Ok(PodNeeds {
            gpus: app.max(init),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_terms,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
        })
    }
}

impl NodeShape {
    /// Reads a Node's labels, taints, cordon flag and allocatable GPUs (capacity when allocatable is unset).
    pub fn of(node: &Node) -> Self {
        let status = node.status.as_ref();
        let gpus = status
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|m| m.get(GPU))
            .or_else(|| status.and_then(|s| s.capacity.as_ref()).and_then(|m| m.get(GPU)))
            .and_then(whole_quantity)
            .unwrap_or(0);
        let spec = node.spec.as_ref();
        NodeShape {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            gpus,
        }
    }
}

/// One nodeSelectorRequirement against a node's labels (or, for matchFields, its fields).
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt/Lt take exactly one integer value and compare it with the label as an integer.
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value.and_then(|v| v.parse::<i64>().ok()), values) else {
                return false;
            };
            let Ok(bound) = bound.parse::<i64>() else { return false };
            if req.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// A nodeSelectorTerm: all of its expressions and fields must match; an empty term matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeShape) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            // metadata.name is the only field the real scheduler supports in matchFields.
            r.key == "metadata.name" && requirement_matches(r, Some(node.name.as_str()))
        })
}

/// nodeSelector (all pairs) and required node affinity (any term).
pub fn affinity_matches(pod: &PodNeeds, node: &NodeShape) -> bool {
    let selector_ok = pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v));
    let affinity_ok = match &pod.required_terms {
        None => true,
        Some(terms) => terms.iter().any(|t| term_matches(t, node)),
    };
    selector_ok && affinity_ok
}

/// Whether one toleration tolerates one taint (the real `ToleratesTaint`).
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = tol.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or("");
    // An empty key with operator Exists matches every taint.
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match tol.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => !key.is_empty() && tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// The first NoSchedule/NoExecute taint the pod does not tolerate (PreferNoSchedule never blocks).
pub fn untolerated_taint<'a>(tolerations: &[Toleration], taints: &'a [Taint]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// Whether `pod` fits on `node` that already has `used_gpus` GPUs taken.
pub fn fits(pod: &PodNeeds, node: &NodeShape, used_gpus: u64) -> Result<(), Unfit> {
    if node.unschedulable {
        return Err(Unfit::Cordoned);
    }
    if !affinity_matches(pod, node) {
        return Err(Unfit::Affinity);
    }
    if let Some(t) = untolerated_taint(&pod.tolerations, &node.taints) {
        return Err(Unfit::Taint(t.key.clone()));
    }
    if used_gpus.saturating_add(pod.gpus) > node.gpus {
        return Err(Unfit::InsufficientGpu);
    }
    Ok(())
}

/// Picks the node for a pod among `(node, used_gpus)`: best fit on GPUs (fewest GPUs left over, which
/// packs nodes so empty ones can be handed back, like the MostAllocated scoring Karpenter users
/// configure), ties broken by node name so the choice is deterministic. On failure, the per-node reasons.
pub fn choose_node<'a>(pod: &PodNeeds, nodes: &'a [(NodeShape, u64)]) -> Result<&'a NodeShape, Vec<Unfit>> {
    let mut best: Option<(u64, &NodeShape)> = None;
    let mut reasons = Vec::new();
    for (node, used) in nodes {
        match fits(pod, node, *used) {
            Ok(()) => {
                let left = node.gpus - used - pod.gpus;
                let better = match best {
                    None => true,
                    Some((l, b)) => left < l || (left == l && node.name < b.name),
                };
                if better {
                    best = Some((left, node));
                }
            }
            Err(r) => reasons.push(r),
        }
    }
    best.map(|(_, n)| n).ok_or(reasons)
}

/// The scheduler's FailedScheduling message in the real form:
/// `0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node affinity/selector.`
pub fn unschedulable_message(total: usize, reasons: &[Unfit]) -> String {
    if total == 0 {
        // kube-scheduler's ErrNoNodesAvailable.
        return "no nodes available to schedule pods".to_string();
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in reasons {
        let text = match r {
            Unfit::Cordoned => "node(s) were unschedulable".to_string(),
            Unfit::Affinity => "node(s) didn't match Pod's node affinity/selector".to_string(),
            Unfit::Taint(key) => format!("node(s) had untolerated taint {{{key}}}"),
            Unfit::InsufficientGpu => format!("Insufficient {GPU}"),
        };
        *counts.entry(text).or_default() += 1;
    }
    if counts.is_empty() {
        return format!("0/{total} nodes are available.");
    }
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    format!("0/{total} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
#[path = "predicates_tests.rs"]
mod tests;
