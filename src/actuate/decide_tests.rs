//! Table tests of `decide`: every rule of the pure half of actuation.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::command::Command;
use super::decide::*;
use super::desired::{Desired, NodePoolTarget, ObjectRef, RouteTarget, RouteWeights, WorkloadTarget};
use super::interrupt::InterruptionSignals;
use super::observed::{NodeInfo, NodePoolView, Observed, PodInfo, ScaleView};
use crate::api::inference_pool::{BackendRef, InferencePoolSpec, NodePoolKind};
use crate::planner::{Class, Memory, PerClass, Plan, TrafficWeights};

fn weights(own: u32) -> TrafficWeights {
    TrafficWeights { self_hosted_weight: own, external_weight: 100 - own }
}

fn route_weights(own: u32) -> RouteWeights {
    RouteWeights { self_hosted: own, external: vec![100 - own] }
}

fn backend(name: &str) -> BackendRef {
    BackendRef { group: "".into(), kind: "Service".into(), name: name.into(), port: None }
}

fn workload(class: Class, name: &str, replicas: u32) -> WorkloadTarget {
    WorkloadTarget {
        class,
        target: ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("inference".into()),
            name: name.into(),
        },
        replicas,
    }
}

fn karpenter(class: Class, name: &str, gpus: u32) -> NodePoolTarget {
    NodePoolTarget { class, kind: NodePoolKind::NodePool, name: name.into(), namespace: None, gpus, gpus_per_node: 8 }
}

fn desired(spot: u32, spot_gpus: u32, own: u32) -> Desired {
    Desired {
        workloads: vec![workload(Class::Reserved, "llama-reserved", 2), workload(Class::Spot, "llama-spot", spot)],
        node_pools: vec![karpenter(Class::Spot, "h100-spot", spot_gpus)],
        route: RouteTarget {
            namespace: "inference".into(),
            name: "llama".into(),
            rule_index: 0,
            self_hosted: backend("vllm"),
            external: vec![("gpt-4o".into(), backend("egress"))],
            weights: route_weights(own),
        },
        reclaim_idle_nodes: true,
    }
}

fn route(own: u32) -> Value {
    json!({"metadata": {"name": "llama", "namespace": "inference", "resourceVersion": "42"},
           "spec": {"rules": [{"backendRefs": [{"name": "vllm", "weight": own}, {"name": "egress", "weight": 100 - own}]}]}})
}

fn node(name: &str, pool: &str, pods: Vec<PodInfo>) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        labels: BTreeMap::from([(KARPENTER_NODEPOOL_LABEL.to_string(), pool.to_string())]),
        gpus: Some(8),
        pods,
        ..Default::default()
    }
}

fn gpu_pod(name: &str) -> PodInfo {
    PodInfo { namespace: "inference".into(), name: name.into(), gpus: 4, ready: true, ..Default::default() }
}

fn side_pod(name: &str) -> PodInfo {
    PodInfo { namespace: "logging".into(), name: name.into(), ..Default::default() }
}

fn observed(spot: u32, limit: Option<u32>, own: u32, nodes: Vec<NodeInfo>) -> Observed {
    Observed {
        workloads: [
            Some(ScaleView { replicas: 2, current: 2, selector: None, ready: 0, pod_labels: None }),
            Some(ScaleView { replicas: spot, current: spot, selector: None, ready: 0, pod_labels: None }),
            None,
        ]
        .into(),
        node_pools: [None, Some(NodePoolView { gpu_limit: limit, replicas: None }), None].into(),
        route: Some(route(own)),
        gie_pool: None,
        nodes,
    }
}

fn decide_default(d: &Desired, o: &Observed) -> Actuation {
    decide(d, o, &InterruptionSignals::default())
}

fn names(cmds: &[Command]) -> Vec<String> {
    cmds.iter().map(Command::describe).collect()
}

#[test]
fn nothing_to_do_when_the_cluster_matches() {
    let nodes = vec![node("n1", "h100-spot", vec![gpu_pod("a"), gpu_pod("b")])];
    let d = decide_default(&desired(2, 8, 80), &observed(2, Some(8), 80, nodes));
    assert_eq!(d, Actuation::default());
}

#[test]
fn scale_up_grows_the_node_pool_before_the_workload_and_moves_traffic_back_last() {
    let d = decide_default(&desired(4, 16, 90), &observed(2, Some(8), 60, vec![]));
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    assert_eq!(
        names(&d.commands),
        vec![
            "spot NodePool h100-spot: nvidia.com/gpu limit 8 -> 16",
            "spot Deployment inference/llama-spot: replicas 2 -> 4",
            "HTTPRoute inference/llama: self-hosted/external weights 60/40 -> 90/10",
        ]
    );
    let Command::SetRouteWeights { resource_version, rules, .. } = &d.commands[2] else { panic!() };
    assert_eq!(resource_version.as_deref(), Some("42"));
    assert_eq!(rules[0]["backendRefs"][1]["weight"], json!(10));
}

