//! What the actuator needs to know about the cluster, as plain data. Built from the API objects by the
//! `from_*` constructors (or by `execute::observe`), so the decision in `decide` stays a pure function.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::planner::Class;
use crate::planner::PerClass;
use crate::selector::{Selector, SelectorExt};

/// The resource name of NVIDIA GPUs in requests, limits and allocatable.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The cluster state relevant to one pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Per class: the scale target's /scale view, `None` when not found.
    pub workloads: PerClass<Option<ScaleView>>,
    /// Per class: the node pool's current size, `None` when not found or the class has no node pool.
    pub node_pools: PerClass<Option<NodePoolView>>,
    /// The HTTPRoute as JSON, `None` when not found.
    pub route: Option<serde_json::Value>,
    /// The Gateway API Inference Extension InferencePool the route's self-hosted backend names, as JSON;
    /// `None` when not found or when that backend is not one (see [`super::gie`]).
    pub gie_pool: Option<serde_json::Value>,
    /// GPU nodes with the pods on them.
    pub nodes: Vec<NodeInfo>,
}

/// The /scale subresource of a workload, and its ready replicas.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScaleView {
    /// spec.replicas.
    pub replicas: u32,
    /// status.replicas: pods that exist (ready or starting), i.e. replicas holding GPUs, which is what
    /// the cost ledger bills.
    pub current: u32,
    /// status.selector, the label selector of its pods in string form.
    pub selector: Option<String>,
    /// The workload's status.readyReplicas (Deployment, StatefulSet and LeaderWorkerSet all publish
    /// it; /scale does not). A workload without the field counts as none ready: unknown readiness never
    /// lets the planner move traffic onto replicas that may not serve.
    pub ready: u32,
    /// The labels of its pods (spec.template.metadata.labels of a Deployment or StatefulSet), `None` for
    /// kinds that keep them elsewhere.
    pub pod_labels: Option<BTreeMap<String, String>>,
}

impl ScaleView {
    /// The view of a Deployment or StatefulSet read from the object itself: its scale subresource is
    /// defined on exactly these fields (spec.replicas, status.replicas, spec.selector), so one GET of
    /// the object reads what /scale and the object would.
    pub fn from_object(obj: &serde_json::Value) -> ScaleView {
        let count = |path: &str| {
            obj.pointer(path).and_then(serde_json::Value::as_u64).map(|v| v.min(u64::from(u32::MAX)) as u32)
        };
        ScaleView {
            // The API server defaults spec.replicas to 1.
            replicas: count("/spec/replicas").unwrap_or(1),
            current: count("/status/replicas").unwrap_or(0),
            selector: obj.pointer("/spec/selector").map(|s| crate::selector::from_object(s).to_string()),
            ready: count("/status/readyReplicas").unwrap_or(0),
            pod_labels: obj.pointer("/spec/template/metadata/labels").and_then(serde_json::Value::as_object).map(
                |labels| labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect(),
            ),
        }
    }
}

/// The size of a node pool.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodePoolView {
    /// Karpenter: spec.limits["nvidia.com/gpu"]; `None` when unset (unlimited) or not a whole number.
    pub gpu_limit: Option<u32>,
    /// MachineDeployment: spec.replicas.
    pub replicas: Option<u32>,
}

/// A node, reduced to what reclaim and interruption handling need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// spec.unschedulable.
    pub unschedulable: bool,
    /// metadata.deletionTimestamp is set.
    pub deleting: bool,
    /// Taint keys.
    pub taints: Vec<String>,
    /// Condition types whose status is True.
    pub true_conditions: Vec<String>,
    /// status.allocatable["nvidia.com/gpu"], when a whole number.
    pub gpus: Option<u32>,
    /// Pods bound to the node.
    pub pods: Vec<PodInfo>,
}

/// A pod, reduced to what draining and interruption handling need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// GPUs requested (sum over containers, requests or else limits).
    pub gpus: u32,
    /// Owned by a DaemonSet: never evicted (it would be recreated at once), as `kubectl drain` does.
    pub daemonset: bool,
    /// A static (mirror) pod: cannot be evicted through the API.
    pub mirror: bool,
    /// Succeeded or Failed: holds nothing.
    pub terminal: bool,
    /// Already being deleted.
    pub terminating: bool,
    /// Ready condition is True.
    pub ready: bool,
}

impl PodInfo {
    /// Whether draining the node must evict this pod.
    pub fn needs_eviction(&self) -> bool {
        !(self.daemonset || self.mirror || self.terminal || self.terminating)
    }

    /// Whether the pod holds GPUs now.
    pub fn holds_gpus(&self) -> bool {
        self.gpus > 0 && !self.terminal
    }

