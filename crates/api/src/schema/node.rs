//! Small readers over one node of a CRD's `openAPIV3Schema` (a `JSONSchemaProps` as JSON).

use serde_json::{Map, Value};

/// A boolean vendor extension or keyword that is `true` on this node.
pub fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// `properties`, when present.
pub fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The `additionalProperties` schema of a map node (not a boolean).
pub fn additional_schema(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

/// Whether unknown fields under this node are kept: `x-kubernetes-preserve-unknown-fields: true`, or
/// `additionalProperties: true`.
pub fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
        || schema.get("additionalProperties") == Some(&Value::Bool(true))
}

/// The node's `type` (empty when untyped, e.g. int-or-string or preserve-unknown-fields).
pub fn type_name(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

/// `x-kubernetes-list-type` (`atomic`, `set` or `map`).
pub fn list_type(schema: &Value) -> Option<&str> {
    schema.get("x-kubernetes-list-type").and_then(Value::as_str)
}

/// `x-kubernetes-list-map-keys`.
pub fn list_map_keys(schema: &Value) -> Vec<&str> {
    schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The field path of a property: `name` at the root, `parent.name` below it (the form kube-openapi and
/// field.Path print).
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") }
}

/// Whether a JSON number is an integer as the API server decodes it (int64), or a float64 with no fraction
/// (which the schema's `integer` type also accepts).
pub fn is_integral(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// The JSON type the server infers for a decoded value (`integer` only for int64-decoded numbers).
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
