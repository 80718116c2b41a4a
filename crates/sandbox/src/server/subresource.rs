//! Subresources: `/status` (GET, PUT; PATCH goes through resource.rs), `/scale` (autoscaling/v1 Scale) and
//! `pods/eviction` (policy/v1 Eviction, refused with 429 when a PodDisruptionBudget forbids it).

use serde_json::{Value, json};

use super::super::error::{ApiError, ApiResult};
use super::super::patch::PatchType;
use super::super::registry::{ResourceType, ScaleSpec};
use super::super::selector::{FieldSelector, LabelSelector};
use super::super::store::{DeleteOpts, Inner, Subresource};
use super::resource::{Reply, Request, apply_patch, present};

fn pointer_of(json_path: &str) -> String {
    json_path.trim_start_matches('.').split('.').fold(String::new(), |acc, s| format!("{acc}/{s}"))
}

fn scale_spec(rt: &ResourceType) -> ApiResult<&ScaleSpec> {
    rt.scale.as_ref().ok_or_else(|| ApiError::no_route(&format!("{}/scale", rt.plural)))
}

/// The autoscaling/v1 Scale view of an object.
fn to_scale(rt: &ResourceType, obj: &Value) -> ApiResult<Value> {
    let spec = scale_spec(rt)?;
    let int = |p: &str| obj.pointer(&pointer_of(p)).and_then(Value::as_i64).unwrap_or(0);
    let selector = spec.label_selector_path.as_deref().and_then(|p| obj.pointer(&pointer_of(p))).map(|s| match s {
        Value::String(s) => s.clone(),
        sel => LabelSelector::from_object(sel).to_query(),
    });
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut status = json!({"replicas": int(&spec.status_replicas_path)});
    if let Some(s) = selector {
        status["selector"] = json!(s);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"), "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": int(&spec.spec_replicas_path)},
        "status": status,
    }))
}

/// GET `/status` or `/scale`.
pub fn get(req: &Request) -> Reply {
    let obj = req.state.store.lock().get(&req.rt, req.ns(), req.name())?;
    match req.target.sub.as_deref() {
        Some("status") if req.rt.status_subresource => Ok((200, present(&req.rt, &obj))),
        Some("scale") => Ok((200, to_scale(&req.rt, &obj)?)),
        _ => Err(ApiError::no_route(&format!("{}/{}", req.rt.plural, req.target.sub.as_deref().unwrap_or("")))),
    }
}