    /// Reduce an API pod.
    pub fn from_pod(pod: &Pod) -> Self {
        let md = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let gpus = spec
            .map(|s| {
                s.containers
                    .iter()
                    .filter_map(|c| c.resources.as_ref())
                    .map(|r| {
                        let q = r.requests.as_ref().and_then(|m| m.get(GPU_RESOURCE));
                        let q = q.or_else(|| r.limits.as_ref().and_then(|m| m.get(GPU_RESOURCE)));
                        q.and_then(whole_quantity).unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0);
        let phase = status.and_then(|s| s.phase.as_deref());
        PodInfo {
            namespace: md.namespace.clone().unwrap_or_default(),
            name: md.name.clone().unwrap_or_default(),
            labels: md.labels.clone().unwrap_or_default(),
            gpus,
            daemonset: md.owner_references.iter().flatten().any(|o| o.kind == "DaemonSet"),
            mirror: md.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror")),
            terminal: matches!(phase, Some("Succeeded") | Some("Failed")),
            terminating: md.deletion_timestamp.is_some(),
            ready: status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        }
    }
}

impl NodeInfo {
    /// Reduce an API node and the pods bound to it (pods whose spec.nodeName is another node are ignored).
    pub fn from_node(node: &Node, pods: &[Pod]) -> Self {
        let md = &node.metadata;
        let name = md.name.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        NodeInfo {
            labels: md.labels.clone().unwrap_or_default(),
            annotations: md.annotations.clone().unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            deleting: md.deletion_timestamp.is_some(),
            taints: spec.and_then(|s| s.taints.as_ref()).into_iter().flatten().map(|t| t.key.clone()).collect(),
            true_conditions: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.clone())
                .collect(),
            gpus: status
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(GPU_RESOURCE))
                .and_then(whole_quantity),
            pods: pods
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
                .map(PodInfo::from_pod)
                .collect(),
            name,
        }
    }
}

/// A quantity that is a plain whole number, as GPU counts always are ("8"); anything else ("8.5", "1k")
/// is `None`, which callers treat as unknown rather than guessing.
pub fn whole_quantity(q: &Quantity) -> Option<u32> {
    q.0.trim().parse().ok()
}

/// Which class's pods a label set belongs to, from the classes' scale selectors.
pub fn class_of(labels: &BTreeMap<String, String>, selectors: &[(Class, Selector)]) -> Option<Class> {
    selectors.iter().find(|(_, s)| s.matches(labels)).map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_nodes_and_pods_from_api_json() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "gpu-1", "labels": {"karpenter.sh/nodepool": "h100-spot"}},
            "spec": {"unschedulable": true, "taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"nvidia.com/gpu": "8"},
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}]}
        }))
        .unwrap();
        let pods: Vec<Pod> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "vllm-0", "namespace": "inference", "labels": {"app": "llama"}},
             "spec": {"nodeName": "gpu-1", "containers": [{"name": "vllm",
                      "resources": {"limits": {"nvidia.com/gpu": "4"}}}]},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "dcgm", "namespace": "gpu", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "dcgm", "uid": "u"}]},
             "spec": {"nodeName": "gpu-1", "containers": [{"name": "dcgm"}]}},
            {"metadata": {"name": "elsewhere", "namespace": "x"},
             "spec": {"nodeName": "gpu-2", "containers": [{"name": "c"}]}}
        ]))
        .unwrap();
        let n = NodeInfo::from_node(&node, &pods);
        assert_eq!(n.gpus, Some(8));
        assert!(n.unschedulable);
        assert_eq!(n.taints, vec!["karpenter.sh/disrupted"]);
        assert_eq!(n.true_conditions, vec!["Ready"]);
        assert_eq!(n.pods.len(), 2);
        assert_eq!((n.pods[0].gpus, n.pods[0].ready, n.pods[0].needs_eviction()), (4, true, true));
        assert!(n.pods[1].daemonset && !n.pods[1].needs_eviction() && !n.pods[1].holds_gpus());
    }

    #[test]
    fn a_deployment_object_gives_its_scale_view_in_one_read() {
        let d = serde_json::json!({
            "spec": {"replicas": 3, "selector": {
                "matchLabels": {"app": "llm", "class": "spot"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "Exists"},
                    {"key": "old", "operator": "NotIn", "values": ["x"]}
                ]}},
            "status": {"replicas": 3, "readyReplicas": 2}
        });
        let v = ScaleView::from_object(&d);
        assert_eq!((v.replicas, v.current, v.ready), (3, 3, 2));
        let sel = v.selector.expect("selector");
        assert_eq!(sel, "app=llm,class=spot,tier in (a,b),!canary,zone,old notin (x)");
        let s = crate::selector::parse(&sel).expect("parses");
        let labels = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(s.matches(&labels(&[("app", "llm"), ("class", "spot"), ("tier", "b"), ("zone", "z1")])));
        assert!(!s.matches(&labels(&[("app", "llm"), ("class", "spot"), ("tier", "c"), ("zone", "z1")])));
        assert!(!s.matches(&labels(&[
            ("app", "llm"),
            ("class", "spot"),
            ("tier", "a"),
            ("zone", "z1"),
            ("canary", "1")
        ])));
        // No status yet: nothing ready, nothing running; replicas defaulted as the API server does.
        let fresh = ScaleView::from_object(&serde_json::json!({"spec": {"selector": {"matchLabels": {"app": "llm"}}}}));
        assert_eq!((fresh.replicas, fresh.current, fresh.ready), (1, 0, 0));
    }
}
