//! The permissions the operator needs, as data: the Helm chart's ClusterRole and Role must grant exactly
//! these (tests/shipped/argocd.rs compares the rendered chart, tests/shipped/chart_install.rs what an API server holds
//! after installing it), so a new API call without a rule here fails a test instead of failing in a
//! cluster, and a rule nobody needs any more is noticed too.

use k8s_openapi::api::rbac::v1::PolicyRule;

/// One RBAC rule: verbs on resources of one API group, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// API group ("" is core).
    pub group: &'static str,
    /// Resources, including subresources as `resource/sub`.
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Which part of the operator needs it.
    pub why: &'static str,
}

const WATCH: &[&str] = &["get", "list", "watch"];
const SCALE: &[&str] = &["get", "patch", "update"];

/// Cluster-wide rules (ClusterRole), with the chart's default values.
pub const CLUSTER_RULES: &[Rule] = &[
    Rule {
        group: "hybridscale.dev",
        resources: &["inferencepools", "costpolicies"],
        verbs: &["get", "list", "watch", "patch", "update"],
        why: "controller: watch both kinds, add and remove the finalizer",
    },
    Rule {
        group: "hybridscale.dev",
        resources: &["inferencepools/status", "costpolicies/status"],
        verbs: SCALE,
        why: "controller: status, conditions, cost ledger",
    },
    Rule {
        group: "hybridscale.dev",
        resources: &["inferencepools/finalizers", "costpolicies/finalizers"],
        verbs: &["update"],
        why: "controller: owner references with blockOwnerDeletion",
    },
    Rule {
        group: "apps",
        resources: &["deployments", "statefulsets"],
        verbs: WATCH,
        why: "controller: watch scale targets",
    },
    Rule {
        group: "apps",
        resources: &["deployments/scale", "statefulsets/scale"],
        verbs: SCALE,
        why: "actuate: replicas through /scale",
    },
    Rule {
        group: "karpenter.sh",
        resources: &["nodepools"],
        verbs: &["get", "list", "watch", "patch"],
        why: "actuate: nvidia.com/gpu limits by server-side apply",
    },
    Rule {
        group: "cluster.x-k8s.io",
        resources: &["machinedeployments"],
        verbs: WATCH,
        why: "controller: watch MachineDeployments",
    },
    Rule {
        group: "cluster.x-k8s.io",
        resources: &["machinedeployments/scale"],
        verbs: SCALE,
        why: "actuate: MachineDeployment replicas through /scale",
    },
    Rule {
        group: "cluster.x-k8s.io",
        resources: &["machines"],
        verbs: &["get", "patch"],
        why: "actuate: delete-machine annotation on the Machine of a drained node",
    },
    Rule {
        group: "gateway.networking.k8s.io",
        resources: &["httproutes"],
        verbs: &["get", "list", "watch", "patch"],
        why: "actuate: backend weights by server-side apply",
    },
    Rule {
        group: "inference.networking.k8s.io",
        resources: &["inferencepools"],
        verbs: &["get"],
        why: "observe: a Gateway API Inference Extension backend selects every class's pods",
    },
    Rule {
        group: "",
        resources: &["nodes"],
        verbs: &["get", "list", "watch", "patch", "delete"],
        why: "actuate: interruptions, cordon, hand back drained Karpenter nodes",
    },
    Rule { group: "", resources: &["pods"], verbs: WATCH, why: "actuate: pods on GPU nodes, replicas per class" },
    Rule {
        group: "",
        resources: &["pods/eviction"],
        verbs: &["create"],
        why: "actuate: drain through the Eviction API",
    },
    Rule { group: "", resources: &["events"], verbs: &["create", "patch"], why: "controller: core/v1 Events" },
    Rule {
        group: "events.k8s.io",
        resources: &["events"],
        verbs: &["create", "patch"],
        why: "controller: events.k8s.io Events",
    },
    Rule { group: "", resources: &["configmaps"], verbs: &["get"], why: "signals: price files of CostPolicies" },
    Rule {
        group: "",
        resources: &["secrets"],
        verbs: &["get"],
        why: "signals: Prometheus credentials (rbac.readSecrets)",
    },
];

