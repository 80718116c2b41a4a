//! Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply.
//!
//! Simplifications against the real structured-merge-diff, documented here because they are visible:
//! - Lists are associative only where the built-in types key them (`containers`/`env`/`volumes`... by
//!   `name`, `ports` by `containerPort` or `port`, `conditions` by `type`, `ownerReferences` by `uid`, see
//!   [`list_key`]); `finalizers` is a set; every other list is atomic (owned and replaced as a whole).
//! - Managers are identified as the real server does, by name, operation and subresource: `kubectl`
//!   applying conflicts with `kubectl` having scaled through `/scale`.
//! - Conflicts are reported for leaf fields another manager owns with a different value.
//!
//! This module keeps the managedFields entries and the apply; `fields` turns objects into owned field
//! paths and paths into FieldsV1.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::error::ApiError;

mod fields;

use fields::is_set;
pub use fields::{Path, from_fields_v1, leaves, list_key, render_path, to_fields_v1};

/// One managedFields entry, parsed.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: BTreeSet<Path>,
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e.get("manager").and_then(Value::as_str).unwrap_or_default().into(),
                    operation: e.get("operation").and_then(Value::as_str).unwrap_or("Update").into(),
                    api_version: e.get("apiVersion").and_then(Value::as_str).unwrap_or_default().into(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or_default().into(),
                    subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_entries(obj: &mut Value, entries: Vec<Entry>) {
    let arr: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("managedFields".into(), Value::Array(arr));
    }
}

/// Record a non-apply write: the fields it changed now belong to `manager` (operation `Update`) and to
/// nobody else; removed fields belong to nobody.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let new_leaves = leaves(new);
    let old_leaves = old.map(leaves).unwrap_or_default();
    let changed: BTreeSet<Path> =
        new_leaves.iter().filter(|(p, v)| old_leaves.get(*p) != Some(*v)).map(|(p, _)| p.clone()).collect();
    let removed: BTreeSet<Path> = old_leaves.keys().filter(|p| !new_leaves.contains_key(*p)).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        return;
    }
    let mut entries = read_entries(new);
    let sub = subresource.map(str::to_string);
    for e in &mut entries {
        let same = e.manager == manager && e.operation == "Update" && e.subresource == sub;
        e.fields.retain(|p| !removed.contains(p) && (same || !changed.contains(p)));
    }
    match entries.iter_mut().find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub) {
        Some(e) => {
            e.fields.extend(changed);
            e.time = now.to_string();
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: sub,
            fields: changed,
        }),
    }
    write_entries(new, entries);
}

/// Merge an applied configuration into the live object: maps recursively, associative lists by key,
/// everything else replaced.
pub fn merge_applied(live: &Value, applied: &Value, field: &str) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            for (k, av) in a {
                let merged = match l.get(k) {
                    Some(lv) => merge_applied(lv, av, k),
                    None => av.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) if is_set(field) => {
            let mut out = l.clone();
            for x in a {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Array(l), Value::Array(a)) => {
            match list_key(field, a).filter(|_| list_key(field, l).is_some() || l.is_empty()) {
                Some(key) => {
                    let mut out: Vec<Value> = Vec::new();
                    for ai in a {
                        match l.iter().find(|li| li.get(key) == ai.get(key)) {
                            Some(li) => out.push(merge_applied(li, ai, "")),
                            None => out.push(ai.clone()),
                        }
                    }
                    for li in l {
                        if !a.iter().any(|ai| ai.get(key) == li.get(key)) {
                            out.push(li.clone());
                        }
                    }
                    Value::Array(out)
                }
                None => applied.clone(),
            }
        }
        _ => applied.clone(),
    }
}

