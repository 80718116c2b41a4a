//! Best-effort core/v1 Events, as the real components record them, so `kubectl describe` shows why a
//! pod is Pending or a node is going away. A failed write is logged and otherwise ignored: events are
//! never needed for the simulation to progress.

use k8s_openapi::api::core::v1::Event;
use kube::Resource;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::now_rfc3339;
use super::pods::fnv1a;

/// Records an event about `obj` from `component` (`Normal` or `Warning`).
pub(crate) async fn record<K>(client: &kube::Client, obj: &K, component: &str, type_: &str, reason: &str, message: &str)
where
    K: Resource<DynamicType = ()>,
{
    let meta = obj.meta();
    let Some(name) = meta.name.as_deref() else { return };
    // Events of cluster-scoped objects (Nodes) live in `default`, as the real components put them.
    let ns = meta.namespace.clone().unwrap_or_else(|| "default".to_string());
    let now = now_rfc3339();
    let nanos = jiff::Timestamp::now().as_nanosecond();
    let key = format!("{}/{reason}/{nanos}", meta.uid.as_deref().unwrap_or(name));
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:016x}", fnv1a(key.as_bytes())), "namespace": ns},
        "involvedObject": {
            "apiVersion": K::api_version(&()), "kind": K::kind(&()), "name": name,
            "namespace": meta.namespace, "uid": meta.uid, "resourceVersion": meta.resource_version,
        },
        "reason": reason, "message": message, "type": type_,
        "source": {"component": component}, "reportingComponent": component, "reportingInstance": component,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let event: Event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!("event {reason} for {name}: {e}");
            return;
        }
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::debug!("event {reason} for {name}: {e}");
    }
}
