//! The in-memory object store: one global resourceVersion counter, objects per resource, a bounded event
//! history for watches, and the write rules the real API server applies (uid, creationTimestamp,
//! generation, status separation, finalizers, owner-reference cascading, CRD registration).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::admission::FieldValidation;
use super::builtin;
use super::error::{ApiError, ApiResult};
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

    /// Warnings (unknown fields under `fieldValidation=Warn`) produced since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

mod delete;
mod write;
