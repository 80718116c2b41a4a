use super::*;
use serde_json::json;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}))
        .expect("test pod")
}

fn node(name: &str, labels: &[(&str, &str)], gpus: u64) -> NodeShape {
    NodeShape {
        name: name.into(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        gpus,
        ..Default::default()
    }
}

fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
}

fn gpu_pod(gpus: &str) -> serde_json::Value {
    json!({"containers": [{"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]})
}

#[test]
fn gpu_requests_default_to_limits_and_sum_over_containers() {
    let p = pod(json!({
        "containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "2"}}},
            {"name": "b", "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}},
            {"name": "c"}
        ],
        "initContainers": [{"name": "i", "resources": {"limits": {"nvidia.com/gpu": "4"}}}]
    }));
    assert_eq!(PodNeeds::of(&p).expect("needs").gpus, 4, "init container max wins over the sum 3");
    let p = pod(gpu_pod("3"));
    assert_eq!(PodNeeds::of(&p).expect("needs").gpus, 3);
}

#[test]
fn fractional_gpu_is_a_clear_error() {
    let err = PodNeeds::of(&pod(gpu_pod("500m"))).expect_err("fractional");
    assert_eq!(err.to_string(), "container vllm: nvidia.com/gpu quantity \"500m\" is not a whole number");
}

#[test]
fn node_selector_and_affinity_operators() {
    let p = pod(json!({
        "containers": [{"name": "c"}],
        "nodeSelector": {"pool": "spot"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "gpu", "operator": "In", "values": ["a100", "h100"]},
                {"key": "zone", "operator": "NotIn", "values": ["bad"]},
                {"key": "ready", "operator": "Exists"},
                {"key": "mem", "operator": "Gt", "values": ["40"]}
            ]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}
        ]}}}
    }));
    let needs = PodNeeds::of(&p).expect("needs");
    let good = node("n1", &[("pool", "spot"), ("gpu", "h100"), ("zone", "a"), ("ready", ""), ("mem", "80")], 1);
    assert!(affinity_matches(&needs, &good));
    let no_zone = node("n1", &[("pool", "spot"), ("gpu", "h100"), ("ready", ""), ("mem", "80")], 1);
    assert!(affinity_matches(&needs, &no_zone), "NotIn matches a missing label");
    for (k, v) in [("gpu", "t4"), ("zone", "bad"), ("mem", "40"), ("mem", "x"), ("pool", "od")] {
        let mut n = good.clone();
        n.labels.insert(k.into(), v.into());
        assert!(!affinity_matches(&needs, &n), "{k}={v} must not match");
    }
    let mut n = good.clone();
    n.labels.remove("ready");
    assert!(!affinity_matches(&needs, &n), "Exists needs the label");
    // The second term (ORed) matches by name alone, but the nodeSelector still applies.
    assert!(affinity_matches(&needs, &node("special", &[("pool", "spot")], 1)));
    assert!(!affinity_matches(&needs, &node("special", &[], 1)));
}

#[test]
fn empty_term_matches_nothing() {
    let needs = PodNeeds { required_terms: Some(vec![NodeSelectorTerm::default()]), ..Default::default() };
    assert!(!affinity_matches(&needs, &node("n", &[("a", "b")], 1)));
}

#[test]
fn tolerations_against_taints() {
    let t = taint("nvidia.com/gpu", Some("true"), "NoSchedule");
    let tol = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| Toleration {
        key: key.map(Into::into),
        operator: op.map(Into::into),
        value: value.map(Into::into),
        effect: effect.map(Into::into),
        toleration_seconds: None,
    };
    assert!(tolerates(&tol(Some("nvidia.com/gpu"), None, Some("true"), None), &t));
    assert!(tolerates(&tol(Some("nvidia.com/gpu"), Some("Exists"), None, Some("NoSchedule")), &t));
    assert!(tolerates(&tol(None, Some("Exists"), None, None), &t), "empty key + Exists tolerates all");
    assert!(!tolerates(&tol(Some("nvidia.com/gpu"), None, Some("false"), None), &t));
    assert!(!tolerates(&tol(Some("nvidia.com/gpu"), Some("Exists"), None, Some("NoExecute")), &t));
    assert!(!tolerates(&tol(None, None, None, None), &t), "empty key with Equal tolerates nothing");

    let taints = vec![taint("soft", None, "PreferNoSchedule"), taint("spot", None, "NoExecute")];
    assert_eq!(untolerated_taint(&[], &taints).map(|t| t.key.as_str()), Some("spot"));
    assert!(untolerated_taint(&[tol(Some("spot"), Some("Exists"), None, None)], &taints).is_none());
}

#[test]
fn fit_checks_run_in_order_and_count_gpus() {
    let needs = PodNeeds::of(&pod(gpu_pod("2"))).expect("needs");
    let mut n = node("n", &[], 4);
    assert_eq!(fits(&needs, &n, 2), Ok(()));
    assert_eq!(fits(&needs, &n, 3), Err(Unfit::InsufficientGpu));
    n.taints.push(taint("dedicated", Some("x"), "NoSchedule"));
    assert_eq!(fits(&needs, &n, 0), Err(Unfit::Taint("dedicated".into())));
    n.unschedulable = true;
    assert_eq!(fits(&needs, &n, 0), Err(Unfit::Cordoned));
}

#[test]
fn choose_node_best_fit_then_name_and_explains_failure() {
    let needs = PodNeeds::of(&pod(gpu_pod("1"))).expect("needs");
    let nodes = vec![(node("c", &[], 8), 0), (node("b", &[], 4), 2), (node("a", &[], 4), 2), (node("d", &[], 1), 1)];
    assert_eq!(choose_node(&needs, &nodes).expect("fits").name, "a");
    let big = PodNeeds::of(&pod(gpu_pod("16"))).expect("needs");
    let mut cordoned = node("e", &[], 16);
    cordoned.unschedulable = true;
    let mut nodes = nodes;
    nodes.push((cordoned, 0));
    let reasons = choose_node(&big, &nodes).expect_err("nothing fits");
    assert_eq!(
        unschedulable_message(nodes.len(), &reasons),
        "0/5 nodes are available: 4 Insufficient nvidia.com/gpu, 1 node(s) were unschedulable."
    );
    assert_eq!(unschedulable_message(0, &[]), "no nodes available to schedule pods");
}

#[test]
fn node_shape_reads_allocatable_then_capacity() {
    let n: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"a": "b"}},
        "spec": {"unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {"capacity": {"nvidia.com/gpu": "8"}}
    }))
    .expect("node");
    let s = NodeShape::of(&n);
    assert_eq!((s.gpus, s.unschedulable, s.taints.len(), s.name.as_str()), (8, true, 1, "n1"));
}
