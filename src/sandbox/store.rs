//! The in-memory object store: one global resourceVersion counter, objects per resource, a bounded event
//! history for watches, and the write rules the real API server applies (uid, creationTimestamp,
//! generation, status separation, finalizers, owner-reference cascading, CRD registration).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::admission::{self, FieldValidation};
use super::builtin;
use super::crd;
use super::error::{ApiError, ApiResult};
use super::managed;
use super::registry::{Registry, ResourceType};
use super::selector::{FieldSelector, LabelSelector};

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the history and fanned out to watchers.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion this change produced.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// Storage key (`group/plural`).
    pub key: String,
    /// The object after the change (the last state for deletions).
    pub obj: Arc<Value>,
    /// The object before the change, for selector transitions.
    pub old: Option<Arc<Value>>,
}

/// The history after a resourceVersion and a receiver for what comes next.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The main resource: status changes are ignored when the kind has a status subresource.
    Main,
    /// `/status`: only status changes are kept.
    Status,
    /// `/scale`: only the replicas path changes (computed by the caller).
    Scale,
}

impl Subresource {
    /// The managedFields `subresource` value.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Subresource::Main => None,
            Subresource::Status => Some("status"),
            Subresource::Scale => Some("scale"),
        }
    }
}

/// Who is writing, for managedFields.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// Field manager; `None` records nothing.
    pub manager: Option<String>,
    /// Dry run: validate and return the result without storing it.
    pub dry_run: bool,
    /// The object's managedFields were computed by the caller (server-side apply): keep them as given.
    pub managed_fields_set: bool,
    /// What to do with fields the CRD schema does not declare.
    pub field_validation: FieldValidation,
}

/// Deletion propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted after the owner (the real default for most kinds). Foreground is served
    /// as Background: the owner does not wait for its dependents.
    #[default]
    Background,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `propagationPolicy`.
    pub propagation: Propagation,
    /// Dry run.
    pub dry_run: bool,
}

/// The store. Every operation takes the one lock briefly; no await happens while it is held.
pub struct Store {
    inner: Mutex<Inner>,
}

/// The locked state.
pub struct Inner {
    /// Served kinds.
    pub registry: Registry,
    rv: u64,
    objects: HashMap<String, BTreeMap<(String, String), Arc<Value>>>,
    uids: HashMap<String, (String, String, String)>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Event>>,
    rng: ChaCha8Rng,
    warnings: Vec<String>,
}

/// Current time as the API server writes it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn finalizers_empty(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(|a| a.is_empty())
}

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

impl Store {
    /// A store with the built-in kinds, `default`, `kube-system` and `kube-public` namespaces.
    pub fn new(history_limit: usize, seed: u64) -> Arc<Self> {
        let (tx, _) = broadcast::channel(16_384);
        let mut registry = Registry::default();
        builtin::install(&mut registry);
        let mut inner = Inner {
            registry,
            rv: 0,
            objects: HashMap::new(),
            uids: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(16),
            compacted_rv: 0,
            tx,
            rng: ChaCha8Rng::seed_from_u64(seed),
            warnings: Vec::new(),
        };
        let ns_type = inner.registry.get("", "v1", "namespaces");
        if let Some(rt) = ns_type {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                // Creating the bootstrap namespaces cannot fail: names are valid and unique.
                let _ = inner.create(&rt, None, obj, &WriteOpts::default());
            }
        }
        Arc::new(Store { inner: Mutex::new(inner) })
    }

    /// Lock the store for one operation.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would leave half a write; the data is still usable for a test
        // server, so recover rather than poison every later request.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Subscribe to live events and get the history after `from_rv` atomically, or 410 if it is gone.
    pub fn watch_from(&self, from_rv: u64) -> ApiResult<WatchStart> {
        if from_rv < self.compacted_rv {
            return Err(ApiError::gone(format!("too old resource version: {from_rv} ({})", self.compacted_rv + 1)));
        }
        let rx = self.tx.subscribe();
        let past = self.history.iter().filter(|e| e.rv > from_rv).cloned().collect();
        Ok((past, rx))
    }

    fn emit(&mut self, kind: EventType, key: &str, obj: Arc<Value>, old: Option<Arc<Value>>) {
        let ev = Arc::new(Event { rv: self.rv, kind, key: key.to_string(), obj, old });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted_rv = e.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn new_uid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
            (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
            u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
        )
    }

    fn random_suffix(&mut self) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5).map(|_| CHARS[self.rng.random_range(0..CHARS.len())] as char).collect()
    }

    fn key_of(ns: Option<&str>, name: &str) -> (String, String) {
        (ns.unwrap_or_default().to_string(), name.to_string())
    }

    /// Get one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Arc<Value>> {
        self.objects
            .get(&rt.storage_key())
            .and_then(|m| m.get(&Self::key_of(ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// List objects, in one namespace or all, filtered by selectors.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Arc<Value>> {
        let Some(m) = self.objects.get(&rt.storage_key()) else { return Vec::new() };
        let matches = |o: &Arc<Value>| labels.matches(o) && fields.matches(o);
        match ns {
            Some(ns) => m
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, o)| o)
                .filter(|o| matches(o))
                .cloned()
                .collect(),
            None => m.values().filter(|o| matches(o)).cloned().collect(),
        }
    }

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

    /// Warnings (unknown fields under `fieldValidation=Warn`) produced since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
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
            Some(crd::resource_types(&new)?)
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
                    super::error::qualified(&rt.group, &rt.plural),
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
    fn remove(&mut self, rt: &ResourceType, ns: Option<&str>, name: &str, prop: Propagation) -> Option<Arc<Value>> {
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
                self.next_rv();
                if let Some(uid) = meta_str(&old, "uid") {
                    self.uids.remove(uid);
                }
                self.emit(EventType::Deleted, &key, old.clone(), Some(old));
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
