//! Deletes: preconditions, finalizers and deletionTimestamp, removal, namespace and CRD teardown, and
//! background garbage collection through owner references.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    DeleteOpts, EventType, Inner, Propagation, Subresource, WriteOpts, finalizers_empty, meta_mut, meta_str,
    now_rfc3339,
};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceType;

impl Inner {
    /// Delete an object: set deletionTimestamp while finalizers remain, remove it otherwise.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Arc<Value>> {
        let old = self.get(rt, ns, name)?;
        if let Some(uid) = &opts.uid
            && Some(uid.as_str()) != meta_str(&old, "uid")
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, \
                     UID in object meta: {}",
                    crate::error::qualified(&rt.group, &rt.plural),
                    meta_str(&old, "uid").unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && Some(rv.as_str()) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        if opts.dry_run {
            return Ok(old);
        }
        if !finalizers_empty(&old) {
            if meta_str(&old, "deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut new = (*old).clone();
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let rv = self.next_rv();
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            m.insert("generation".into(), json!(g + 1));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            let new = Arc::new(new);
            let key = rt.storage_key();
            self.objects.entry(key.clone()).or_default().insert(Self::key_of(ns, name), new.clone());
            self.emit(EventType::Modified, &key, new.clone(), Some(old));
            return Ok(new);
        }
        Ok(self.remove(rt, ns, name, opts.propagation).unwrap_or(old))
    }

    /// Remove an object for good, then its dependents (and a namespace's or CRD's contents).
    pub(super) fn remove(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        prop: Propagation,
    ) -> Option<Arc<Value>> {
        let key = rt.storage_key();
        let old = self.objects.get_mut(&key)?.remove(&Self::key_of(ns, name))?;
        let rv = self.next_rv();
        let mut last = (*old).clone();
        meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
        let last = Arc::new(last);
        self.emit(EventType::Deleted, &key, last.clone(), Some(old.clone()));
        let uid = meta_str(&old, "uid").unwrap_or_default().to_string();
        self.uids.remove(&uid);
        if rt.group.is_empty() && rt.plural == "namespaces" {
            self.purge(|k, (n, _)| n == name && k != "/namespaces");
        }
        if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
            if let Some(group) = old.pointer("/spec/group").and_then(Value::as_str)
                && let Some(plural) = old.pointer("/spec/names/plural").and_then(Value::as_str)
            {
                let k = format!("{group}/{plural}");
                self.purge(|key, _| *key == k);
            }
            self.registry.remove_crd(name);
        }
        self.cascade(&uid, prop);
        Some(last)
    }

    /// Delete every object the predicate selects (namespace and CRD teardown).
    fn purge(&mut self, pred: impl Fn(&str, &(String, String)) -> bool) {
        let doomed: Vec<(String, (String, String))> = self
            .objects
            .iter()
            .flat_map(|(k, m)| m.keys().filter(|id| pred(k, id)).map(move |id| (k.clone(), id.clone())))
            .collect();
        for (key, (ns, name)) in doomed {
            if let Some(old) = self.objects.get_mut(&key).and_then(|m| m.remove(&(ns, name))) {
                let rv = self.next_rv();
                if let Some(uid) = meta_str(&old, "uid") {
                    self.uids.remove(uid);
                }
                // The DELETED event carries the version of the deletion, so watchers' versions only move on.
                let mut last = (*old).clone();
                meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
                self.emit(EventType::Deleted, &key, Arc::new(last), Some(old));
            }
        }
    }

    /// Background garbage collection of the dependents of a removed owner.
    fn cascade(&mut self, owner_uid: &str, prop: Propagation) {
        if owner_uid.is_empty() {
            return;
        }
        let dependents: Vec<(String, String, String)> = self
            .objects
            .iter()
            .flat_map(|(k, m)| {
                m.iter()
                    .filter(|(_, o)| {
                        o.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
                            refs.iter().any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                        })
                    })
                    .map(move |((ns, name), _)| (k.clone(), ns.clone(), name.clone()))
            })
            .collect();
        for (key, ns, name) in dependents {
            let Some(rt) = self.registry.all().find(|t| t.storage_key() == key).cloned() else { continue };
            let ns_opt = if ns.is_empty() { None } else { Some(ns.as_str()) };
            let Ok(obj) = self.get(&rt, ns_opt, &name) else { continue };
            let refs = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default();
            let remaining: Vec<Value> =
                refs.into_iter().filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid)).collect();
            let live_owner = remaining
                .iter()
                .any(|r| r.get("uid").and_then(Value::as_str).is_some_and(|u| self.uids.contains_key(u)));
            if prop == Propagation::Orphan || live_owner {
                let mut new = (*obj).clone();
                meta_mut(&mut new).insert("ownerReferences".into(), Value::Array(remaining));
                meta_mut(&mut new).remove("resourceVersion");
                let _ = self.update(&rt, ns_opt, &name, new, Subresource::Main, &WriteOpts::default());
            } else {
                let _ = self.delete(&rt, ns_opt, &name, &DeleteOpts::default());
            }
        }
    }
}