/// Rules in the operator's own namespace (Role).
pub const LEADER_ELECTION_RULES: &[Rule] = &[Rule {
    group: "coordination.k8s.io",
    resources: &["leases"],
    verbs: &["get", "list", "watch", "create", "update", "patch"],
    why: "controller: leader election on a Lease",
}];

/// Flatten rules to sorted (group, resource, verb) triples, the form two rule sets are compared in.
pub fn triples<'a>(
    rules: impl IntoIterator<Item = (&'a str, &'a [String], &'a [String])>,
) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = rules
        .into_iter()
        .flat_map(|(g, rs, vs)| {
            rs.iter().flat_map(move |r| vs.iter().map(move |v| (g.to_string(), r.clone(), v.clone())))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The triples of a static rule list.
pub fn static_triples(rules: &[Rule]) -> Vec<(String, String, String)> {
    let owned: Vec<(&str, Vec<String>, Vec<String>)> = rules
        .iter()
        .map(|r| {
            (
                r.group,
                r.resources.iter().map(|s| s.to_string()).collect(),
                r.verbs.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    triples(owned.iter().map(|(g, r, v)| (*g, r.as_slice(), v.as_slice())))
}

/// The triples of RBAC objects' rules (as rendered by the chart or read back from an API server).
pub fn policy_rule_triples(rules: &[PolicyRule]) -> Vec<(String, String, String)> {
    let rows: Vec<(String, Vec<String>, Vec<String>)> = rules
        .iter()
        .flat_map(|r| {
            let groups = r.api_groups.clone().unwrap_or_default();
            groups.into_iter().map(move |g| (g, r.resources.clone().unwrap_or_default(), r.verbs.clone()))
        })
        .collect();
    triples(rows.iter().map(|(g, r, v)| (g.as_str(), r.as_slice(), v.as_slice())))
}

/// What a scale target of another kind needs (the chart's `rbac.extraScaleTargets`): watch it, resize it
/// through /scale, as for Deployments.
pub fn scale_target_triples(group: &str, resource: &str) -> Vec<(String, String, String)> {
    let (main, scale) = ([resource.to_string()], [format!("{resource}/scale")]);
    let (watch, resize): (Vec<String>, Vec<String>) =
        (WATCH.iter().map(|s| s.to_string()).collect(), SCALE.iter().map(|s| s.to_string()).collect());
    triples([(group, &main[..], &watch[..]), (group, &scale[..], &resize[..])])
}

/// `Ok` when `granted` is exactly `needed`; otherwise one message naming what is granted beyond the need
/// and what is missing.
pub fn same_grants(
    what: &str,
    granted: &[(String, String, String)],
    needed: &[(String, String, String)],
) -> Result<(), String> {
    let extra: Vec<_> = granted.iter().filter(|t| !needed.contains(t)).collect();
    let missing: Vec<_> = needed.iter().filter(|t| !granted.contains(t)).collect();
    if extra.is_empty() && missing.is_empty() {
        return Ok(());
    }
    Err(format!("{what}: grants more than src/actuate/rbac.rs lists: {extra:?}; lacks: {missing:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_compare_both_ways() {
        let need = static_triples(LEADER_ELECTION_RULES);
        assert_eq!(same_grants("Role", &need, &need), Ok(()));
        let mut more = need.clone();
        more.extend(scale_target_triples("x.io", "things"));
        let err = same_grants("Role", &more, &need).unwrap_err();
        assert!(err.contains("\"things/scale\", \"patch\"") && err.ends_with("lacks: []"), "{err}");
        let err = same_grants("Role", &need[1..], &need).unwrap_err();
        assert!(err.contains("grants more than src/actuate/rbac.rs lists: []; lacks: [(\"coordination"), "{err}");
    }
}
