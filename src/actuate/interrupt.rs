//! Spot interruption notices: which GPU nodes are about to go, and which replicas they carry.
//!
//! Signals recognised by default (all configurable):
//! - taint `aws-node-termination-handler/spot-itn` (AWS Node Termination Handler, on a spot interruption
//!   notice);
//! - taint `karpenter.sh/disrupted` (Karpenter v1, on a node it is about to disrupt, including after an
//!   interruption event from its SQS queue);
//! - taint `cloud.google.com/impending-node-termination` (GKE graceful node shutdown for spot/preemptible);
//! - condition `SpotInterruption` = True, for clusters whose node problem detector or termination
//!   handler reports a condition rather than a taint.

use super::observed::{NodeInfo, class_of};
use crate::planner::{Class, PerClass};
use crate::selector::Selector;

/// Which taints and conditions mean "this node is being interrupted".
#[derive(Clone, Debug, PartialEq)]
pub struct InterruptionSignals {
    /// Taint keys.
    pub taint_keys: Vec<String>,
    /// Node condition types that mean an interruption when True.
    pub condition_types: Vec<String>,
}

impl Default for InterruptionSignals {
    fn default() -> Self {
        InterruptionSignals {
            taint_keys: vec![
                "aws-node-termination-handler/spot-itn".into(),
                "karpenter.sh/disrupted".into(),
                "cloud.google.com/impending-node-termination".into(),
            ],
            condition_types: vec!["SpotInterruption".into()],
        }
    }
}

impl InterruptionSignals {
    /// Why `node` counts as interrupted, or `None`.
    pub fn reason(&self, node: &NodeInfo) -> Option<String> {
        if let Some(t) = node.taints.iter().find(|t| self.taint_keys.contains(t)) {
            return Some(format!("taint {t}"));
        }
        node.true_conditions.iter().find(|c| self.condition_types.contains(c)).map(|c| format!("condition {c}=True"))
    }
}

/// Interrupted nodes and the replicas on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interruptions {
    /// (node, why), in node order.
    pub nodes: Vec<(String, String)>,
    /// Ready replicas per class on interrupted nodes: the planner's `ClassObservation::interrupted`.
    pub affected: PerClass<u32>,
    /// The affected pods as (class, namespace, name).
    pub pods: Vec<(Class, String, String)>,
}

/// Find interrupted nodes and count the pool's ready replicas on them. `selectors` map each class to
/// its workload's pod selector (from /scale `status.selector`); only pods in `namespace` count.
pub fn find_interruptions(
    nodes: &[NodeInfo],
    namespace: &str,
    selectors: &[(Class, Selector)],
    signals: &InterruptionSignals,
) -> Interruptions {
    let mut out = Interruptions::default();
    for node in nodes {
        let Some(why) = signals.reason(node) else { continue };
        out.nodes.push((node.name.clone(), why));
        for pod in node.pods.iter().filter(|p| p.namespace == namespace && p.ready && !p.terminal) {
            if let Some(class) = class_of(&pod.labels, selectors) {
                out.affected[class] += 1;
                out.pods.push((class, pod.namespace.clone(), pod.name.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::observed::PodInfo;

    fn pod(ns: &str, name: &str, tier: &str, ready: bool) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: [("app".to_string(), "llama".to_string()), ("tier".to_string(), tier.to_string())].into(),
            gpus: 4,
            ready,
            ..Default::default()
        }
    }

    #[test]
    fn finds_nodes_by_taint_or_condition_and_counts_ready_replicas() {
        let nodes = vec![
            NodeInfo {
                name: "a".into(),
                taints: vec!["aws-node-termination-handler/spot-itn".into()],
                pods: vec![pod("inference", "s1", "spot", true), pod("inference", "s2", "spot", false)],
                ..Default::default()
            },
            NodeInfo {
                name: "b".into(),
                true_conditions: vec!["Ready".into(), "SpotInterruption".into()],
                pods: vec![pod("inference", "s3", "spot", true), pod("other", "s4", "spot", true)],
                ..Default::default()
            },
            NodeInfo {
                name: "c".into(),
                taints: vec!["nvidia.com/gpu".into()],
                pods: vec![pod("inference", "s5", "spot", true)],
                ..Default::default()
            },
        ];
        let selectors = vec![
            (Class::Spot, crate::selector::parse("app=llama,tier=spot").unwrap()),
            (Class::OnDemand, crate::selector::parse("app=llama,tier=ondemand").unwrap()),
        ];
        let i = find_interruptions(&nodes, "inference", &selectors, &InterruptionSignals::default());
        assert_eq!(
            i.nodes,
            vec![
                ("a".to_string(), "taint aws-node-termination-handler/spot-itn".to_string()),
                ("b".to_string(), "condition SpotInterruption=True".to_string())
            ]
        );
        assert_eq!(i.affected, PerClass { reserved: 0, spot: 2, on_demand: 0 });
        assert_eq!(i.pods.len(), 2);
    }
}
