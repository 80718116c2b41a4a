//! The built-in kinds the operator touches, with the subresources, short names and printer columns the
//! real API server gives them. Columns whose path starts with `@` are computed in `table.rs` (like the
//! real server's Go printers, e.g. a Deployment's `Ready` is `ready/desired`).

use super::registry::{PrinterColumn, Registry, ResourceType, ScaleSpec};

struct Def {
    gv: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
    columns: &'static [(&'static str, &'static str, i64)],
}

const AGE: (&str, &str, i64) = ("Age", ".metadata.creationTimestamp", 0);

const DEFS: &[Def] = &[
    Def {
        gv: "v1",
        kind: "Namespace",
        plural: "namespaces",
        short: &["ns"],
        namespaced: false,
        status: true,
        scale: false,
        columns: &[("Status", ".status.phase", 0), AGE],
    },
    Def {
        gv: "v1",
        kind: "Node",
        plural: "nodes",
        short: &["no"],
        namespaced: false,
        status: true,
        scale: false,
        columns: &[
            ("Status", "@nodeStatus", 0),
            ("Roles", "@nodeRoles", 0),
            AGE,
            ("Version", ".status.nodeInfo.kubeletVersion", 0),
            ("Internal-IP", "@nodeInternalIP", 1),
        ],
    },
    Def {
        gv: "v1",
        kind: "Pod",
        plural: "pods",
        short: &["po"],
        namespaced: true,
        status: true,
        scale: false,
        columns: &[
            ("Ready", "@podReady", 0),
            ("Status", "@podStatus", 0),
            ("Restarts", "@podRestarts", 0),
            AGE,
            ("IP", ".status.podIP", 1),
            ("Node", ".spec.nodeName", 1),
        ],
    },
    Def {
        gv: "v1",
        kind: "Service",
        plural: "services",
        short: &["svc"],
        namespaced: true,
        status: true,
        scale: false,
        columns: &[("Type", ".spec.type", 0), ("Cluster-IP", ".spec.clusterIP", 0), AGE],
    },
    Def {
        gv: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        short: &["cm"],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[AGE],
    },
    Def {
        gv: "v1",
        kind: "Secret",
        plural: "secrets",
        short: &[],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Type", ".type", 0), AGE],
    },
    Def {
        gv: "v1",
        kind: "Event",
        plural: "events",
        short: &["ev"],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Type", ".type", 0), ("Reason", ".reason", 0), ("Message", ".message", 0), AGE],
    },
    // Stored apart from core v1 Events (the real server shares one storage and converts between them).
    Def {
        gv: "events.k8s.io/v1",
        kind: "Event",
        plural: "events",
        short: &["ev"],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Type", ".type", 0), ("Reason", ".reason", 0), ("Note", ".note", 0), AGE],
    },
    Def {
        gv: "coordination.k8s.io/v1",
        kind: "Lease",
        plural: "leases",
        short: &[],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Holder", ".spec.holderIdentity", 0), AGE],
    },
    Def {
        gv: "apps/v1",
        kind: "Deployment",
        plural: "deployments",
        short: &["deploy"],
        namespaced: true,
        status: true,
        scale: true,
        columns: &[
            ("Ready", "@ready", 0),
            ("Up-to-date", ".status.updatedReplicas", 0),
            ("Available", ".status.availableReplicas", 0),
            AGE,
        ],
    },
    Def {
        gv: "apps/v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        short: &["sts"],
        namespaced: true,
        status: true,
        scale: true,
        columns: &[("Ready", "@ready", 0), AGE],
    },
    Def {
        gv: "policy/v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        short: &["pdb"],
        namespaced: true,
        status: true,
        scale: false,
        columns: &[
            ("Min Available", ".spec.minAvailable", 0),
            ("Max Unavailable", ".spec.maxUnavailable", 0),
            ("Allowed Disruptions", ".status.disruptionsAllowed", 0),
            AGE,
        ],
    },
    // What installing the Helm chart creates besides Deployments and Services: stored and served, not
    // enforced (the sandbox authorizes nothing; tests compare the rules with src/actuate/rbac.rs).
    Def {
        gv: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        short: &["sa"],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Secrets", "@serviceAccountSecrets", 0), AGE],
    },
    Def {
        gv: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        short: &[],
        namespaced: false,
        status: false,
        scale: false,
        columns: &[("Created At", ".metadata.creationTimestamp", 0)],
    },
    Def {
        gv: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        short: &[],
        namespaced: false,
        status: false,
        scale: false,
        columns: &[("Role", "@roleRef", 0), AGE],
    },
    Def {
        gv: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        plural: "roles",
        short: &[],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Created At", ".metadata.creationTimestamp", 0)],
    },
    Def {
        gv: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        short: &[],
        namespaced: true,
        status: false,
        scale: false,
        columns: &[("Role", "@roleRef", 0), AGE],
    },
    Def {
        gv: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        short: &["crd", "crds"],
        namespaced: false,
        status: true,
        scale: false,
        columns: &[("Created At", ".metadata.creationTimestamp", 0)],
    },
];

/// Register the built-in kinds.
pub fn install(reg: &mut Registry) {
    for d in DEFS {
        let (group, version) = d.gv.rsplit_once('/').unwrap_or(("", d.gv));
        let mut categories = Vec::new();
        if matches!(d.kind, "Pod" | "Service" | "Deployment" | "StatefulSet") {
            categories.push("all".to_string());
        }
        reg.insert(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            kind: d.kind.to_string(),
            plural: d.plural.to_string(),
            singular: d.kind.to_lowercase(),
            short_names: d.short.iter().map(|s| s.to_string()).collect(),
            categories,
            namespaced: d.namespaced,
            status_subresource: d.status,
            scale: d.scale.then(|| ScaleSpec {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                // Built-ins publish `spec.selector` (a LabelSelector); scale.rs renders it as a string.
                label_selector_path: Some(".spec.selector".into()),
            }),
            columns: d
                .columns
                .iter()
                .map(|(name, path, priority)| PrinterColumn {
                    name: name.to_string(),
                    type_: if *path == ".metadata.creationTimestamp" { "date" } else { "string" }.to_string(),
                    format: String::new(),
                    description: String::new(),
                    priority: *priority,
                    json_path: path.to_string(),
                })
                .collect(),
            crd_schema: None,
            crd_name: None,
            preferred: true,
        });
    }
}

/// Whether a group is built in (its kinds cannot be replaced by a CRD).
pub fn is_builtin_group(group: &str) -> bool {
    DEFS.iter().any(|d| d.gv.rsplit_once('/').map(|(g, _)| g).unwrap_or("") == group)
}
