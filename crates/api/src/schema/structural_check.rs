//! Whether a CRD version's schema is structural, as `apiextensions.k8s.io/v1` requires at CRD creation
//! (`ValidateStructural` and the CRD validation around it). A real API server refuses a CRD that fails
//! these; the sandbox core can do the same with [`super::CrdSchema::check`].
//!
//! Checked: a non-empty `type` at the root, for every property, every `additionalProperties` value and
//! every `items` (except int-or-string and preserve-unknown-fields nodes); `type` empty with
//! `x-kubernetes-int-or-string`; no `type`, `default`, `nullable`, `additionalProperties` or `description`
//! inside `allOf`/`anyOf`/`oneOf`/`not`, and every property or item named there also declared outside;
//! `properties` and `additionalProperties` not both; no `additionalProperties: false`, no `uniqueItems: true`,
//! `x-kubernetes-preserve-unknown-fields` only `true`; `x-kubernetes-list-type: map` with
//! `x-kubernetes-list-map-keys` that object items declare; root `metadata` restricting only `name` and
//! `generateName`; `x-kubernetes-embedded-resource` only on objects.

use serde_json::Value;

use super::error::FieldError;
use super::node;

/// Structural-schema violations, with paths below `path` (e.g. `openAPIV3Schema`).
pub fn check(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if node::type_name(schema).is_empty() && !exempt_from_type(schema) {
        errs.push(FieldError::required(format!("{path}.type"), "must not be empty at the root"));
    }
    if let Some(Value::Object(props)) = schema.get("properties")
        && let Some(meta) = props.get("metadata")
    {
        check_root_metadata(meta, &format!("{path}.properties[metadata]"), errs);
    }
    check_node(schema, path, errs);
}

fn exempt_from_type(schema: &Value) -> bool {
    node::flag(schema, "x-kubernetes-int-or-string") || node::flag(schema, "x-kubernetes-preserve-unknown-fields")
}

