//! The boundary this crate exists for, checked: nothing it depends on, directly or through another
//! crate, is a Kubernetes client, an async runtime or an HTTP client. Read from the workspace's
//! Cargo.lock, which lists each package's resolved dependencies (dev-dependencies included, so the
//! check is stricter than `cargo tree -p hybridscale-core -e normal`).

use std::collections::{BTreeMap, BTreeSet};

const FORBIDDEN: [&str; 5] = ["kube", "kube-client", "k8s-openapi", "tokio", "reqwest"];

/// Package name -> the names of its dependencies, from a Cargo.lock (version 3 or 4).
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let name = package.lines().find_map(|l| l.strip_prefix("name = ")).map(|n| n.trim_matches('"').to_string());
        let Some(name) = name else { continue };
        let deps = package
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or(""))
            .unwrap_or("")
            .split(',')
            .filter_map(|d| d.trim().trim_matches('"').split(' ').next().map(str::to_string))
            .filter(|d| !d.is_empty())
            .collect();
        graph.insert(name, deps);
    }
    graph
}

fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).into_iter().flatten().cloned());
        }
    }
    seen
}

#[test]
fn the_core_depends_on_no_kubernetes_async_runtime_or_http_client() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let graph = lock_graph(&lock);
    let deps = closure(&graph, "hybridscale-core");
    assert!(deps.contains("serde") && deps.contains("jiff"), "the lock was not read: {deps:?}");
    let found: Vec<_> = FORBIDDEN.iter().filter(|f| deps.contains(**f)).collect();
    assert!(found.is_empty(), "hybridscale-core depends on {found:?}: keep Kubernetes and I/O out of the core");
    // The check can fail: the operator's own package does depend on them.
    let operator = closure(&graph, "hybridscale");
    assert!(FORBIDDEN.iter().all(|f| operator.contains(*f)), "{operator:?}");
}