/// Write a new Scale (after PUT or PATCH) into the object.
fn write_scale(req: &Request, store: &mut Inner, current: &Value, scale: &Value) -> Reply {
    let spec = scale_spec(&req.rt)?;
    let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            req.name(),
            vec![(
                "FieldValueInvalid".into(),
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str)
        && !rv.is_empty()
        && Some(rv) != current.pointer("/metadata/resourceVersion").and_then(Value::as_str)
    {
        return Err(ApiError::conflict(&req.rt.group, &req.rt.plural, req.name()));
    }
    let mut new = current.clone();
    let ptr = pointer_of(&spec.spec_replicas_path);
    let (parent, field) = ptr.rsplit_once('/').unwrap_or(("", &ptr));
    if new.pointer(parent).is_none_or(|p| !p.is_object()) {
        // Only `.spec` is created on demand; deeper missing parents mean a malformed object.
        if parent == "/spec" {
            new["spec"] = json!({});
        } else {
            return Err(ApiError::internal(format!("{} has no {parent}", req.name())));
        }
    }
    if let Some(p) = new.pointer_mut(parent).and_then(Value::as_object_mut) {
        p.insert(field.to_string(), json!(replicas));
    }
    let updated = store.update(&req.rt, req.ns(), req.name(), new, Subresource::Scale, &req.write_opts())?;
    Ok((200, to_scale(&req.rt, &updated)?))
}

/// PATCH `/scale` (merge, JSON or strategic patch on the Scale object).
pub fn patch_scale(req: &Request, kind: PatchType, p: &Value) -> Reply {
    if kind == PatchType::Apply {
        return Err(ApiError::unsupported_media_type("application/apply-patch+yaml on /scale"));
    }
    let mut store = req.state.store.lock();
    let current = store.get(&req.rt, req.ns(), req.name())?;
    let scale = to_scale(&req.rt, &current)?;
    let kind = if kind == PatchType::Strategic { PatchType::Merge } else { kind };
    let new_scale = apply_patch(kind, &req.rt, &scale, p)?;
    write_scale(req, &mut store, &current, &new_scale)
}

/// PUT `/status` or `/scale`.
pub fn update(req: &Request) -> Reply {
    let body = req.body_value()?;
    match req.target.sub.as_deref() {
        Some("status") if req.rt.status_subresource => {
            let updated = req.state.store.lock().update(
                &req.rt,
                req.ns(),
                req.name(),
                body,
                Subresource::Status,
                &req.write_opts(),
            )?;
            Ok((200, present(&req.rt, &updated)))
        }
        Some("scale") => {
            let mut store = req.state.store.lock();
            let current = store.get(&req.rt, req.ns(), req.name())?;
            write_scale(req, &mut store, &current, &body)
        }
        other => Err(ApiError::no_route(&format!("{}/{}", req.rt.plural, other.unwrap_or("")))),
    }
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// `minAvailable`/`maxUnavailable` as a count of `total` (percentages round up, as the real controller).
fn int_or_percent(v: &Value, total: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            Some((pct * total + 99) / 100)
        }
        _ => None,
    }
}

/// POST `pods/NAME/eviction`: delete the pod unless a matching PodDisruptionBudget has no disruption left.
pub fn evict(req: &Request) -> Reply {
    if !(req.rt.group.is_empty() && req.rt.plural == "pods") {
        return Err(ApiError::no_route("eviction"));
    }
    let mut store = req.state.store.lock();
    let pod = store.get(&req.rt, req.ns(), req.name())?;
    let pdb_type = store.registry.get("policy", "v1", "poddisruptionbudgets");
    if let Some(pdb_type) = pdb_type
        && pod.pointer("/metadata/deletionTimestamp").is_none()
    {
        let all = LabelSelector::default();
        let none = FieldSelector::default();
        let pdbs = store.list(&pdb_type, req.ns(), &all, &none);
        let pods = store.list(&req.rt, req.ns(), &all, &none);
        let matching: Vec<_> = pdbs
            .iter()
            .filter(|b| b.pointer("/spec/selector").is_some_and(|s| LabelSelector::from_object(s).matches(&pod)))
            .collect();
        if matching.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = matching.first() {
            let sel = LabelSelector::from_object(&pdb["spec"]["selector"]);
            let covered: Vec<_> = pods.iter().filter(|p| sel.matches(p)).collect();
            let expected = covered.len() as i64;
            let healthy = covered.iter().filter(|p| pod_ready(p)).count() as i64;
            let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
                int_or_percent(min, expected).unwrap_or(expected)
            } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
                expected - int_or_percent(max, expected).unwrap_or(0)
            } else {
                expected
            };
            // As the real eviction handler: pods that are not running go regardless of the budget; a healthy
            // pod needs a disruption to spare; a running but unhealthy one (policy IfHealthyBudget, the
            // default) needs the budget to be met already.
            let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
            let permitted = match phase {
                "Pending" | "Succeeded" | "Failed" => true,
                _ if pod_ready(&pod) => healthy - desired > 0,
                _ => healthy >= desired,
            };
            if !permitted {
                let name = pdb.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let mut e = ApiError::new(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                );
                e.details = Some(json!({"causes": [{"reason": "DisruptionBudget",
                    "message": format!("The disruption budget {name} needs {desired} healthy pods and has {healthy} currently")}]}));
                return Err(e);
            }
        }
    }
    store.delete(&req.rt, req.ns(), req.name(), &DeleteOpts::default())?;
    Ok((201, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})))
}
