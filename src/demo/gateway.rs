//! A small gateway simulation: the offered demand is split across every backend of the HTTPRoute's rule
//! by its live weights (the self-hosted replicas, and one or several external APIs), and the self-hosted
//! share is served by the Ready pods of the pool in the synthetic exporter (which Prometheus scrapes).
//! The gateway-level series carry the whole demand, as a real gateway's metrics would; a backend that is
//! a simulated external provider ([`super::providers`]) gets its share as that provider's load, which
//! the exporter turns into the provider's request-duration histogram.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::objects::{MODEL, ROUTE, SELF_BACKEND};
use super::providers::PROVIDERS;
use crate::modelserver::{ExporterHandle, Load};

/// What one step of the gateway did.
#[derive(Clone, Debug, Default)]
pub struct GatewayView {
    pub demand_rps: f64,
    pub self_share: f64,
    pub ready_pods: Vec<String>,
    /// Requests per second sent to each simulated provider that has a backend in the route.
    pub provider_rps: Vec<(String, f64)>,
}

/// The HTTPRoute resource (Gateway API v1).
pub fn route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// Ready and not terminating.
pub fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// (backend name, weight) of each backendRef of the route's first rule, in order (a backendRef without
/// a weight weighs 1, and none weighs more than 1,000,000, as in Gateway API).
pub fn backend_weights(route: &Value) -> Option<Vec<(String, u32)>> {
    let refs = route.pointer("/spec/rules/0/backendRefs")?.as_array()?;
    Some(
        refs.iter()
            .map(|r| {
                let w = r.get("weight").and_then(Value::as_u64).unwrap_or(1).min(1_000_000) as u32;
                (r["name"].as_str().unwrap_or_default().to_string(), w)
            })
            .collect(),
    )
}

/// (self-hosted, external) weights of the route's first rule: the external weight is that of every
/// backend but the self-hosted one.
pub fn weights_of(route: &Value) -> Option<(u32, u32)> {
    let refs = backend_weights(route)?;
    let own: u32 = refs.iter().filter(|(n, _)| n == SELF_BACKEND).map(|(_, w)| *w).sum();
    let others: u32 = refs.iter().filter(|(n, _)| n != SELF_BACKEND).map(|(_, w)| *w).sum();
    Some((own, others))
}

/// One step: serve the demand's self-hosted share on the Ready pods of the pool in `ns`, and send each
/// simulated provider the share of its backend.
pub async fn step(
    client: &kube::Client,
    ns: &str,
    exporter: &ExporterHandle,
    demand: f64,
) -> Result<GatewayView, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let listed = pods.list(&ListParams::default().labels(&format!("pool={MODEL}"))).await?;
    let ready: Vec<String> =
        listed.items.iter().filter(|p| pod_ready(p)).filter_map(|p| p.metadata.name.clone()).collect();
    let routes: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &route_resource());
    // No route: everything on the replicas, as before hybridscale managed one.
    let refs = match routes.get_opt(ROUTE).await? {
        Some(r) => backend_weights(&serde_json::to_value(&r).unwrap_or_default()).unwrap_or_default(),
        None => vec![(SELF_BACKEND.to_string(), 1)],
    };
    let total: u32 = refs.iter().map(|(_, w)| *w).sum();
    let share_of = |backend: &str| {
        let w: u32 = refs.iter().filter(|(n, _)| n == backend).map(|(_, w)| *w).sum();
        if total > 0 { f64::from(w) / f64::from(total) } else { 0.0 }
    };
    let share = share_of(SELF_BACKEND);
    exporter.set_pods(ns, MODEL, ready.clone());
    exporter.set_load(ns, MODEL, Load::rps(demand * share));
    let mut provider_rps = Vec::new();
    for p in PROVIDERS {
        let rps = demand * share_of(p.backend);
        if exporter.set_provider_load(p.name, rps) {
            provider_rps.push((p.name.to_string(), rps));
        }
    }
    let labels = [("namespace", ns), ("route", ROUTE)];
    let _ = exporter.set_gauge("gateway_requests_per_second", &labels, demand, None);
    let _ = exporter.set_gauge("gateway_prompt_tokens_per_second", &labels, demand * 512.0, None);
    let _ = exporter.set_gauge("gateway_generation_tokens_per_second", &labels, demand * 128.0, None);
    // Tokens by tenant, as a gateway that labels its series with the caller's team does: three
    // quarters of the demand is "search", the rest "chat" (the pool's spec.metrics.attribution).
    for (tenant, part) in [("search", 0.75), ("chat", 0.25)] {
        let labels = [("namespace", ns), ("route", ROUTE), ("tenant", tenant)];
        let _ = exporter.set_gauge("gateway_tenant_tokens_per_second", &labels, demand * 640.0 * part, None);
    }
    Ok(GatewayView { demand_rps: demand, self_share: share, ready_pods: ready, provider_rps })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn weights_cover_every_backend_of_the_rule() {
        let route = json!({"spec": {"rules": [{"backendRefs": [
            {"name": SELF_BACKEND, "weight": 40}, {"name": "llm-gemini", "weight": 30},
            {"name": "llm-claude", "weight": 30}, {"name": "llm-openai"},
        ]}]}});
        let refs = backend_weights(&route).unwrap();
        assert_eq!(refs.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [40, 30, 30, 1]);
        assert_eq!(weights_of(&route), Some((40, 61)));
        let single = json!({"spec": {"rules": [{"backendRefs": [
            {"name": SELF_BACKEND, "weight": 75}, {"name": super::super::objects::EXTERNAL_BACKEND, "weight": 25}]}]}});
        assert_eq!(weights_of(&single), Some((75, 25)));
        assert_eq!(weights_of(&json!({"spec": {}})), None);
        // Out-of-range weights (the API server would refuse them) are clamped, never summed past u32.
        let huge = json!({"spec": {"rules": [{"backendRefs": [
            {"name": SELF_BACKEND, "weight": u64::MAX}, {"name": "a", "weight": u64::MAX}, {"name": "b", "weight": -1}]}]}});
        assert_eq!(weights_of(&huge), Some((1_000_000, 1_000_001)));
    }
}
