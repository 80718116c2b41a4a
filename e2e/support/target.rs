//! Which Kubernetes API the scenarios run against.
//!
//! By default each scenario starts its own sandbox API server with the simulated cluster in-process
//! (nothing outside this process is touched). A Kubernetes cluster is used only on an explicit opt-in:
//! `HS_E2E_KUBECONFIG=<path>` names a kubeconfig file whose *current context* is the cluster to use.
//! `KUBECONFIG` alone is deliberately ignored: a developer whose shell points at a production cluster
//! must not get namespaces, Deployments and (with `HS_E2E_NODEPOOLS=1`) GPU NodePools created there by
//! a plain `make test`.
//!
//! On a cluster, further variables describe what it offers (see docs/testing.md, "End-to-end tests on a cluster"):
//! - `HS_E2E_NODEPOOLS=1`: Karpenter v1 is installed and may launch GPU nodes. Each scenario creates its
//!   own three NodePools (named after its namespace) and pins GPU-requesting replicas to them. Without it
//!   the replicas are plain CPU pods on whatever nodes exist, no NodePool is referenced, and what only a
//!   node pool can show (limits, nodes launched and handed back, spot nodes) is not asserted.
//! - `HS_E2E_NODECLASS=<group>/<kind>/<name>`: the NodePools' `nodeClassRef` (real Karpenter requires one,
//!   e.g. `karpenter.k8s.aws/EC2NodeClass/default`).
//! - `HS_E2E_RESERVED_CAPACITY_TYPE`: the `karpenter.sh/capacity-type` of the reserved class's NodePool
//!   (default `reserved`, Karpenter 1.3+ with a capacity reservation; `on-demand` where there is none).
//! - `HS_E2E_IMAGE`: the replicas' container image (default `registry.k8s.io/pause:3.10`, which every
//!   cluster can pull and which is Ready as soon as it runs: the load is synthetic either way).
//! - `HS_E2E_WAIT_SECONDS`: bound of every wait (default 90 on the sandbox, 600 on a cluster, where
//!   nodes and images take minutes).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The image of the replicas on a cluster unless `HS_E2E_IMAGE` says otherwise.
pub const DEFAULT_CLUSTER_IMAGE: &str = "registry.k8s.io/pause:3.10";

pub use hybridscale::demo::objects::NodeClassRef;

/// A cluster reached through a kubeconfig.
#[derive(Clone, Debug)]
pub struct ClusterTarget {
    /// The kubeconfig (its current context is used, by the harness and by the operator binary alike).
    pub kubeconfig: PathBuf,
    /// Karpenter NodePools with GPU nodes may be created.
    pub node_pools: bool,
    pub node_class: Option<NodeClassRef>,
    /// Capacity type of the reserved class's NodePool.
    pub reserved_capacity_type: String,
    pub image: String,
}

impl ClusterTarget {
    /// Where a scenario in namespace `ns` runs its replicas on this cluster.
    pub fn placement(&self, ns: &str) -> hybridscale::demo::objects::Placement {
        let class = self.node_class.clone();
        hybridscale::demo::objects::Placement::cluster(
            ns,
            self.node_pools,
            class,
            &self.reserved_capacity_type,
            &self.image,
        )
    }
}

/// Where the scenarios run.
#[derive(Clone, Debug)]
pub enum Target {
    /// A sandbox API server with the simulated cluster in this process, one per scenario.
    Sandbox,
    /// A cluster named by `HS_E2E_KUBECONFIG`, shared by all scenarios (one namespace each).
    Cluster(ClusterTarget),
}

/// A power only the in-process sandbox has; scenarios that need one are skipped elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Injected API errors and cut watches (the sandbox's fault injection, configured in-process).
    FaultInjection,
    /// Spot nodes owned by the scenario, so it may deliver an interruption notice to one and end it.
    OwnSpotNodes,
}

/// An environment variable, unset when empty.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(get: Lookup, name: &str) -> Option<String> {
    get(name).filter(|v| !v.is_empty())
}

fn flag(get: Lookup, name: &str) -> bool {
    match var(get, name).as_deref().map(str::trim) {
        None | Some("0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(other) => panic!("{name}={other:?}: expected 1 or 0"),
    }
}

/// The target the variables describe. Only `HS_E2E_KUBECONFIG` selects a cluster: `KUBECONFIG` is not
/// even looked at.
fn parse(get: Lookup) -> Target {
    let Some(path) = var(get, "HS_E2E_KUBECONFIG") else {
        return Target::Sandbox;
    };
    let kubeconfig = PathBuf::from(path);
    assert!(kubeconfig.is_file(), "HS_E2E_KUBECONFIG={}: no such file", kubeconfig.display());
    let node_class = var(get, "HS_E2E_NODECLASS").map(|s| {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [group, kind, name] if !kind.is_empty() && !name.is_empty() => {
                NodeClassRef { group: group.to_string(), kind: kind.to_string(), name: name.to_string() }
            }
            _ => panic!("HS_E2E_NODECLASS={s:?}: expected <group>/<kind>/<name>"),
        }
    });
    Target::Cluster(ClusterTarget {
        kubeconfig,
        node_pools: flag(get, "HS_E2E_NODEPOOLS"),
        node_class,
        reserved_capacity_type: var(get, "HS_E2E_RESERVED_CAPACITY_TYPE").unwrap_or_else(|| "reserved".into()),
        image: var(get, "HS_E2E_IMAGE").unwrap_or_else(|| DEFAULT_CLUSTER_IMAGE.into()),
    })
}

