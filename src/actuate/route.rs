//! HTTPRoute backend weights, as a pure rewrite of the route's JSON.
//!
//! Why the whole `spec.rules` list is applied: Gateway API's HTTPRoute CRD declares no
//! `x-kubernetes-list-type` on `spec.rules` or on `rules[].backendRefs`, so both are *atomic* lists for
//! server-side apply. An apply that carried only the weights would replace the user's list with a list of
//! two bare backendRefs and drop matches, filters, ports and every other rule. So we read the route, change
//! the two weights in a copy of the full `rules` list and apply that list; the field manager "hybridscale"
//! then co-owns `spec.rules` as a whole, which is why the GitOps doc tells Argo CD to ignore only the
//! weight paths (jqPathExpressions) for HTTPRoutes rather than everything hybridscale manages.

use serde_json::Value;

use super::ActuateError;
use super::desired::RouteTarget;
use crate::api::inference_pool::BackendRef;
use crate::planner::TrafficWeights;

/// Gateway API's default weight of a backendRef without one.
const DEFAULT_WEIGHT: u64 = 1;

/// Whether a backendRef in the route (JSON) is the one named in the pool's spec: same group (default
/// core ""), kind (default Service) and name, and no other namespace than the route's.
fn same_backend(json: &Value, want: &BackendRef, route_ns: &str) -> bool {
    let s = |k: &str| json.get(k).and_then(Value::as_str);
    s("group").unwrap_or("") == want.group
        && s("kind").unwrap_or("Service") == want.kind
        && s("name") == Some(want.name.as_str())
        && s("namespace").is_none_or(|ns| ns == route_ns)
}

fn rule<'a>(route: &'a Value, target: &RouteTarget) -> Result<&'a Value, ActuateError> {
    let bad = |why: String| ActuateError::Route { route: format!("{}/{}", target.namespace, target.name), why };
    let rules =
        route.pointer("/spec/rules").and_then(Value::as_array).ok_or_else(|| bad("has no spec.rules".into()))?;
    rules.get(target.rule_index).ok_or_else(|| {
        bad(format!("spec.route.ruleIndex {} is out of range: the route has {} rules", target.rule_index, rules.len()))
    })
}

