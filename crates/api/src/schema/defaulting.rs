//! The decoding steps the API server runs on a custom resource before validating it: pruning unknown
//! fields, dropping non-nullable nulls, and applying `default`s (structuralpruning and structuraldefaulting
//! in k8s.io/apiextensions-apiserver).

use serde_json::{Map, Value};

use super::node;

/// Fields of `metav1.ObjectMeta`: anything else under `metadata` is dropped when the server decodes it.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Remove every field the schema does not declare, as the server does on decode. Returns the paths of the
/// removed fields (e.g. `spec.foo`, `spec.items[0].bar`, `metadata.foo`): with `fieldValidation=Strict`
/// (kubectl's default) the server rejects the request naming them, with `Warn` it returns them as warnings.
///
/// `apiVersion`, `kind` and `metadata` are kept at the root and in `x-kubernetes-embedded-resource` objects;
/// `metadata` is reduced to the fields of ObjectMeta.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut removed = Vec::new();
    prune_node(schema, obj, "", true, &mut removed);
    removed
}

fn prune_node(schema: &Value, value: &mut Value, path: &str, resource_root: bool, removed: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let embedded = resource_root || node::flag(schema, "x-kubernetes-embedded-resource");
            let preserve = node::preserves_unknown(schema);
            let props = node::properties(schema);
            let additional = node::additional_schema(schema);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = node::child_path(path, &key);
                if embedded && (key == "apiVersion" || key == "kind") {
                    continue;
                }
                if embedded && key == "metadata" {
                    if let Some(Value::Object(meta)) = map.get_mut(&key) {
                        prune_object_meta(meta, &child_path, removed);
                    }
                    continue;
                }
                if let Some(prop) = props.and_then(|p| p.get(&key)) {
                    if let Some(child) = map.get_mut(&key) {
                        prune_node(prop, child, &child_path, false, removed);
                    }
                } else if let Some(add) = additional {
                    if let Some(child) = map.get_mut(&key) {
                        prune_node(add, child, &child_path, false, removed);
                    }
                } else if !preserve {
                    map.remove(&key);
                    removed.push(child_path);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item_schema, item, &format!("{path}[{i}]"), false, removed);
                }
            }
        }
        _ => {}
    }
}

fn prune_object_meta(meta: &mut Map<String, Value>, path: &str, removed: &mut Vec<String>) {
    let unknown: Vec<String> = meta.keys().filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str())).cloned().collect();
    for key in unknown {
        meta.remove(&key);
        removed.push(node::child_path(path, &key));
    }
}

/// Drop `null`s of fields that are neither nullable nor defaulted (the server treats them as absent; a
/// defaulted one is then defaulted).
pub fn prune_non_nullable_nulls(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let props = node::properties(schema);
            let additional = node::additional_schema(schema);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some(child_schema) = props.and_then(|p| p.get(&key)).or(additional) else {
                    continue;
                };
                let drop = map.get(&key).is_some_and(Value::is_null)
                    && child_schema.get("default").is_none()
                    && !node::flag(child_schema, "nullable");
                if drop {
                    map.remove(&key);
                } else if let Some(child) = map.get_mut(&key) {
                    prune_non_nullable_nulls(child_schema, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune_non_nullable_nulls(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Apply `default`s: a missing property (or a `null` one that is not nullable) takes its schema's default,
/// then defaulting continues inside every present value, including the defaults just inserted, so nested
/// defaults apply whenever their parent exists.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let props = node::properties(schema);
            if let Some(props) = props {
                for (key, prop) in props {
                    let Some(default) = prop.get("default") else { continue };
                    let missing = match map.get(key) {
                        None => true,
                        Some(Value::Null) => !node::flag(prop, "nullable"),
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            let additional = node::additional_schema(schema);
            for (key, child) in map.iter_mut() {
                if let Some(prop) = props.and_then(|p| p.get(key)) {
                    apply_defaults(prop, child);
                } else if let Some(add) = additional {
                    apply_defaults(add, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}
