//! A small gateway simulation: the offered demand is split between the self-hosted replicas and the
//! external API by the HTTPRoute's live weights, and the self-hosted share is served by the Ready pods of
//! the pool in the synthetic exporter (which Prometheus scrapes). The gateway-level series carry the whole
//! demand, as a real gateway's metrics would.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::objects::{EXTERNAL_BACKEND, MODEL, ROUTE, SELF_BACKEND};
use crate::modelserver::{ExporterHandle, Load};

/// What one step of the gateway did.
#[derive(Clone, Debug, Default)]
pub struct GatewayView {
    pub demand_rps: f64,
    pub self_share: f64,
    pub ready_pods: Vec<String>,
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

/// (self-hosted, external) weights of the route's first rule.
pub fn weights_of(route: &Value) -> Option<(u32, u32)> {
    let refs = route.pointer("/spec/rules/0/backendRefs")?.as_array()?;
    let w = |name: &str| {
        refs.iter()
            .find(|r| r["name"] == name)
            .map(|r| r.get("weight").and_then(Value::as_u64).unwrap_or(1) as u32)
            .unwrap_or(0)
    };
    Some((w(SELF_BACKEND), w(EXTERNAL_BACKEND)))
}

/// One step: serve the demand's self-hosted share on the Ready pods of the pool in `ns`.
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
    let share = match routes.get_opt(ROUTE).await? {
        Some(r) => match weights_of(&serde_json::to_value(&r).unwrap_or_default()) {
            Some((s, e)) if s + e > 0 => f64::from(s) / f64::from(s + e),
            _ => 0.0,
        },
        None => 1.0,
    };
    exporter.set_pods(ns, MODEL, ready.clone());
    exporter.set_load(ns, MODEL, Load::rps(demand * share));
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
    Ok(GatewayView { demand_rps: demand, self_share: share, ready_pods: ready })
}
