//! `meta.k8s.io/v1` Table output for `kubectl get`: CRD printer columns (a JSONPath subset: `.a.b`,
//! `[N]`, `[?(@.k=="v")]`) or the built-in columns of `builtin.rs`; dates print as ages, as the real
//! server renders them.

use serde_json::{Value, json};

use super::registry::{PrinterColumn, ResourceType};

/// Evaluate the JSONPath subset against an object.
pub fn eval<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            // Field names may contain escaped dots: `.spec.limits.nvidia\.com/gpu`.
            let bytes = r.as_bytes();
            let mut end = 0;
            while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(r.len());
            let field = r[..end].replace("\\.", ".");
            if !field.is_empty() {
                cur = cur.get(&field)?;
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = filter.split_once("==")?;
                let want = v.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur.as_array()?.iter().find(|i| {
                    i.get(k.trim())
                        .is_some_and(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()) == want)
                })?;
            } else {
                let idx: usize = inner.trim().parse().ok()?;
                cur = cur.as_array()?.get(idx)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

/// `5m`, `3h`, `2d`: the real server's HumanDuration for dates.
pub fn human_age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else { return "<invalid>".into() };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 8 * 86_400 => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn computed(obj: &Value, name: &str) -> Value {
    let i = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    match name {
        "@ready" => json!(format!("{}/{}", i("/status/readyReplicas"), i("/spec/replicas"))),
        "@podReady" => {
            let cs = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            let total = obj.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let ready = cs.map_or(0, |c| c.iter().filter(|s| s.get("ready") == Some(&json!(true))).count());
            json!(format!("{ready}/{total}"))
        }
        "@podStatus" => {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                json!("Terminating")
            } else {
                obj.pointer("/status/phase").cloned().unwrap_or(json!("Pending"))
            }
        }
        "@podRestarts" => {
            let cs = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            json!(cs.map_or(0, |c| c.iter().filter_map(|s| s.get("restartCount").and_then(Value::as_i64)).sum::<i64>()))
        }
        "@nodeStatus" => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!("Ready"))))
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str);
            let mut s = if ready == Some("True") { "Ready".to_string() } else { "NotReady".to_string() };
            if obj.pointer("/spec/unschedulable") == Some(&json!(true)) {
                s.push_str(",SchedulingDisabled");
            }
            json!(s)
        }
        "@nodeRoles" => {
            let roles: Vec<String> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string)).collect()
                })
                .unwrap_or_default();
            json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") })
        }
        // `kubectl get sa` (1.24+): secrets listed on the ServiceAccount; `get rolebinding`: `Kind/name`.
        "@serviceAccountSecrets" => json!(obj.pointer("/secrets").and_then(Value::as_array).map_or(0, Vec::len)),
        "@roleRef" => json!(format!(
            "{}/{}",
            obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or(""),
            obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("")
        )),
        "@nodeInternalIP" => obj
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x.get("type") == Some(&json!("InternalIP"))))
            .and_then(|x| x.get("address").cloned())
            .unwrap_or(json!("<none>")),
        _ => Value::Null,
    }
}

fn cell(obj: &Value, col: &PrinterColumn) -> Value {
    if col.json_path.starts_with('@') {
        return computed(obj, &col.json_path);
    }
    match eval(obj, &col.json_path) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if col.type_ == "date" => json!(human_age(s)),
        Some(v @ (Value::Object(_) | Value::Array(_))) => json!(v.to_string()),
        Some(v) => v.clone(),
    }
}

fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    let cols = columns(rt);
    for c in &cols {
        defs.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    defs
}

fn columns(rt: &ResourceType) -> Vec<PrinterColumn> {
    if rt.columns.is_empty() {
        vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }]
    } else {
        rt.columns.clone()
    }
}

/// One row; `include_object` is `None`, `Metadata` (PartialObjectMetadata, the default) or `Object`.
fn row(rt: &ResourceType, obj: &Value, include: &str) -> Value {
    let mut cells = vec![obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
    cells.extend(columns(rt).iter().map(|c| cell(obj, c)));
    let object = match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    };
    json!({"cells": cells, "object": object})
}

/// A Table for a list (or a single object) of one kind.
pub fn table(rt: &ResourceType, objs: &[&Value], resource_version: &str, include: &str, with_columns: bool) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": objs.iter().map(|o| row(rt, o, include)).collect::<Vec<_>>(),
    });
    if with_columns {
        t["columnDefinitions"] = json!(column_definitions(rt));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset() {
        let o = json!({"spec": {"model": "m", "list": [{"t": "Ready", "s": "True"}, {"t": "X"}]}});
        assert_eq!(eval(&o, ".spec.model"), Some(&json!("m")));
        assert_eq!(eval(&o, ".spec.list[1].t"), Some(&json!("X")));
        assert_eq!(eval(&o, ".spec.list[?(@.t==\"Ready\")].s"), Some(&json!("True")));
        assert_eq!(eval(&o, ".status.x"), None);
        let l = json!({"spec": {"limits": {"nvidia.com/gpu": 8}}});
        assert_eq!(eval(&l, ".spec.limits.nvidia\\.com/gpu"), Some(&json!(8)));
    }
}