/// Remove one path from an object (a field, a list item by key, a set member).
fn remove_path(obj: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else { return };
    if let Some(f) = first.strip_prefix("f:") {
        let Some(m) = obj.as_object_mut() else { return };
        match rest.first().map(String::as_str) {
            None => {
                m.remove(f);
            }
            Some(e) if e.starts_with("v:") => {
                if let Some(Value::Array(items)) = m.get_mut(f) {
                    let target: Value = serde_json::from_str(&e[2..]).unwrap_or(Value::Null);
                    items.retain(|i| *i != target);
                }
            }
            Some(e) if e.starts_with("k:") => {
                let kv: Map<String, Value> = serde_json::from_str(&e[2..]).unwrap_or_default();
                if let Some(Value::Array(items)) = m.get_mut(f) {
                    let matches = |i: &Value| kv.iter().all(|(k, v)| i.get(k) == Some(v));
                    if rest.get(1).map(String::as_str) == Some(".") {
                        items.retain(|i| !matches(i));
                    } else if let Some(item) = items.iter_mut().find(|i| matches(i)) {
                        remove_path(item, &rest[1..]);
                    }
                }
            }
            Some(_) => {
                if let Some(child) = m.get_mut(f) {
                    remove_path(child, rest);
                    if child.as_object().is_some_and(Map::is_empty) {
                        m.remove(f);
                    }
                }
            }
        }
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (None: create). Returns the new object with
/// its managedFields, or a 409 listing the fields other managers own with different values.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    subresource: Option<&str>,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, ApiError> {
    let mut applied_clean = applied.clone();
    if let Some(m) = applied_clean.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    let applied_leaves = leaves(&applied_clean);
    let Some(live) = live else {
        let mut obj = applied_clean;
        let entry = Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: subresource.map(str::to_string),
            fields: applied_leaves.into_keys().collect(),
        };
        write_entries(&mut obj, vec![entry]);
        return Ok(obj);
    };
    let live_leaves = leaves(live);
    let mut entries = read_entries(live);
    let mut conflicts: BTreeMap<(String, String), Vec<Path>> = BTreeMap::new();
    let is_self = |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == subresource;
    for e in entries.iter().filter(|e| !is_self(e)) {
        for (p, v) in &applied_leaves {
            if e.fields.contains(p) && live_leaves.get(p).is_some_and(|lv| lv != v) {
                let who = match &e.subresource {
                    Some(s) => format!("\"{}\" with subresource \"{s}\"", e.manager),
                    None => format!("\"{}\"", e.manager),
                };
                conflicts.entry((who, e.api_version.clone())).or_default().push(p.clone());
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    // Forced (or no conflicts): take the conflicting fields from their owners.
    let taken: BTreeSet<Path> = conflicts.values().flatten().cloned().collect();
    for e in entries.iter_mut().filter(|e| !is_self(e)) {
        e.fields.retain(|p| !taken.contains(p));
    }
    let previous: BTreeSet<Path> =
        entries.iter().filter(|e| is_self(e)).flat_map(|e| e.fields.iter().cloned()).collect();
    let mut merged = merge_applied(live, &applied_clean, "");
    // Fields this manager applied before but no longer does, and nobody else owns, are removed.
    for p in previous.iter().filter(|p| !applied_leaves.contains_key(*p)) {
        let owned_elsewhere = entries.iter().any(|e| !is_self(e) && e.fields.contains(p));
        if !owned_elsewhere {
            remove_path(&mut merged, p);
        }
    }
    entries.retain(|e| !is_self(e));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: now.to_string(),
        subresource: subresource.map(str::to_string),
        fields: applied_leaves.into_keys().collect(),
    });
    write_entries(&mut merged, entries);
    Ok(merged)
}

fn conflict_error(conflicts: &BTreeMap<(String, String), Vec<Path>>) -> ApiError {
    let total: usize = conflicts.values().map(Vec::len).sum();
    let mut causes = Vec::new();
    let mut parts = Vec::new();
    for ((mgr, av), paths) in conflicts {
        let using = if av.is_empty() { String::new() } else { format!(" using {av}") };
        for p in paths {
            causes.push(json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {mgr}{using}"),
                "field": render_path(p),
            }));
        }
        if total == 1 {
            parts.push(format!("conflict with {mgr}{using}: {}", render_path(&paths[0])));
        } else {
            let list: Vec<String> = paths.iter().map(|p| format!("- {}", render_path(p))).collect();
            parts.push(format!("conflicts with {mgr}{using}:\n{}", list.join("\n")));
        }
    }
    let plural = if total == 1 { "conflict" } else { "conflicts" };
    let mut e = ApiError::new(409, "Conflict", format!("Apply failed with {total} {plural}: {}", parts.join("\n")));
    e.details = Some(json!({ "causes": causes }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn fields_v1_round_trip_and_paths() {
        let l = leaves(&deploy(1, "x"));
        assert!(l.contains_key(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        let set: BTreeSet<Path> = l.into_keys().collect();
        let v = to_fields_v1(&set);
        assert!(v.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"c\"}/f:image").is_some());
        assert_eq!(from_fields_v1(&v), set);
        let p = vec!["f:spec".into(), "f:containers".into(), "k:{\"name\":\"c\"}".into(), "f:image".into()];
        assert_eq!(render_path(&p), ".spec.containers[name=\"c\"].image");
    }

    #[test]
    fn apply_conflicts_with_another_manager_unless_forced() {
        let live = apply(None, &deploy(1, "x"), "alice", None, false, "apps/v1", "t").unwrap();
        let err = apply(Some(&live), &deploy(3, "x"), "bob", None, false, "apps/v1", "t").unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.message, "Apply failed with 1 conflict: conflict with \"alice\" using apps/v1: .spec.replicas");
        let forced = apply(Some(&live), &deploy(3, "x"), "bob", None, true, "apps/v1", "t").unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let entries = read_entries(&forced);
        let alice = entries.iter().find(|e| e.manager == "alice").unwrap();
        assert!(!alice.fields.contains(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        // Same value: shared ownership, no conflict.
        assert!(apply(Some(&live), &deploy(1, "x"), "bob", None, false, "apps/v1", "t").is_ok());
    }

    #[test]
    fn apply_removes_fields_the_manager_dropped() {
        let live = apply(None, &deploy(1, "x"), "alice", None, false, "apps/v1", "t").unwrap();
        let mut less = deploy(1, "x");
        less["metadata"].as_object_mut().unwrap().remove("labels");
        let out = apply(Some(&live), &less, "alice", None, false, "apps/v1", "t").unwrap();
        assert!(out.pointer("/metadata/labels/a").is_none());
    }

    #[test]
    fn update_takes_ownership_of_changed_fields() {
        let mut live = apply(None, &deploy(1, "x"), "alice", None, false, "apps/v1", "t").unwrap();
        let old = live.clone();
        live["spec"]["replicas"] = json!(5);
        record_update(Some(&old), &mut live, "hpa", "apps/v1", Some("scale"), "t");
        let entries = read_entries(&live);
        assert!(entries.iter().any(|e| e.manager == "hpa" && e.fields.len() == 1));
        // hpa now owns replicas: alice's re-apply with another value conflicts with hpa, not with herself.
        let err = apply(Some(&live), &deploy(2, "x"), "alice", None, false, "apps/v1", "t").unwrap_err();
        assert!(err.message.contains("conflict with \"hpa\""), "{}", err.message);
    }
}
