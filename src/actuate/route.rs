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
use super::desired::{RouteTarget, RouteWeights};
use crate::api::inference_pool::BackendRef;

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

/// Indices of the self-hosted backendRef and of each provider's in the rule; any other backend is an
/// error because its weight would silently take a share the planner does not know about.
fn backend_indices(rule: &Value, target: &RouteTarget) -> Result<(usize, Vec<usize>), ActuateError> {
    let bad = |why: String| ActuateError::Route { route: format!("{}/{}", target.namespace, target.name), why };
    let refs = rule.get("backendRefs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut own = None;
    let mut ext: Vec<Option<usize>> = vec![None; target.external.len()];
    for (i, b) in refs.iter().enumerate() {
        if same_backend(b, &target.self_hosted, &target.namespace) && own.is_none() {
            own = Some(i);
            continue;
        }
        let provider = target.external.iter().position(|(_, want)| same_backend(b, want, &target.namespace));
        match provider {
            Some(p) if ext[p].is_none() => ext[p] = Some(i),
            _ => {
                let name = b.get("name").and_then(Value::as_str).unwrap_or("?");
                return Err(bad(format!(
                    "rule {} has backend {name:?} that is neither spec.route.selfHostedBackend nor an external \
                     provider's backend; remove it or give it its own rule",
                    target.rule_index
                )));
            }
        }
    }
    let missing = |b: &BackendRef, which: &str| {
        bad(format!("rule {} has no backendRef for {which} {} {:?}", target.rule_index, b.kind, b.name))
    };
    let own = own.ok_or_else(|| missing(&target.self_hosted, "selfHostedBackend"))?;
    let ext = ext
        .iter()
        .zip(&target.external)
        .map(|(i, (name, b))| i.ok_or_else(|| missing(b, &format!("external provider {name:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((own, ext))
}

fn weight(b: &Value) -> u64 {
    b.get("weight").and_then(Value::as_u64).unwrap_or(DEFAULT_WEIGHT)
}

/// The weights the route has now (raw values, not normalised).
pub fn current_weights(route: &Value, target: &RouteTarget) -> Result<RouteWeights, ActuateError> {
    let r = rule(route, target)?;
    let (own, ext) = backend_indices(r, target)?;
    let refs = &r["backendRefs"];
    let clamp = |w: u64| u32::try_from(w).unwrap_or(u32::MAX);
    Ok(RouteWeights {
        self_hosted: clamp(weight(&refs[own])),
        external: ext.iter().map(|&i| clamp(weight(&refs[i]))).collect(),
    })
}

/// The route's complete `spec.rules` with the weights set, or `None` when they already are.
pub fn rules_with_weights(route: &Value, target: &RouteTarget) -> Result<Option<Value>, ActuateError> {
    let w = &target.weights;
    if w.self_hosted + w.external.iter().sum::<u32>() != 100 || w.external.len() != target.external.len() {
        return Err(ActuateError::Route {
            route: format!("{}/{}", target.namespace, target.name),
            why: format!("planned weights {} do not sum to 100 over the rule's backends", w.numbers()),
        });
    }
    if current_weights(route, target)? == *w {
        return Ok(None);
    }
    let (own, ext) = backend_indices(rule(route, target)?, target)?;
    let mut rules = route["spec"]["rules"].clone();
    let refs = &mut rules[target.rule_index]["backendRefs"];
    refs[own]["weight"] = Value::from(w.self_hosted);
    for (i, weight) in ext.iter().zip(&w.external) {
        refs[*i]["weight"] = Value::from(*weight);
    }
    Ok(Some(rules))
}

/// The weights to leave on the route when hybridscale stops managing it (the pool's finalizer): all
/// traffic to the self-hosted backend when any replica is ready, data may not leave the cluster or the
/// pool has no provider; otherwise all to the first provider listed. Either way one backend gets
/// everything, so the route keeps working with nobody adjusting it, and it never sends traffic only to a
/// backend with nothing behind it.
pub fn safe_weights(ready_replicas: u32, external_allowed: bool, providers: usize) -> RouteWeights {
    let mut external = vec![0; providers];
    if ready_replicas > 0 || !external_allowed || providers == 0 {
        return RouteWeights { self_hosted: 100, external };
    }
    external[0] = 100;
    RouteWeights { self_hosted: 0, external }
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
            external: vec![(
                "gpt-4o".into(),
                BackendRef { group: "".into(), kind: "Service".into(), name: "egress".into(), port: None },
            )],
            weights: RouteWeights { self_hosted: own, external: vec![100 - own] },
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
        assert_eq!(current_weights(&applied, &target(0)).unwrap().external, [30]);
    }

    #[test]
    fn safe_weights_never_point_at_nothing() {
        assert_eq!(safe_weights(2, true, 1).self_hosted, 100);
        assert_eq!(safe_weights(0, true, 2).external, [100, 0], "the first provider listed");
        assert_eq!(safe_weights(0, false, 1).self_hosted, 100, "data may not leave the cluster");
        assert_eq!(safe_weights(0, true, 0), RouteWeights { self_hosted: 100, external: vec![] }, "no provider");
    }

    #[test]
    fn default_weight_is_one() {
        assert_eq!(current_weights(&route(), &target(0)).unwrap(), RouteWeights { self_hosted: 1, external: vec![0] });
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
        assert!(rules_with_weights(&r, &target(50)).unwrap_err().to_string().contains("external provider"));
        let mut t = target(50);
        t.weights.external = vec![10];
        assert!(rules_with_weights(&route(), &t).unwrap_err().to_string().contains("sum to 100"));
    }
}
