//! Events (events.k8s.io/v1) that keep each change's own note.
//!
//! kube-runtime's `Recorder` folds every event with the same type, reason, action and object within six
//! minutes into one series that keeps the first event's note. For a pool that shifts traffic every few
//! ticks that hid every reason but the first: `kubectl describe hpool` showed "TrafficShifted (x5)" with a
//! note that was no longer true. Here the note is part of the key: the same event repeated becomes a
//! series (its count and last time go up), a different note is a new event.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use tokio::sync::Mutex;

/// How long a published event may still grow into a series (kube-runtime's and client-go's six minutes).
const SERIES_TTL: SignedDuration = SignedDuration::from_secs(360);

/// What makes two events the same: everything but the time.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    namespace: String,
    regarding: (String, String, String),
    type_: &'static str,
    reason: String,
    action: String,
    note: String,
}

/// Publishes events; one per operator process, shared by the reconciles.
pub struct EventPublisher {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<Key, K8sEvent>>,
    /// Numbers the events created, so that several published at the same reconcile time get distinct names.
    created: std::sync::atomic::AtomicU64,
}

impl EventPublisher {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        EventPublisher { client, reporter, recent: Mutex::new(HashMap::new()), created: Default::default() }
    }

    /// Publish `ev` about `reference` at `now`: a new Event, or the count of the same one raised.
    pub async fn publish(&self, ev: &Event, reference: &ObjectReference, now: Timestamp) -> Result<(), kube::Error> {
        let type_ = match ev.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let namespace = reference.namespace.clone().unwrap_or_else(|| "default".into());
        let key = Key {
            namespace: namespace.clone(),
            regarding: (
                reference.kind.clone().unwrap_or_default(),
                reference.name.clone().unwrap_or_default(),
                reference.uid.clone().unwrap_or_default(),
            ),
            type_,
            reason: ev.reason.clone(),
            action: ev.action.clone(),
            note: ev.note.clone().unwrap_or_default(),
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let mut recent = self.recent.lock().await;
        recent.retain(|_, e| last_seen(e).is_some_and(|t| now.duration_since(t) < SERIES_TTL));
        if let Some(seen) = recent.get_mut(&key) {
            let count = seen.series.as_ref().map_or(2, |s| s.count + 1);
            seen.series = Some(EventSeries { count, last_observed_time: MicroTime(now) });
            let name = seen.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&*seen)).await?;
            return Ok(());
        }
        let event = self.new_event(ev, reference, type_, now);
        api.create(&PostParams::default(), &event).await?;
        recent.insert(key, event);
        Ok(())
    }

    fn new_event(&self, ev: &Event, reference: &ObjectReference, type_: &str, now: Timestamp) -> K8sEvent {
        let name = reference.name.as_deref().unwrap_or(&self.reporter.controller);
        let seq = self.created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: reference.namespace.clone(),
                name: Some(format!("{name}.{:x}.{seq:x}", now.as_nanosecond())),
                ..Default::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(type_.into()),
            ..Default::default()
        }
    }
}

/// When an event was last seen: its series' last time, else its own time.
fn last_seen(e: &K8sEvent) -> Option<Timestamp> {
    e.series.as_ref().map(|s| s.last_observed_time.0).or(e.event_time.as_ref().map(|t| t.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{Sandbox, SandboxOptions};

    /// Against the sandbox API server: two notes are two events, the same note again is a series.
    #[tokio::test]
    async fn each_note_is_its_own_event_and_a_repeat_is_a_series() {
        crate::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = SandboxOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            kubeconfig_path: Some(dir.path().join("kubeconfig")),
            ..SandboxOptions::default()
        };
        let sb = Sandbox::start(opts).await.expect("sandbox starts");
        let client = sb.client().expect("client");
        let reporter = Reporter { controller: "hybridscale".into(), instance: Some("test".into()) };
        let events = EventPublisher::new(client.clone(), reporter);
        let pool = ObjectReference {
            api_version: Some("hybridscale.dev/v1alpha1".into()),
            kind: Some("InferencePool".into()),
            name: Some("llama".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let shifted = |note: &str| Event {
            type_: EventType::Normal,
            reason: "TrafficShifted".into(),
            note: Some(note.into()),
            action: "SetRouteWeights".into(),
            secondary: None,
        };
        let t0: Timestamp = "2026-12-07T12:00:00Z".parse().expect("time");
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        events.publish(&shifted("external 0%->20%: gemini 20%"), &pool, at(0)).await.expect("first");
        // Several events of one reconcile share its time.
        events.publish(&shifted("external 20%->20%: gemini out"), &pool, at(0)).await.expect("second");
        events.publish(&shifted("external 20%->20%: gemini out"), &pool, at(30)).await.expect("repeat");
        let list = Api::<K8sEvent>::namespaced(client, "default").list(&Default::default()).await.expect("list");
        let mut notes: Vec<(String, i32)> = list
            .items
            .iter()
            .map(|e| (e.note.clone().unwrap_or_default(), e.series.as_ref().map_or(1, |s| s.count)))
            .collect();
        notes.sort();
        assert_eq!(
            notes,
            [("external 0%->20%: gemini 20%".to_string(), 1), ("external 20%->20%: gemini out".to_string(), 2)]
        );
        sb.stop().await;
    }
}
