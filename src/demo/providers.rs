//! The three-provider variant of the pool's world (`Setup::providers`), after
//! config/samples/providers/inferencepool.yaml: the overflow may go to gemini (cheapest, but its account
//! allows 6 requests/s), claude (next, at most half the pool's traffic) or openai (dearest, no limit),
//! each behind its own backend of the HTTPRoute, priced at the 2026 table ($0.04, $0.05 and
//! $0.06 per million tokens).
//!
//! Their health is read from the gateway series the simulated gateway exports per provider
//! (src/modelserver/providers.rs), with the operator's default queries but a 20 s rate window instead
//! of 2 minutes: a provider taken out gets no traffic, so its failures stay in the window until it has
//! slid past them, and with the default window a scenario would wait two minutes more before the hold
//! (`recoverAfterSeconds`, short here too) even starts.

use serde_json::{Value, json};

use crate::modelserver::Behaviour;
use crate::signals::providers::{DEFAULT_ERROR_RATIO, DEFAULT_LATENCY};

/// One simulated external provider.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoProvider {
    pub name: &'static str,
    /// The route's backendRef (a Service) reaching it.
    pub backend: &'static str,
    pub model: &'static str,
    /// USD per million tokens, input and output alike.
    pub usd_per_m: f64,
    /// Its typical latency in the pool's spec, seconds.
    pub latency_s: f64,
    pub max_rps: Option<f64>,
    pub max_share: Option<f64>,
}

impl DemoProvider {
    /// How it answers while healthy: at half its typical latency, without errors.
    pub fn healthy(&self) -> Behaviour {
        Behaviour { latency_s: self.latency_s / 2.0, error_ratio: 0.0 }
    }
}

/// The providers, in the pool's order.
pub const PROVIDERS: [DemoProvider; 3] = [
    DemoProvider {
        name: "gemini",
        backend: "llm-gemini",
        model: "gemini-2.5-flash",
        usd_per_m: 0.04,
        latency_s: 6.0,
        max_rps: Some(6.0),
        max_share: None,
    },
    DemoProvider {
        name: "claude",
        backend: "llm-claude",
        model: "claude-haiku-4-5",
        usd_per_m: 0.05,
        latency_s: 7.0,
        max_rps: None,
        max_share: Some(0.5),
    },
    DemoProvider {
        name: "openai",
        backend: "llm-openai",
        model: "gpt-4.1-mini",
        usd_per_m: 0.06,
        latency_s: 5.0,
        max_rps: None,
        max_share: None,
    },
];

/// Seconds a provider must look well before it gets share again (the default is 300).
pub const RECOVER_AFTER_SECONDS: u32 = 15;

/// The provider behind a route backend of that name.
pub fn by_backend(backend: &str) -> Option<&'static DemoProvider> {
    PROVIDERS.iter().find(|p| p.backend == backend)
}

/// The provider of that name.
pub fn by_name(name: &str) -> Option<&'static DemoProvider> {
    PROVIDERS.iter().find(|p| p.name == name)
}

/// The health queries: the defaults with a 20 s rate window.
pub fn health_queries() -> (String, String) {
    (DEFAULT_ERROR_RATIO.replace("[2m]", "[20s]"), DEFAULT_LATENCY.replace("[2m]", "[20s]"))
}

/// Merge patch of the pool's spec: the providers instead of the single external API.
pub fn pool_patch() -> Value {
    let providers: Vec<Value> = PROVIDERS
        .iter()
        .map(|p| {
            let mut v = json!({"name": p.name, "backendRef": {"kind": "Service", "name": p.backend, "port": 443},
                   "model": p.model, "inputUsdPerMillionTokens": p.usd_per_m,
                   "outputUsdPerMillionTokens": p.usd_per_m, "latencySeconds": p.latency_s});
            // List items are not merged: unset limits are left out rather than null.
            if let Some(rps) = p.max_rps {
                v["maxRequestsPerSecond"] = json!(rps);
            }
            if let Some(share) = p.max_share {
                v["maxShare"] = json!(share);
            }
            v
        })
        .collect();
    let (errors, latency) = health_queries();
    json!({
        "external": null,
        "route": {"externalBackend": null},
        "externalProviders": providers,
        "providerHealth": {"maxErrorRatio": 0.05, "maxLatencyFactor": 2, "recoverAfterSeconds": RECOVER_AFTER_SECONDS},
        "metrics": {"queries": {"providerErrorRatio": errors, "providerLatency": latency}},
    })
}

/// The route's provider backends, weight 0 to start with.
pub fn route_backends() -> Vec<Value> {
    PROVIDERS.iter().map(|p| json!({"kind": "Service", "name": p.backend, "port": 443, "weight": 0})).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_the_defaults_but_their_window() {
        let (errors, latency) = health_queries();
        assert_eq!(errors.matches("[20s]").count(), 2, "{errors}");
        assert!(!errors.contains("[2m]") && !latency.contains("[2m]"), "{errors} {latency}");
        assert!(latency.contains("gen_ai_server_request_duration_seconds_bucket"), "{latency}");
        assert_eq!(by_backend("llm-claude").map(|p| p.name), Some("claude"));
    }
}