/// The target of this test run (read once from the environment).
pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let t = parse(&|name| std::env::var(name).ok());
        if matches!(t, Target::Sandbox) && std::env::var_os("KUBECONFIG").is_some() {
            super::say!(
                "e2e: KUBECONFIG is set but not used: the scenarios run on in-process sandboxes \
                 (HS_E2E_KUBECONFIG=<path> runs them on a cluster)"
            );
        }
        if let Target::Cluster(c) = &t {
            super::say!(
                "e2e target: the cluster of {} (current context), node pools {}, image {}",
                c.kubeconfig.display(),
                if c.node_pools { "on" } else { "off" },
                c.image
            );
        }
        t
    })
}

/// The cluster target, if that is where the scenarios run.
pub fn cluster() -> Option<&'static ClusterTarget> {
    match target() {
        Target::Cluster(c) => Some(c),
        Target::Sandbox => None,
    }
}

/// Bound of every wait for the operator or the cluster to reach a state.
pub fn wait() -> Duration {
    static WAIT: OnceLock<Duration> = OnceLock::new();
    *WAIT.get_or_init(|| {
        let default = if cluster().is_some() { 600 } else { 90 };
        let secs = match std::env::var("HS_E2E_WAIT_SECONDS") {
            Ok(v) if !v.is_empty() => {
                v.trim().parse::<u64>().unwrap_or_else(|_| panic!("HS_E2E_WAIT_SECONDS={v:?}: expected seconds"))
            }
            _ => default,
        };
        Duration::from_secs(secs)
    })
}

/// Whether this target has `need`; when not, says so loudly and returns false (the caller returns).
pub fn require(need: Need, scenario: &str) -> bool {
    let why = match (target(), need) {
        (Target::Sandbox, _) => return true,
        (Target::Cluster(_), Need::FaultInjection) => {
            "it injects API errors and cuts watches inside the sandbox API server; a real API server has no such \
             switch (run it without HS_E2E_KUBECONFIG)"
        }
        (Target::Cluster(c), Need::OwnSpotNodes) if c.node_pools => return true,
        (Target::Cluster(_), Need::OwnSpotNodes) => {
            "it interrupts a spot node the scenario owns; without HS_E2E_NODEPOOLS=1 the replicas run on the \
             cluster's shared nodes, and tainting and deleting one of those would disturb other workloads"
        }
    };
    super::say!("\n*** SKIPPING e2e scenario {scenario} on the HS_E2E_KUBECONFIG cluster: {why} ***\n");
    false
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse_with(vars: &[(&str, &str)]) -> Target {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(&move |name| map.get(name).cloned())
    }

    fn kubeconfig_file() -> tempfile::NamedTempFile {
        tempfile::NamedTempFile::new().expect("temp file")
    }

    #[test]
    fn kubeconfig_alone_never_selects_a_cluster() {
        let f = kubeconfig_file();
        let path = f.path().to_str().expect("utf-8 path");
        assert!(matches!(parse_with(&[]), Target::Sandbox));
        assert!(matches!(parse_with(&[("KUBECONFIG", path), ("HS_E2E_NODEPOOLS", "1")]), Target::Sandbox));
        assert!(matches!(parse_with(&[("KUBECONFIG", path), ("HS_E2E_KUBECONFIG", "")]), Target::Sandbox));
    }

    #[test]
    fn hs_e2e_kubeconfig_selects_that_file_with_declared_powers() {
        let f = kubeconfig_file();
        let path = f.path().to_str().expect("utf-8 path");
        let Target::Cluster(c) = parse_with(&[("HS_E2E_KUBECONFIG", path)]) else { panic!("a cluster") };
        assert_eq!(c.kubeconfig, f.path());
        assert!(!c.node_pools && c.node_class.is_none());
        assert_eq!((c.image.as_str(), c.reserved_capacity_type.as_str()), (DEFAULT_CLUSTER_IMAGE, "reserved"));
        let Target::Cluster(c) = parse_with(&[
            ("HS_E2E_KUBECONFIG", path),
            ("HS_E2E_NODEPOOLS", "1"),
            ("HS_E2E_NODECLASS", "karpenter.k8s.aws/EC2NodeClass/gpu"),
            ("HS_E2E_RESERVED_CAPACITY_TYPE", "on-demand"),
        ]) else {
            panic!("a cluster")
        };
        assert!(c.node_pools);
        let nc = c.node_class.expect("node class");
        assert_eq!(
            (nc.group.as_str(), nc.kind.as_str(), nc.name.as_str()),
            ("karpenter.k8s.aws", "EC2NodeClass", "gpu")
        );
        assert_eq!(c.reserved_capacity_type, "on-demand");
    }

    #[test]
    #[should_panic(expected = "no such file")]
    fn a_missing_kubeconfig_file_is_an_error() {
        parse_with(&[("HS_E2E_KUBECONFIG", "/nonexistent/kubeconfig")]);
    }

    #[test]
    #[should_panic(expected = "expected <group>/<kind>/<name>")]
    fn a_malformed_node_class_is_an_error() {
        let f = kubeconfig_file();
        parse_with(&[("HS_E2E_KUBECONFIG", f.path().to_str().expect("path")), ("HS_E2E_NODECLASS", "EC2NodeClass")]);
    }

    #[test]
    #[should_panic(expected = "expected 1 or 0")]
    fn a_malformed_flag_is_an_error() {
        let f = kubeconfig_file();
        parse_with(&[("HS_E2E_KUBECONFIG", f.path().to_str().expect("path")), ("HS_E2E_NODEPOOLS", "maybe")]);
    }
}