#[test]
fn scale_down_moves_traffic_first_and_shrinks_the_node_pool_last() {
    let nodes = vec![node("n1", "h100-spot", vec![gpu_pod("a"), gpu_pod("b")])];
    let d = decide_default(&desired(1, 8, 50), &observed(2, Some(16), 80, nodes));
    assert_eq!(
        names(&d.commands),
        vec![
            "HTTPRoute inference/llama: self-hosted/external weights 80/20 -> 50/50",
            "spot Deployment inference/llama-spot: replicas 2 -> 1",
            "spot NodePool h100-spot: nvidia.com/gpu limit 16 -> 8",
        ]
    );
}

#[test]
fn idle_node_is_cordoned_drained_then_handed_back() {
    let busy = node("n1", "h100-spot", vec![gpu_pod("a"), gpu_pod("b")]);
    let idle = node("n2", "h100-spot", vec![side_pod("fluentbit")]);
    let other_pool = node("n9", "h100-ondemand", vec![]);
    // Tick 1: n2 is idle and beyond the 1 node the plan needs: cordon and evict its pods.
    let d = decide_default(&desired(2, 8, 80), &observed(2, Some(8), 80, vec![busy.clone(), idle.clone(), other_pool]));
    assert_eq!(
        d.commands,
        vec![
            Command::Cordon { node: "n2".into(), machine: None },
            Command::Evict { node: "n2".into(), namespace: "logging".into(), pod: "fluentbit".into() },
        ]
    );
    // Tick 2: cordoned by us and empty (DaemonSet pods stay): delete the node so Karpenter returns it.
    let mut drained = idle.clone();
    drained.unschedulable = true;
    drained.annotations.insert(RECLAIM_ANNOTATION.into(), "true".into());
    drained.pods = vec![PodInfo { daemonset: true, name: "dcgm".into(), ..Default::default() }];
    let d = decide_default(&desired(2, 8, 80), &observed(2, Some(8), 80, vec![busy.clone(), drained.clone()]));
    assert_eq!(d.commands, vec![Command::DeleteNode { node: "n2".into() }]);
    // Load returns before it is gone: the node is uncordoned, never deleted.
    let d = decide_default(&desired(4, 16, 80), &observed(2, Some(8), 80, vec![busy, drained]));
    assert_eq!(d.commands[0], Command::Uncordon { node: "n2".into(), machine: None });
    assert!(!d.commands.iter().any(|c| matches!(c, Command::DeleteNode { .. })));
}

#[test]
fn idle_reclaim_disabled_leaves_idle_nodes_and_undoes_our_cordons() {
    let busy = node("n1", "h100-spot", vec![gpu_pod("a")]);
    let idle = node("n2", "h100-spot", vec![]);
    let mut ours = node("n3", "h100-spot", vec![]);
    ours.unschedulable = true;
    ours.annotations.insert(RECLAIM_ANNOTATION.into(), "true".into());
    let want = Desired { reclaim_idle_nodes: false, ..desired(1, 8, 80) };
    let d = decide_default(&want, &observed(1, Some(8), 80, vec![busy, idle, ours]));
    assert_eq!(d.commands, vec![Command::Uncordon { node: "n3".into(), machine: None }]);
}

#[test]
fn busy_nodes_and_nodes_cordoned_by_others_are_never_reclaimed_or_uncordoned() {
    let mut theirs = node("n2", "h100-spot", vec![]);
    theirs.unschedulable = true; // kubectl cordon by a person: no annotation of ours
    let busy = vec![node("n1", "h100-spot", vec![gpu_pod("a")]), node("n3", "h100-spot", vec![gpu_pod("b")])];
    let mut nodes = busy.clone();
    nodes.push(theirs);
    // The plan wants 0 GPUs but both remaining nodes still hold replicas: only n2 (idle) is reclaimed.
    let d = decide_default(&desired(0, 0, 0), &observed(0, Some(0), 0, nodes));
    let reclaimed: Vec<_> =
        d.commands.iter().filter(|c| matches!(c, Command::Cordon { .. } | Command::Evict { .. })).collect();
    assert_eq!(reclaimed, vec![&Command::Cordon { node: "n2".into(), machine: None }]);
    // With enough capacity wanted, nothing is uncordoned that we did not cordon.
    let mut theirs = node("n2", "h100-spot", vec![]);
    theirs.unschedulable = true;
    let d = decide_default(&desired(2, 24, 80), &observed(2, Some(24), 80, vec![theirs]));
    assert!(d.commands.is_empty(), "{:?}", names(&d.commands));
}