/// Indices of the self-hosted and external backendRefs in the rule; any third backend is an error
/// because its weight would silently take a share the planner does not know about.
fn backend_indices(rule: &Value, target: &RouteTarget) -> Result<(usize, usize), ActuateError> {
    let bad = |why: String| ActuateError::Route { route: format!("{}/{}", target.namespace, target.name), why };
    let refs = rule.get("backendRefs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let (mut own, mut ext) = (None, None);
    for (i, b) in refs.iter().enumerate() {
        if same_backend(b, &target.self_hosted, &target.namespace) && own.is_none() {
            own = Some(i);
        } else if same_backend(b, &target.external, &target.namespace) && ext.is_none() {
            ext = Some(i);
        } else {
            let name = b.get("name").and_then(Value::as_str).unwrap_or("?");
            return Err(bad(format!(
                "rule {} has backend {name:?} that is neither spec.route.selfHostedBackend nor externalBackend; \
                 remove it or give it its own rule",
                target.rule_index
            )));
        }
    }
    let missing = |b: &BackendRef, which: &str| {
        bad(format!("rule {} has no backendRef for {which} {} {:?}", target.rule_index, b.kind, b.name))
    };
    Ok((
        own.ok_or_else(|| missing(&target.self_hosted, "selfHostedBackend"))?,
        ext.ok_or_else(|| missing(&target.external, "externalBackend"))?,
    ))
}

fn weight(b: &Value) -> u64 {
    b.get("weight").and_then(Value::as_u64).unwrap_or(DEFAULT_WEIGHT)
}

/// The weights the route has now (raw values, not normalised).
pub fn current_weights(route: &Value, target: &RouteTarget) -> Result<TrafficWeights, ActuateError> {
    let r = rule(route, target)?;
    let (own, ext) = backend_indices(r, target)?;
    let refs = &r["backendRefs"];
    let clamp = |w: u64| u32::try_from(w).unwrap_or(u32::MAX);
    Ok(TrafficWeights { self_hosted_weight: clamp(weight(&refs[own])), external_weight: clamp(weight(&refs[ext])) })
}

/// The route's complete `spec.rules` with the two weights set, or `None` when they already are.
pub fn rules_with_weights(route: &Value, target: &RouteTarget) -> Result<Option<Value>, ActuateError> {
    let w = target.weights;
    if w.self_hosted_weight + w.external_weight != 100 {
        return Err(ActuateError::Route {
            route: format!("{}/{}", target.namespace, target.name),
            why: format!("planned weights {}/{} do not sum to 100", w.self_hosted_weight, w.external_weight),
        });
    }
    if current_weights(route, target)? == w {
        return Ok(None);
    }
    let (own, ext) = backend_indices(rule(route, target)?, target)?;
    let mut rules = route["spec"]["rules"].clone();
    let refs = &mut rules[target.rule_index]["backendRefs"];
    refs[own]["weight"] = Value::from(w.self_hosted_weight);
    refs[ext]["weight"] = Value::from(w.external_weight);
    Ok(Some(rules))
}

/// The weights to leave on the route when hybridscale stops managing it (the pool's finalizer): all
/// traffic to the self-hosted backend when any replica is ready or data may not leave the cluster,
/// otherwise all to the external API. Either way one backend gets everything, so the route keeps working
/// with nobody adjusting it, and it never sends traffic only to a backend with nothing behind it.
pub fn safe_weights(ready_replicas: u32, external_allowed: bool) -> TrafficWeights {
    if ready_replicas > 0 || !external_allowed {
        TrafficWeights { self_hosted_weight: 100, external_weight: 0 }
    } else {
        TrafficWeights { self_hosted_weight: 0, external_weight: 100 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(own: u32) -> RouteTarget {
        RouteTarget {
            namespace: "inference".into(),
            name: "llama".into(),
            rule_index: 1,
            self_hosted: BackendRef { group: "".into(), kind: "Service".into(), name: "vllm".into(), port: Some(8000) },
            external: BackendRef { group: "".into(), kind: "Service".into(), name: "egress".into(), port: None },
            weights: TrafficWeights { self_hosted_weight: own, external_weight: 100 - own },
        }
    }

    fn route() -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "llama", "namespace": "inference"},
               "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                   {"matches": [{"path": {"type": "PathPrefix", "value": "/health"}}],
                    "backendRefs": [{"name": "health", "port": 80}]},
                   {"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                    "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "y"}]}}],
                    "backendRefs": [{"name": "vllm", "port": 8000},
                                    {"group": "", "kind": "Service", "name": "egress", "port": 443, "weight": 0}]}]}})
    }

    #[test]
    fn sets_weights_and_keeps_everything_else() {
        let rules = rules_with_weights(&route(), &target(70)).unwrap().unwrap();
        let mut expected = route()["spec"]["rules"].clone();
        expected[1]["backendRefs"][0]["weight"] = json!(70);
        expected[1]["backendRefs"][1]["weight"] = json!(30);
        assert_eq!(rules, expected);
        // Applying the result and asking again is a no-op.
        let mut applied = route();
        applied["spec"]["rules"] = rules;
        assert_eq!(rules_with_weights(&applied, &target(70)).unwrap(), None);
        assert_eq!(current_weights(&applied, &target(0)).unwrap().external_weight, 30);
    }

    #[test]
    fn safe_weights_never_point_at_nothing() {
        assert_eq!(safe_weights(2, true).self_hosted_weight, 100);
        assert_eq!(safe_weights(0, true).external_weight, 100);
        assert_eq!(safe_weights(0, false).self_hosted_weight, 100, "data may not leave the cluster");
    }

    #[test]
    fn default_weight_is_one() {
        assert_eq!(
            current_weights(&route(), &target(0)).unwrap(),
            TrafficWeights { self_hosted_weight: 1, external_weight: 0 }
        );
    }

    #[test]
    fn errors_name_the_route_and_the_problem() {
        let mut t = target(50);
        t.rule_index = 5;
        assert!(rules_with_weights(&route(), &t).unwrap_err().to_string().contains("out of range"));
        let mut r = route();
        r["spec"]["rules"][1]["backendRefs"].as_array_mut().unwrap().push(json!({"name": "canary"}));
        let e = rules_with_weights(&r, &target(50)).unwrap_err().to_string();
        assert!(e.contains("inference/llama") && e.contains("canary"), "{e}");
        let mut r = route();
        r["spec"]["rules"][1]["backendRefs"][1]["kind"] = json!("Backend");
        assert!(rules_with_weights(&r, &target(50)).unwrap_err().to_string().contains("externalBackend"));
        let mut t = target(50);
        t.weights.external_weight = 10;
        assert!(rules_with_weights(&route(), &t).unwrap_err().to_string().contains("sum to 100"));
    }
}
