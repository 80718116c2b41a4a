//! The kinds the server serves: built-in kinds (see `builtin.rs`) and those registered by CRDs.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the `/scale` subresource reads and writes replicas (CRD `subresources.scale` semantics).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    /// JSONPath of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSONPath of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// JSONPath of the label selector string, when the kind publishes one.
    pub label_selector_path: Option<String>,
}

/// One printer column (CRD `additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// Optional format (`name` for the first column).
    pub format: String,
    /// Help text.
    pub description: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i64,
    /// JSONPath into the object.
    pub json_path: String,
}

/// One served resource in one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Lower-case plural, the URL segment.
    pub plural: String,
    /// Lower-case singular.
    pub singular: String,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Has a `/status` subresource: main writes ignore status, status writes ignore everything else.
    pub status_subresource: bool,
    /// Has a `/scale` subresource.
    pub scale: Option<ScaleSpec>,
    /// Printer columns for Table output; empty means the default Name/Age table.
    pub columns: Vec<PrinterColumn>,
    /// The version's `openAPIV3Schema` when served from a CRD: objects go through admission.
    pub crd_schema: Option<super::admission::CompiledSchema>,
    /// Name of the CRD that registered this kind, if any.
    pub crd_name: Option<String>,
    /// Whether this version is the storage version (CRDs) or preferred version (built-ins).
    pub preferred: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Storage key shared by all versions of a resource: `group/plural`.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }
}

/// All served kinds, by group, version and plural.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    /// (group, version, plural) -> type.
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Registry {
    /// Add or replace a type.
    pub fn insert(&mut self, rt: ResourceType) {
        self.types.insert((rt.group.clone(), rt.version.clone(), rt.plural.clone()), Arc::new(rt));
    }

    /// Remove every version of the types registered by a CRD.
    pub fn remove_crd(&mut self, crd_name: &str) {
        self.types.retain(|_, rt| rt.crd_name.as_deref() != Some(crd_name));
    }

    /// Look up a served resource.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// Any version of a resource, preferring the preferred one (for cascading deletes and owner lookups).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types.values().find(|rt| rt.kind == kind && rt.api_version() == api_version).cloned().or_else(|| {
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            self.types.values().find(|rt| rt.kind == kind && rt.group == group).cloned()
        })
    }

    /// Every served type.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// Groups with their versions, preferred version first (as `/apis` lists them). Core is excluded.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: BTreeMap<String, Vec<(bool, String)>> = BTreeMap::new();
        for rt in self.types.values() {
            if rt.group.is_empty() {
                continue;
            }
            let versions = out.entry(rt.group.clone()).or_default();
            if let Some(v) = versions.iter_mut().find(|(_, v)| *v == rt.version) {
                v.0 |= rt.preferred;
            } else {
                versions.push((rt.preferred, rt.version.clone()));
            }
        }
        out.into_iter()
            .map(|(g, mut vs)| {
                vs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| version_priority(&b.1).cmp(&version_priority(&a.1))));
                (g, vs.into_iter().map(|(_, v)| v).collect())
            })
            .collect()
    }

    /// The types served in one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types.values().filter(|rt| rt.group == group && rt.version == version).cloned().collect()
    }
}

/// Kubernetes version ordering, roughly: GA > beta > alpha, then by number.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.trim_start_matches('v');
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if let Some(b) = tail.strip_prefix("beta") {
        (1, b.parse().unwrap_or(0))
    } else if let Some(a) = tail.strip_prefix("alpha") {
        (0, a.parse().unwrap_or(0))
    } else {
        (2, 0)
    };
    (stage, major, n)
}
