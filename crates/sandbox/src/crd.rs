//! CustomResourceDefinition registration: a stored CRD becomes served kinds, and gets the `Established`
//! and `NamesAccepted` conditions the real apiextensions server sets.

use serde_json::{Value, json};

use super::admission::{CompiledSchema, invalid_status};
use super::builtin;
use super::error::ApiError;
use super::registry::{PrinterColumn, ResourceType, ScaleSpec};

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The served kinds a CRD declares (one per served version), or a 422 naming what is missing.
pub fn resource_types(crd: &Value) -> Result<Vec<ResourceType>, ApiError> {
    let name = str_at(crd, "/metadata/name").unwrap_or_default().to_string();
    let mut causes = Vec::new();
    let mut need = |ptr: &str, field: &str| -> String {
        match str_at(crd, ptr) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                causes.push(("FieldValueRequired".to_string(), field.to_string(), "Required value".to_string()));
                String::new()
            }
        }
    };
    let group = need("/spec/group", "spec.group");
    let plural = need("/spec/names/plural", "spec.names.plural");
    let kind = need("/spec/names/kind", "spec.names.kind");
    let scope = need("/spec/scope", "spec.scope");
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(("FieldValueRequired".into(), "spec.versions".into(), "Required value".into()));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "FieldValueInvalid".into(),
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if builtin::is_builtin_group(&group) {
        causes.push((
            "FieldValueInvalid".into(),
            "spec.group".into(),
            format!("Invalid value: \"{group}\": this group is served by the sandbox's built-in kinds"),
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("CustomResourceDefinition", "apiextensions.k8s.io", &name, causes));
    }
    let singular = str_at(crd, "/spec/names/singular").map(str::to_string).unwrap_or_else(|| kind.to_lowercase());
    let short_names = strings(crd.pointer("/spec/names/shortNames"));
    let categories = strings(crd.pointer("/spec/names/categories"));
    let mut out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(version) = v.get("name").and_then(Value::as_str) else { continue };
        // A CRD without a schema still goes through admission: it accepts any object.
        let raw = v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or_else(|| json!({"type": "object"}));
        let schema = CompiledSchema::new(&raw);
        let problems = schema.check();
        if !problems.is_empty() {
            let prefixed: Vec<_> = problems
                .into_iter()
                .map(|mut e| {
                    e.path = format!("spec.versions[{i}].schema.{}", e.path);
                    e
                })
                .collect();
            return Err(invalid_status("CustomResourceDefinition", "apiextensions.k8s.io", &name, &prefixed));
        }
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: c.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        type_: c.get("type").and_then(Value::as_str).unwrap_or("string").to_string(),
                        format: c.get("format").and_then(Value::as_str).unwrap_or_default().to_string(),
                        description: c.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: c.get("jsonPath").and_then(Value::as_str).unwrap_or_default().to_string(),
                    })
                    .collect::<Vec<_>>()
            })
            .map(|mut cols| {
                // The real server shows Age last unless the CRD already has a date column for it.
                if !cols.iter().any(|c| c.json_path == ".metadata.creationTimestamp") {
                    cols.push(PrinterColumn {
                        name: "Age".into(),
                        type_: "date".into(),
                        format: String::new(),
                        description: String::new(),
                        priority: 0,
                        json_path: ".metadata.creationTimestamp".into(),
                    });
                }
                cols
            })
            .unwrap_or_default();
        let subresources = v.get("subresources");
        let scale = subresources.and_then(|s| s.get("scale")).map(|s| ScaleSpec {
            spec_replicas_path: s.get("specReplicasPath").and_then(Value::as_str).unwrap_or(".spec.replicas").into(),
            status_replicas_path: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .into(),
            label_selector_path: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
        });
        out.push(ResourceType {
            group: group.clone(),
            version: version.to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            categories: categories.clone(),
            namespaced: scope == "Namespaced",
            status_subresource: subresources.and_then(|s| s.get("status")).is_some(),
            scale,
            columns,
            crd_schema: Some(schema),
            crd_name: Some(name.clone()),
            preferred: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    Ok(out)
}

/// Set the status the apiextensions server writes once the names are accepted.
pub fn set_established(crd: &mut Value, now: &str) {
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    });
}

/// The formats a Kubernetes API server recognises in CRD schemas, normalised without `-`: the string
/// formats of apiextensions' `supportedVersionedFormats` (up to `k8s-long-name`), and the integer and number
/// formats of OpenAPI. Any other (`uint32`, `uint16`, what schemars emits for unsigned integers) is accepted
/// with a warning.
const RECOGNIZED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
    "int32",
    "int64",
    "float",
    "double",
];

/// The `Warning`s the real server returns for a CRD whose schemas use formats it does not recognise, one per
/// format (`unrecognized format "uint32"`, which kubectl prints as `Warning: ...`). On update only formats
/// the old CRD did not already use warn, as upstream ratchets them.
pub fn format_warnings(crd: &Value, old: Option<&Value>) -> Vec<String> {
    let old = old.map(unrecognized_formats).unwrap_or_default();
    unrecognized_formats(crd).difference(&old).map(|f| format!("unrecognized format {f:?}")).collect()
}

fn unrecognized_formats(crd: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for v in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            collect_formats(schema, &mut out);
        }
    }
    out
}

/// Every unrecognised `format` in a schema and the schemas below it (`SchemaHas`'s walk).
fn collect_formats(schema: &Value, out: &mut std::collections::BTreeSet<String>) {
    let Some(m) = schema.as_object() else { return };
    if let Some(f) = m.get("format").and_then(Value::as_str)
        && !f.is_empty()
        && !RECOGNIZED_FORMATS.contains(&f.replace('-', "").as_str())
    {
        out.insert(f.to_string());
    }
    // Schema-valued keywords, then keywords holding a list or a map of schemas.
    for key in ["items", "not", "additionalProperties", "additionalItems"] {
        if let Some(child) = m.get(key) {
            match child {
                Value::Array(list) => list.iter().for_each(|s| collect_formats(s, out)),
                other => collect_formats(other, out),
            }
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        m.get(key).and_then(Value::as_array).into_iter().flatten().for_each(|s| collect_formats(s, out));
    }
    for key in ["properties", "patternProperties", "definitions", "dependencies"] {
        m.get(key).and_then(Value::as_object).into_iter().flatten().for_each(|(_, s)| collect_formats(s, out));
    }
}
