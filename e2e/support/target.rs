//! Which Kubernetes API the scenarios run against.
//!
//! By default each scenario starts its own sandbox API server with the simulated cluster in-process
//! (nothing outside this process is touched). A Kubernetes cluster is used only on an explicit opt-in:
//! `HS_E2E_KUBECONFIG=<path>` names a kubeconfig file whose *current context* is the cluster to use.
//! `KUBECONFIG` alone is deliberately ignored: a developer whose shell points at a production cluster
//! must not get namespaces, Deployments and (with `HS_E2E_NODEPOOLS=1`) GPU NodePools created there by
//! a plain `make test`.
//!
//! On a cluster, further variables describe what it offers (see README, "End-to-end tests on a cluster"):
//! - `HS_E2E_NODEPOOLS=1`: Karpenter v1 is installed and may launch GPU nodes. Each scenario creates its
//!   own three NodePools (named after its namespace) and pins GPU-requesting replicas to them. Without it
//!   the replicas are plain CPU pods on whatever nodes exist, no NodePool is referenced, and what only a
//!   node pool can show (limits, nodes launched and handed back, spot nodes) is not asserted.
//! - `HS_E2E_NODECLASS=<group>/<kind>/<name>`: the NodePools' `nodeClassRef` (real Karpenter requires one,
//!   e.g. `karpenter.k8s.aws/EC2NodeClass/default`).
//! - `HS_E2E_IMAGE`: the replicas' container image (default `registry.k8s.io/pause:3.10`, which every
//!   cluster can pull and which is Ready as soon as it runs: the load is synthetic either way).
//! - `HS_E2E_WAIT_SECONDS`: bound of every wait (default 90 on the sandbox, 600 on a cluster, where
//!   nodes and images take minutes).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The image of the replicas on a cluster unless `HS_E2E_IMAGE` says otherwise.
pub const DEFAULT_CLUSTER_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// The Karpenter `nodeClassRef` of the scenario's NodePools.
#[derive(Clone, Debug)]
pub struct NodeClassRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// A cluster reached through a kubeconfig.
#[derive(Clone, Debug)]
pub struct ClusterTarget {
    /// The kubeconfig (its current context is used, by the harness and by the operator binary alike).
    pub kubeconfig: PathBuf,
    /// Karpenter NodePools with GPU nodes may be created.
    pub node_pools: bool,
    pub node_class: Option<NodeClassRef>,
    pub image: String,
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

fn flag(name: &str) -> bool {
    match std::env::var(name) {
        Ok(v) => match v.trim() {
            "1" | "true" | "yes" => true,
            "" | "0" | "false" | "no" => false,
            other => panic!("{name}={other:?}: expected 1 or 0"),
        },
        Err(_) => false,
    }
}

fn parse() -> Target {
    let Some(path) = std::env::var_os("HS_E2E_KUBECONFIG").filter(|p| !p.is_empty()) else {
        return Target::Sandbox;
    };
    let kubeconfig = PathBuf::from(path);
    assert!(kubeconfig.is_file(), "HS_E2E_KUBECONFIG={}: no such file", kubeconfig.display());
    let node_class = std::env::var("HS_E2E_NODECLASS").ok().filter(|s| !s.is_empty()).map(|s| {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [group, kind, name] if !kind.is_empty() && !name.is_empty() => {
                NodeClassRef { group: group.to_string(), kind: kind.to_string(), name: name.to_string() }
            }
            _ => panic!("HS_E2E_NODECLASS={s:?}: expected <group>/<kind>/<name>"),
        }
    });
    let image =
        std::env::var("HS_E2E_IMAGE").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_CLUSTER_IMAGE.into());
    Target::Cluster(ClusterTarget { kubeconfig, node_pools: flag("HS_E2E_NODEPOOLS"), node_class, image })
}

/// The target of this test run (read once from the environment).
pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let t = parse();
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
