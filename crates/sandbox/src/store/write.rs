//! Creates and updates: identity checks, namespace existence, built-in defaults, admission, status
//! separation, generation, managedFields, no-op detection and CRD registration.

use std::sync::Arc;

use rand::Rng;
use serde_json::{Value, json};

use super::EventType;
use super::{Inner, Propagation, Subresource, WriteOpts, finalizers_empty, meta_mut, meta_str, now_rfc3339};
use crate::admission::{self, FieldValidation};
use crate::crd;
use crate::error::{ApiError, ApiResult};
use crate::managed;
use crate::registry::ResourceType;

/// The object without metadata (and without status when `drop_status`), to decide generation bumps.
fn content(obj: &Value, drop_status: bool) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if drop_status {
            m.remove("status");
        }
    }
    c
}

/// DNS-1123 subdomain, the rule most kinds use for names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl Inner {
    /// Whether a namespace exists (and is not being deleted, for creates).
    fn namespace_active(&self, ns: &str) -> Result<(), ApiError> {
        match self.objects.get("/namespaces").and_then(|m| m.get(&(String::new(), ns.to_string()))) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(o) if meta_str(o, "deletionTimestamp").is_some() => Err(ApiError::new(
                403,
                "Forbidden",
                format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Built-in defaults the operator and kubectl rely on (a tiny subset of the real defaulters).
    fn builtin_defaults(&mut self, rt: &ResourceType, obj: &mut Value) {
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("apps", "Deployment" | "StatefulSet") => {
                if obj.pointer("/spec/replicas").is_none()
                    && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
                {
                    spec.insert("replicas".into(), json!(1));
                }
            }
            ("", "Namespace") => {
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "Pod") => {
                let phase = obj.pointer("/status/phase").cloned().unwrap_or(json!("Pending"));
                obj["status"] = json!({"phase": phase});
            }
            ("", "Service") => {
                if !obj.get("spec").is_some_and(Value::is_object) {
                    obj["spec"] = json!({});
                }
                if obj.pointer("/spec/type").is_none() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
                if obj.pointer("/spec/clusterIP").is_none() && obj.pointer("/spec/type") != Some(&json!("ExternalName"))
                {
                    let n = self.rng.random_range(1..65_000u32);
                    let ip = format!("10.96.{}.{}", n / 256, n % 256);
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
            }
            _ => {}
        }
    }

    fn check_identity(rt: &ResourceType, ns: Option<&str>, obj: &mut Value) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && k != rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({k}) does not match the resource ({})",
                rt.kind
            )));
        }
        obj["kind"] = json!(rt.kind);
        obj["apiVersion"] = json!(rt.api_version());
        let m = meta_mut(obj);
        match (ns, m.get("namespace").and_then(Value::as_str)) {
            (Some(url), Some(body)) if url != body => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            (Some(url), _) => {
                m.insert("namespace".into(), json!(url));
            }
            (None, _) => {
                m.remove("namespace");
            }
        }
        Ok(())
    }

    fn run_admission(
        &mut self,
        rt: &ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
        validation: FieldValidation,
    ) -> ApiResult<()> {
        let Some(schema) = &rt.crd_schema else { return Ok(()) };
        let warnings = admission::admit(schema, &rt.kind, &rt.group, &rt.version, obj, old, validation)?;
        self.warnings.extend(warnings);
        Ok(())
    }

    /// Create an object.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Arc<Value>> {
        Self::check_identity(rt, ns, &mut obj)?;
        if let Some(ns) = ns {
            self.namespace_active(ns)?;
        }
        let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", self.random_suffix()),
            _ => {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    "",
                    vec![(
                        "FieldValueRequired".into(),
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
        };
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                &name,
                vec![(
                    "FieldValueInvalid".into(),
                    "metadata.name".into(),
                    format!(
                        "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case \
                         alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                    ),
                )],
            ));
        }
        let key = rt.storage_key();
        if self.objects.get(&key).is_some_and(|m| m.contains_key(&Self::key_of(ns, &name))) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        // The real server drops status on create for kinds with a status subresource (nodes keep theirs).
        if rt.status_subresource
            && rt.kind != "Node"
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        self.builtin_defaults(rt, &mut obj);
        self.run_admission(rt, &mut obj, None, opts.field_validation)?;
        let is_crd = rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io";
        let new_types = if is_crd { Some(crd::resource_types(&obj)?) } else { None };
        if is_crd {
            self.warnings.extend(crd::format_warnings(&obj, None));
        }
        let now = now_rfc3339();
        if is_crd {
            crd::set_established(&mut obj, &now);
        }
        let uid = self.new_uid();
        {
            let m = meta_mut(&mut obj);
            m.insert("name".into(), json!(name));
            m.remove("generateName");
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now));
            m.insert("generation".into(), json!(1));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            if !opts.managed_fields_set {
                m.remove("managedFields");
            }
            m.remove("selfLink");
        }
        if let Some(manager) = &opts.manager {
            managed::record_update(None, &mut obj, manager, &rt.api_version(), None, &now);
        }
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = Arc::new(obj);
        self.objects.entry(key.clone()).or_default().insert(Self::key_of(ns, &name), obj.clone());
        self.uids.insert(uid, (key.clone(), ns.unwrap_or_default().to_string(), name));
        self.emit(EventType::Added, &key, obj.clone(), None);
        if let Some(types) = new_types {
            for t in types {
                self.registry.insert(t);
            }
        }
        Ok(obj)
    }

    /// Replace an object (PUT, or the result of a patch). `check_rv` enforces optimistic concurrency when
    /// the new object carries a resourceVersion.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        mut new: Value,
        sub: Subresource,
        opts: &WriteOpts,
    ) -> ApiResult<Arc<Value>> {
        let old = self.get(rt, ns, name)?;
        Self::check_identity(rt, ns, &mut new)?;
        if let Some(n) = meta_str(&new, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = meta_str(&new, "resourceVersion")
            && !rv.is_empty()
            && Some(rv) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        // Separate status from the rest, as the real strategies do.
        match sub {
            Subresource::Status => {
                let status = new.get("status").cloned();
                let mut merged = (*old).clone();
                match status {
                    Some(s) => merged["status"] = s,
                    None => {
                        if let Some(m) = merged.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                new = merged;
            }
            Subresource::Main if rt.status_subresource => match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            },
            _ => {}
        }
        // System metadata always comes from the stored object.
        {
            let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
            let m = meta_mut(&mut new);
            for k in ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"] {
                match old_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            m.insert("name".into(), json!(name));
            m.remove("generateName");
            m.remove("selfLink");
            if !opts.managed_fields_set {
                m.insert("managedFields".into(), old_meta.get("managedFields").cloned().unwrap_or(json!([])));
            }
            if let Some(g) = old_meta.get("generateName") {
                m.insert("generateName".into(), g.clone());
            }
        }
        // Status writes are validated too: the real server validates the whole object.
        self.run_admission(rt, &mut new, Some(&old), opts.field_validation)?;
        if content(&new, rt.status_subresource) != content(&old, rt.status_subresource) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        let now = now_rfc3339();
        let is_crd = rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io";
        let new_types = if is_crd {
            crd::set_established(&mut new, &now);
            let types = crd::resource_types(&new)?;
            self.warnings.extend(crd::format_warnings(&new, Some(&old)));
            Some(types)
        } else {
            None
        };
        if let Some(manager) = &opts.manager {
            managed::record_update(Some(&old), &mut new, manager, &rt.api_version(), sub.name(), &now);
        }
        if meta_mut(&mut new).get("managedFields").is_some_and(|v| v.as_array().is_some_and(|a| a.is_empty())) {
            meta_mut(&mut new).remove("managedFields");
        }
        // A no-op write does not bump the resourceVersion (controllers rely on this to settle).
        let mut cmp_new = new.clone();
        let mut cmp_old = (*old).clone();
        for o in [&mut cmp_new, &mut cmp_old] {
            let m = meta_mut(o);
            m.remove("resourceVersion");
            // Ownership changes are real changes; only the timestamps of entries are not.
            if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
                for e in entries.iter_mut().filter_map(Value::as_object_mut) {
                    e.remove("time");
                }
            }
            if is_crd && let Some(obj) = o.as_object_mut() {
                obj.remove("status");
            }
        }
        if cmp_new == cmp_old {
            return Ok(old);
        }
        if opts.dry_run {
            return Ok(Arc::new(new));
        }
        let rv = self.next_rv();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        let key = rt.storage_key();
        let deleting = meta_str(&new, "deletionTimestamp").is_some() && finalizers_empty(&new);
        let new = Arc::new(new);
        self.objects.entry(key.clone()).or_default().insert(Self::key_of(ns, name), new.clone());
        self.emit(EventType::Modified, &key, new.clone(), Some(old));
        if let Some(types) = new_types
            && let Some(crd_name) = meta_str(&new, "name")
        {
            self.registry.remove_crd(crd_name);
            for t in types {
                self.registry.insert(t);
            }
        }
        if deleting {
            // The last finalizer is gone: the object goes away now.
            self.remove(rt, ns, name, Propagation::Background);
        }
        Ok(new)
    }
}