#[test]
fn interrupted_nodes_leave_room_in_the_karpenter_limit_for_replacements() {
    let mut going = node("n1", "h100-spot", vec![gpu_pod("a"), gpu_pod("b")]);
    going.taints.push("aws-node-termination-handler/spot-itn".into());
    let d = decide_default(&desired(2, 8, 80), &observed(2, Some(8), 80, vec![going]));
    assert_eq!(names(&d.commands), vec!["spot NodePool h100-spot: nvidia.com/gpu limit 8 -> 16"]);
}

#[test]
fn machine_deployment_shrinks_only_by_drained_machines() {
    let md = NodePoolTarget {
        class: Class::OnDemand,
        kind: NodePoolKind::MachineDeployment,
        name: "gpu-md".into(),
        namespace: Some("capi".into()),
        gpus: 8,
        gpus_per_node: 8,
    };
    let capi_node = |name: &str, pods: Vec<PodInfo>| NodeInfo {
        name: name.into(),
        annotations: BTreeMap::from([
            ("cluster.x-k8s.io/owner-kind".to_string(), "MachineSet".to_string()),
            ("cluster.x-k8s.io/owner-name".to_string(), "gpu-md-7f9c".to_string()),
            (CAPI_MACHINE_ANNOTATION.to_string(), format!("m-{name}")),
        ]),
        gpus: Some(8),
        pods,
        ..Default::default()
    };
    let mut want = desired(2, 0, 80);
    want.workloads.push(workload(Class::OnDemand, "llama-od", 2));
    want.node_pools = vec![md];
    let mut seen = observed(2, None, 80, vec![capi_node("a", vec![gpu_pod("x")]), capi_node("b", vec![])]);
    seen.workloads[Class::OnDemand] =
        Some(ScaleView { replicas: 2, current: 2, selector: None, ready: 0, pod_labels: None });
    seen.node_pools = [None, None, Some(NodePoolView { gpu_limit: None, replicas: Some(2) })].into();
    // Tick 1: b is idle: cordon it and mark its Machine; replicas stay at 2 until it is drained.
    let d = decide_default(&want, &seen);
    assert_eq!(d.commands, vec![Command::Cordon { node: "b".into(), machine: Some(("capi".into(), "m-b".into())) }]);
    // Tick 2: b drained: the MachineDeployment drops to 1 and Cluster API deletes the marked machine.
    seen.nodes[1].unschedulable = true;
    seen.nodes[1].annotations.insert(RECLAIM_ANNOTATION.into(), "true".into());
    let d = decide_default(&want, &seen);
    assert_eq!(names(&d.commands), vec!["onDemand MachineDeployment capi/gpu-md: replicas 2 -> 1"]);
    // Tick 3: replicas already lowered, b still shutting down: nothing more.
    seen.node_pools[Class::OnDemand] = Some(NodePoolView { gpu_limit: None, replicas: Some(1) });
    assert!(decide_default(&want, &seen).commands.is_empty());
}

#[test]
fn missing_objects_and_bad_routes_are_problems_not_panics() {
    let mut o = observed(2, Some(8), 80, vec![]);
    o.workloads[Class::Spot] = None;
    o.node_pools[Class::Spot] = None;
    o.route = Some(json!({"spec": {"rules": []}}));
    let d = decide_default(&desired(3, 8, 80), &o);
    assert!(d.commands.is_empty());
    assert_eq!(d.problems.len(), 3, "{:?}", d.problems);
    assert!(d.problems[0].contains("ruleIndex 0 is out of range"));
    assert!(d.problems[1].contains("llama-spot not found"));
    assert!(d.problems[2].contains("h100-spot not found"));
}

#[test]
fn desired_from_plan_resolves_names_and_namespaces() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples/inferencepool.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let pool: crate::api::InferencePool = serde_saphyr::from_str(&text).unwrap();
    let plan = Plan {
        replicas: PerClass { reserved: 2, spot: 3, on_demand: 1 },
        node_pool_gpus: [8, 12, 4].into(),
        traffic: weights(70),
        providers: vec![],
        changes: vec![],
        summary: String::new(),
        signals_stale: false,
        budget_exceeded: false,
        usd_per_hour: 0.0,
        memory: Memory::default(),
        capacity: Default::default(),
    };
    let spec: &InferencePoolSpec = &pool.spec;
    let d = Desired::from_plan("inference", spec, &plan, true);
    assert!(d.reclaim_idle_nodes);
    assert!(!Desired::from_plan("inference", spec, &plan, false).reclaim_idle_nodes);
    assert_eq!(d.workloads.len(), 3);
    assert_eq!(d.workloads[1].target.to_string(), "Deployment inference/llama-70b-spot");
    assert_eq!(d.workloads[1].replicas, 3);
    assert_eq!(d.node_pools[1].nodes(), 2);
    assert_eq!(d.node_pools[0].namespace, None);
    assert_eq!(d.route.name, "llama-70b");
    assert_eq!(d.route.external[0].1.name, "azure-ai-egress");
    assert_eq!(d.route.weights, route_weights(70), "without a split the one provider takes the external weight");
}
