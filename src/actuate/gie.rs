//! A Gateway API Inference Extension (GIE) `InferencePool` as the self-hosted backend of the route.
//!
//! On the 2026 inference stack (Istio, kgateway, GKE, Envoy AI Gateway, NGINX Gateway Fabric) an HTTPRoute
//! points at a GIE InferencePool rather than a Service: the gateway's endpoint picker chooses a pod by its
//! KV-cache and queue state. Nothing changes in how hybridscale actuates: it sets the route rule's weights
//! between that backendRef and the external one, and scales the Deployments behind it. What can go wrong is
//! that the GIE pool does not select the pods of a class the planner counts on (its `selector.matchLabels`
//! is not among the Deployment's pod labels): the route would never reach those replicas while the planner
//! pays for them. [`problems`] says so, pure, from what [`super::Executor::observe`] read.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::inference_pool::BackendRef;
use crate::planner::Class;

use super::observed::ScaleView;

pub use crate::api::inference_pool::{GIE_GROUP as GROUP, GIE_KIND as KIND};

/// The GIE API version read (GA since GIE v1.0).
pub const API_VERSION: &str = "inference.networking.k8s.io/v1";

/// Whether a backendRef names a GIE InferencePool.
pub fn is_gie_pool(b: &BackendRef) -> bool {
    b.is_inference_extension_pool()
}

/// What is wrong between a GIE InferencePool backend and the scale targets it should front: the pool not
/// found, no selector, or a class whose pods it does not select. `gie` is the object as read (`None`: not
/// found); `workloads` are the classes' scale targets with their names and views (a view without pod
/// labels, e.g. a LeaderWorkerSet, is not checked).
pub fn problems(
    ns: &str,
    backend: &BackendRef,
    gie: Option<&Value>,
    workloads: &[(Class, &str, Option<&ScaleView>)],
) -> Vec<String> {
    let what = format!("Inference Extension InferencePool {ns}/{}", backend.name);
    let Some(gie) = gie else {
        return vec![format!(
            "{what} (spec.route.selfHostedBackend) not found: create it, or point the route at the model Service"
        )];
    };
    let Some(wanted) = gie.pointer("/spec/selector/matchLabels").and_then(Value::as_object) else {
        return vec![format!("{what} has no spec.selector.matchLabels")];
    };
    let wanted: BTreeMap<&str, &str> = wanted.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect();
    let mut out = Vec::new();
    for (class, name, view) in workloads {
        let Some(labels) = view.and_then(|v| v.pod_labels.as_ref()) else { continue };
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(k, v)| labels.get(**k).map(String::as_str) != Some(**v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "{what} does not select the {class} replicas: {name}'s pods lack {}; the route would not reach them",
                missing.join(",")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn backend() -> BackendRef {
        BackendRef { group: GROUP.into(), kind: KIND.into(), name: "llm".into(), port: None }
    }

    fn view(labels: &[(&str, &str)]) -> ScaleView {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ScaleView { pod_labels: Some(labels), ..ScaleView::default() }
    }

    fn gie(match_labels: Value) -> Value {
        json!({"spec": {"selector": {"matchLabels": match_labels}, "targetPorts": [{"number": 8000}]}})
    }

    #[test]
    fn recognises_only_the_gie_group_and_kind() {
        assert!(is_gie_pool(&backend()));
        let ours = BackendRef { group: "hybridscale.dev".into(), ..backend() };
        let service = BackendRef { group: "".into(), kind: "Service".into(), ..backend() };
        assert!(!is_gie_pool(&ours) && !is_gie_pool(&service));
    }

    #[test]
    fn a_pool_selecting_every_class_is_fine() {
        let (r, s) = (view(&[("app", "llm-r"), ("pool", "llm")]), view(&[("app", "llm-s"), ("pool", "llm")]));
        let got = problems(
            "ns",
            &backend(),
            Some(&gie(json!({"pool": "llm"}))),
            &[(Class::Reserved, "llm-r", Some(&r)), (Class::Spot, "llm-s", Some(&s))],
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn names_the_class_it_misses_and_the_labels_its_pods_lack() {
        let (r, s) = (view(&[("pool", "llm")]), view(&[("pool", "other"), ("tier", "x")]));
        let got = problems(
            "ns",
            &backend(),
            Some(&gie(json!({"pool": "llm"}))),
            &[(Class::Reserved, "llm-r", Some(&r)), (Class::Spot, "llm-s", Some(&s)), (Class::OnDemand, "llm-o", None)],
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("does not select the spot replicas: llm-s's pods lack pool=llm"), "{got:?}");
    }

    #[test]
    fn missing_pool_or_selector_is_said_once() {
        let got = problems("ns", &backend(), None, &[]);
        assert_eq!(
            got,
            ["Inference Extension InferencePool ns/llm (spec.route.selfHostedBackend) not found: \
                          create it, or point the route at the model Service"]
        );
        let got = problems("ns", &backend(), Some(&json!({"spec": {}})), &[]);
        assert_eq!(got, ["Inference Extension InferencePool ns/llm has no spec.selector.matchLabels"]);
    }
}
