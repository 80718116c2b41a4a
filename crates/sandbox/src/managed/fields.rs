//! Field paths: the leaves of an object as FieldsV1 element paths (`f:spec`, `k:{"name":"a"}`, `v:"x"`),
//! their FieldsV1 encoding and decoding, and the `.spec.containers[name="a"]` form conflict messages print.
//! Apart from the managedFields bookkeeping because this is the one place that knows how lists are keyed
//! (strategic merge patches use [`list_key`] too).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A field path in FieldsV1 element form: `f:spec`, `k:{"name":"a"}`, `v:"x"`, `.`.
pub type Path = Vec<String>;

/// The key fields of an associative list, by the list field's name and the items it holds.
pub fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let first = items.first()?;
    let has = |k: &str| items.iter().all(|i| i.get(k).is_some());
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "ports" if first.get("containerPort").is_some() => "containerPort",
        "ports" => "port",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    };
    has(key).then_some(key)
}

pub(super) fn is_set(field: &str) -> bool {
    field == "finalizers"
}

fn key_elem(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(key.to_string(), item.get(key).cloned().unwrap_or(Value::Null));
    format!("k:{}", Value::Object(m))
}

/// Every owned leaf of an object with its value. `apiVersion`, `kind` and system metadata are skipped.
pub fn leaves(obj: &Value) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    let Some(m) = obj.as_object() else { return out };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if let Some(meta) = v.as_object() {
                    for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                        if let Some(x) = meta.get(f) {
                            walk(&mut vec!["f:metadata".into()], f, x, &mut out);
                        }
                    }
                }
            }
            _ => walk(&mut Vec::new(), k, v, &mut out),
        }
    }
    out
}

fn walk(prefix: &mut Path, field: &str, v: &Value, out: &mut BTreeMap<Path, Value>) {
    prefix.push(format!("f:{field}"));
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                walk(prefix, k, x, out);
            }
        }
        Value::Array(items) if is_set(field) => {
            for i in items {
                prefix.push(format!("v:{i}"));
                out.insert(prefix.clone(), i.clone());
                prefix.pop();
            }
        }
        Value::Array(items) => match list_key(field, items) {
            Some(key) if items.iter().all(Value::is_object) => {
                for item in items {
                    prefix.push(key_elem(key, item));
                    prefix.push(".".into());
                    out.insert(prefix.clone(), json!({}));
                    prefix.pop();
                    if let Some(m) = item.as_object() {
                        for (k, x) in m {
                            walk(prefix, k, x, out);
                        }
                    }
                    prefix.pop();
                }
            }
            _ => {
                out.insert(prefix.clone(), v.clone());
            }
        },
        _ => {
            out.insert(prefix.clone(), v.clone());
        }
    }
    prefix.pop();
}

/// FieldsV1 JSON for a set of paths.
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut node = &mut root;
        for e in p {
            let next = node.entry(e.clone()).or_insert_with(|| json!({}));
            node = match next {
                Value::Object(m) => m,
                _ => unreachable!("fieldsV1 nodes are objects"),
            };
        }
    }
    Value::Object(root)
}

/// The set of paths in a FieldsV1 object (leaves: empty objects).
pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn rec(prefix: &mut Path, v: &Value, out: &mut BTreeSet<Path>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, x) in m {
                    prefix.push(k.clone());
                    rec(prefix, x, out);
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    rec(&mut Vec::new(), v, &mut out);
    out
}

/// `.spec.containers[name="a"].image`, as conflict messages print paths.
pub fn render_path(p: &Path) -> String {
    let mut s = String::new();
    for e in p {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let kv: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}