fn check_node(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let ty = node::type_name(schema);
    if node::flag(schema, "x-kubernetes-int-or-string") && !ty.is_empty() {
        errs.push(FieldError::invalid(
            format!("{path}.type"),
            Value::String(ty.to_string()),
            "must be empty if x-kubernetes-int-or-string is true",
        ));
    }
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errs.push(FieldError::invalid(
            format!("{path}.x-kubernetes-preserve-unknown-fields"),
            Value::Bool(false),
            "must be true or undefined",
        ));
    }
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        errs.push(FieldError::forbidden(format!("{path}.additionalProperties"), "must not be false"));
    }
    if node::properties(schema).is_some() && schema.get("additionalProperties").is_some() {
        errs.push(FieldError::forbidden(
            format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
        errs.push(FieldError::forbidden(
            format!("{path}.uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if node::flag(schema, "x-kubernetes-embedded-resource") && ty != "object" {
        errs.push(FieldError::invalid(
            format!("{path}.type"),
            Value::String(ty.to_string()),
            "must be object if x-kubernetes-embedded-resource is true",
        ));
    }
    if node::list_type(schema) == Some("map") {
        check_list_map(schema, path, errs);
    }

    if let Some(props) = node::properties(schema) {
        for (name, child) in props {
            let child_path = format!("{path}.properties[{name}]");
            if node::type_name(child).is_empty() && !exempt_from_type(child) {
                errs.push(FieldError::required(
                    format!("{child_path}.type"),
                    "must not be empty for specified object fields",
                ));
            }
            check_node(child, &child_path, errs);
        }
    }
    if let Some(add) = node::additional_schema(schema) {
        let child_path = format!("{path}.additionalProperties");
        if node::type_name(add).is_empty() && !exempt_from_type(add) {
            errs.push(FieldError::required(
                format!("{child_path}.type"),
                "must not be empty for specified object fields",
            ));
        }
        check_node(add, &child_path, errs);
    }
    match schema.get("items") {
        Some(items @ Value::Object(_)) => {
            let child_path = format!("{path}.items");
            if node::type_name(items).is_empty() && !exempt_from_type(items) {
                errs.push(FieldError::required(
                    format!("{child_path}.type"),
                    "must not be empty for specified array items",
                ));
            }
            check_node(items, &child_path, errs);
        }
        Some(Value::Array(_)) => {
            errs.push(FieldError::forbidden(format!("{path}.items"), "items must be a schema object and not an array"));
        }
        _ => {}
    }
    if ty == "array" && schema.get("items").is_none() {
        errs.push(FieldError::required(format!("{path}.items"), "must be specified"));
    }

    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema.get(junctor).and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                check_junctor(schema, branch, &format!("{path}.{junctor}[{i}]"), errs);
            }
        }
    }
    if let Some(not) = schema.get("not") {
        check_junctor(schema, not, &format!("{path}.not"), errs);
    }
}

/// Inside a logical junctor only value validations may appear, on fields declared outside it.
fn check_junctor(outer: &Value, branch: &Value, path: &str, errs: &mut Vec<FieldError>) {
    // The int-or-string idiom `anyOf: [{type: integer}, {type: string}]` is allowed.
    let int_or_string = node::flag(outer, "x-kubernetes-int-or-string");
    for key in ["type", "default", "nullable", "additionalProperties", "description"] {
        if branch.get(key).is_some() && !(int_or_string && key == "type") {
            errs.push(FieldError::forbidden(format!("{path}.{key}"), "must be empty to be structural"));
        }
    }
    if let Some(props) = node::properties(branch) {
        let outer_props = node::properties(outer);
        for (name, child) in props {
            let child_path = format!("{path}.properties[{name}]");
            match outer_props.and_then(|p| p.get(name)) {
                Some(outer_child) => check_junctor(outer_child, child, &child_path, errs),
                None => errs.push(FieldError::required(
                    child_path,
                    "must be specified outside of the logical junctors (allOf, anyOf, oneOf, not) to be structural",
                )),
            }
        }
    }
    if let Some(items) = branch.get("items") {
        match outer.get("items") {
            Some(outer_items) => check_junctor(outer_items, items, &format!("{path}.items"), errs),
            None => errs.push(FieldError::required(
                format!("{path}.items"),
                "must be specified outside of the logical junctors (allOf, anyOf, oneOf, not) to be structural",
            )),
        }
    }
}

fn check_list_map(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let keys = node::list_map_keys(schema);
    if keys.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.x-kubernetes-list-map-keys"),
            "must not be empty if x-kubernetes-list-type is map",
        ));
        return;
    }
    let items = schema.get("items").unwrap_or(&Value::Null);
    if node::type_name(items) != "object" {
        errs.push(FieldError::invalid(
            format!("{path}.items.type"),
            Value::String(node::type_name(items).to_string()),
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let props = node::properties(items);
    let required: Vec<&str> = items
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for key in keys {
        match props.and_then(|p| p.get(key)) {
            None => errs.push(FieldError::required(
                format!("{path}.items.properties[{key}]"),
                "entries must all be names of item properties",
            )),
            Some(prop) if !required.contains(&key) && prop.get("default").is_none() => errs.push(FieldError::required(
                format!("{path}.items.properties[{key}]"),
                "all map keys must be required or have a default value",
            )),
            Some(_) => {}
        }
    }
}

/// At the root, `metadata` may only restrict `name` and `generateName` (and say it is an object).
fn check_root_metadata(meta: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Value::Object(map) = meta else { return };
    for (key, value) in map {
        match key.as_str() {
            "type" | "description" => {}
            "properties" => {
                if let Value::Object(props) = value {
                    for (name, prop) in props {
                        let allowed = (name == "name" || name == "generateName")
                            && prop.as_object().is_some_and(|p| {
                                p.keys().all(|k| !matches!(k.as_str(), "properties" | "items" | "default"))
                            });
                        if !allowed {
                            errs.push(FieldError::forbidden(
                                format!("{path}.properties[{name}]"),
                                "must not specify anything other than name and generateName, but metadata is implicitly specified",
                            ));
                        }
                    }
                }
            }
            other => errs.push(FieldError::forbidden(
                format!("{path}.{other}"),
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            )),
        }
    }
}
