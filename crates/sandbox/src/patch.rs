//! Patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic merge patch for
//! built-in kinds. Server-side apply lives in `managed.rs`.
//!
//! Strategic merge patch differs from the real one in these ways:
//! - merge keys come from a fixed table by list field name (see `managed::list_key`: `containers`, `env`,
//!   `volumes`... by `name`, `ports` by `containerPort`/`port`, `conditions` by `type`, `ownerReferences` by
//!   `uid`), not from the Go struct tags of each type; every other list is replaced;
//! - `finalizers` merges as a set of strings; other primitive lists are replaced;
//! - directives supported: `$patch: delete` / `$patch: replace` (in maps and list items),
//!   `$deleteFromPrimitiveList/<field>`; `$setElementOrder/<field>` and `$retainKeys` are accepted and ignored.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::managed::list_key;

/// The patch flavours, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// From a Content-Type header.
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" | "application/apply-patch+cbor" => {
                Ok(PatchType::Apply)
            }
            _ => Err(ApiError::unsupported_media_type(ct)),
        }
    }
}

/// Apply a JSON merge patch.
pub fn merge(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// Apply a JSON patch; a failed operation (e.g. a `test`) is a 422 as on the real server.
pub fn json(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut out = target.clone();
    for op in ops.0 {
        // As the real server (evanphx/json-patch): `test` with a null value passes when the path is
        // absent. kube-rs's finalizer helper relies on it to add the first finalizer.
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && out.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(&mut out, &[op]).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {e}"),
            )
        })?;
    }
    Ok(out)
}

/// Apply a strategic merge patch (see the module docs for what differs from the real one).
pub fn strategic(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    Ok(strategic_value(Some(target), patch, ""))
}

fn strategic_value(target: Option<&Value>, patch: &Value, field: &str) -> Value {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut m = p.clone();
                m.remove("$patch");
                return Value::Object(strip_directives(m));
            }
            let mut out = match target {
                Some(Value::Object(t)) => t.clone(),
                _ => Map::new(),
            };
            for (k, pv) in p {
                if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
                    continue;
                }
                if let Some(f) = k.strip_prefix("$deleteFromPrimitiveList/") {
                    if let (Some(Value::Array(items)), Value::Array(del)) = (out.get_mut(f), pv) {
                        items.retain(|i| !del.contains(i));
                    }
                    continue;
                }
                if pv.is_null() {
                    out.remove(k);
                    continue;
                }
                if pv.get("$patch").and_then(Value::as_str) == Some("delete") {
                    out.remove(k);
                    continue;
                }
                let merged = strategic_value(out.get(k), pv, k);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let current = match target {
                Some(Value::Array(t)) => t.clone(),
                _ => Vec::new(),
            };
            if field == "finalizers" {
                let mut out = current;
                for i in items {
                    if !out.contains(i) {
                        out.push(i.clone());
                    }
                }
                return Value::Array(out);
            }
            let keyed: Vec<Value> = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
            let Some(key) = list_key(field, if keyed.is_empty() { &current } else { &keyed }) else {
                return Value::Array(items.iter().map(|i| strategic_value(None, i, "")).collect());
            };
            if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
                return Value::Array(keyed);
            }
            let mut out = current;
            for item in items {
                let k = item.get(key);
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    out.retain(|o| o.get(key) != k);
                    continue;
                }
                match out.iter_mut().find(|o| o.get(key) == k) {
                    Some(existing) => *existing = strategic_value(Some(existing), item, ""),
                    None => out.push(strategic_value(None, item, "")),
                }
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

fn strip_directives(mut m: Map<String, Value>) -> Map<String, Value> {
    m.retain(|k, _| !k.starts_with('$'));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_env_by_name() {
        let t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}});
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"}]}});
        let out = strategic(&t, &p).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a", "image": "a:2",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
        );
    }

    #[test]
    fn strategic_replaces_unkeyed_lists_and_deletes_nulls() {
        let t = json!({"spec": {"args": ["a", "b"], "x": 1}, "metadata": {"finalizers": ["f1"]}});
        let p = json!({"spec": {"args": ["c"], "x": null}, "metadata": {"finalizers": ["f2"]}});
        let out = strategic(&t, &p).unwrap();
        assert_eq!(out, json!({"spec": {"args": ["c"]}, "metadata": {"finalizers": ["f1", "f2"]}}));
    }

    #[test]
    fn json_patch_test_failure_is_invalid() {
        let t = json!({"spec": {"replicas": 1}});
        let ok = json(&t, &json!([{"op": "replace", "path": "/spec/replicas", "value": 2}])).unwrap();
        assert_eq!(ok["spec"]["replicas"], 2);
        let err = json(&t, &json!([{"op": "test", "path": "/spec/replicas", "value": 9}])).unwrap_err();
        assert_eq!(err.code, 422);
        // kube-rs's finalizer helper: test-null on an absent path, then add.
        let p = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]);
        let t = json!({"metadata": {"name": "x"}});
        assert_eq!(json(&t, &p).unwrap()["metadata"]["finalizers"], json!(["f"]));
    }
}
