//! The external APIs a pool may overflow to: one (`spec.external`, behind `spec.route.externalBackend`)
//! or several (`spec.externalProviders`, each with its own backend, prices, limits and latency).
//!
//! The single form is kept for pools written before providers existed and means a list of one
//! ([`InferencePoolSpec::providers`]): the rest of the operator only ever sees the list.
//!
//! [`InferencePoolSpec::providers`]: super::InferencePoolSpec::providers

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::BackendRef;

/// An external API: the model it serves, its prices and its latency. The single form (`spec.external`,
/// see `externalProviders` for several) is this alone; each provider has these fields too
/// ([`ExternalProvider::api`], flattened, so both spell them the same).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalApi {
    /// Model name at the provider (also the key looked up in a LiteLLM price file), e.g. gpt-4o or
    /// gemini-2.5-flash.
    #[schemars(length(min = 1, max = 253))]
    pub model: String,
    /// USD per million input tokens; unset: the LiteLLM price file's figure for `model`, else the
    /// CostPolicy's externalPrices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub input_usd_per_million_tokens: Option<f64>,
    /// USD per million output tokens; as for input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub output_usd_per_million_tokens: Option<f64>,
    /// Typical end-to-end latency, seconds. An API slower than the SLO only takes overflow (what the
    /// replicas and faster providers cannot serve); a gateway latency above
    /// providerHealth.maxLatencyFactor times this figure (the SLO when unset) marks it unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 3600.0))]
    pub latency_seconds: Option<f64>,
}

/// One external provider of several. The planner fills the pool's external share cheapest first (price
/// per request at the live token mix), each provider within its own share, requests/s and tokens/min,
/// and gives none to a provider whose gateway series show errors or latency gone bad until it has looked
/// well again for a while. The CostPolicy's `external` limits (allowed, maxShare, maxRequestsPerSecond)
/// still cap the providers together.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.backendRef.group != 'inference.networking.k8s.io'").message("an external provider's backendRef reaches an external API (an egress Service, ExternalName or AI gateway Backend), not an Inference Extension InferencePool"))]
pub struct ExternalProvider {
    /// Name of the provider within the pool, e.g. gemini. Used in reasons, status, the ledger and as the
    /// `provider` label of metrics, and substituted for `$provider` in the health queries.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// The backendRef of the route rule reaching this provider.
    pub backend_ref: BackendRef,
    /// Its model, prices and latency: `model`, `inputUsdPerMillionTokens`, `outputUsdPerMillionTokens`
    /// and `latencySeconds`, as in the single form.
    #[serde(flatten)]
    pub api: ExternalApi,
    /// Its rate limit, requests per second (its quota for this model). Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub max_requests_per_second: Option<f64>,
    /// Its token limit, prompt plus output tokens per minute. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0e12))]
    pub max_tokens_per_minute: Option<f64>,
    /// Largest share (0..1) of the pool's requests this provider may take. Unset: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_share: Option<f64>,
}

/// When a provider counts as unhealthy, from gateway-level series (`spec.metrics.queries`
/// `providerErrorRatio` and `providerLatency`, with `$provider` replaced by each provider's name).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderHealth {
    /// Error ratio (failed over all requests, 0..1) above which a provider gets no share. Default 0.05.
    #[serde(default = "default_max_error_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_ratio: f64,
    /// A latency above this multiple of the provider's latencySeconds gets it no share. Default 2.
    #[serde(default = "default_max_latency_factor")]
    #[schemars(range(min = 1.0, max = 100.0))]
    pub max_latency_factor: f64,
    /// Seconds a provider must look well before it gets share again. Default 300.
    #[serde(default = "default_recover_seconds")]
    #[schemars(range(min = 0, max = 86400))]
    pub recover_after_seconds: u32,
}

fn default_max_error_ratio() -> f64 {
    0.05
}
fn default_max_latency_factor() -> f64 {
    2.0
}
fn default_recover_seconds() -> u32 {
    300
}

impl Default for ProviderHealth {
    fn default() -> Self {
        ProviderHealth {
            max_error_ratio: default_max_error_ratio(),
            max_latency_factor: default_max_latency_factor(),
            recover_after_seconds: default_recover_seconds(),
        }
    }
}

impl ExternalProvider {
    /// The single `spec.external` form as a provider: named after its model (made a valid name), behind
    /// the route's externalBackend, with no limits of its own (the CostPolicy's external limits apply).
    pub fn from_single(api: &ExternalApi, backend: &BackendRef) -> ExternalProvider {
        ExternalProvider {
            name: provider_name(&api.model),
            backend_ref: backend.clone(),
            api: api.clone(),
            max_requests_per_second: None,
            max_tokens_per_minute: None,
            max_share: None,
        }
    }
}

/// A model name turned into a provider name: lower case, characters outside [a-z0-9-] as '-', at most
/// 63 characters, never empty ("gpt-4o" stays, "openai/GPT-4.1" becomes "openai-gpt-4-1").
pub fn provider_name(model: &str) -> String {
    let mut s: String =
        model.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.truncate(63);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "external".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, String> {
        hybridscale_core::input::parse_yaml(std::path::Path::new("pool.yaml"), yaml).map_err(|e| e.to_string())
    }

    /// The shared fields keep their names in both forms: YAML written before they were shared still
    /// parses, and a provider writes back exactly the fields it was given.
    #[test]
    fn a_provider_spells_model_prices_and_latency_as_the_single_form_does() {
        let shared = "model: gemini-2.5-flash\ninputUsdPerMillionTokens: 0.3\noutputUsdPerMillionTokens: 2.5\n\
                      latencySeconds: 2\n";
        let single: ExternalApi = parse(shared).expect("single form");
        let yaml = format!("name: gemini\nbackendRef: {{name: egress}}\n{shared}maxShare: 0.5\n");
        let provider: ExternalProvider = parse(&yaml).expect("provider");
        assert_eq!(provider.api, single);
        assert_eq!((single.input_usd_per_million_tokens, single.latency_seconds), (Some(0.3), Some(2.0)));
        assert_eq!(provider.max_share, Some(0.5));
        let json = serde_json::to_value(&provider).expect("json");
        let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        let want = ["backendRef", "inputUsdPerMillionTokens", "latencySeconds", "maxShare", "model", "name"];
        assert_eq!(keys, [&want[..], &["outputUsdPerMillionTokens"]].concat(), "{json}");
        assert_eq!(serde_json::from_value::<ExternalProvider>(json).expect("round trip"), provider);
    }

    #[test]
    fn a_bad_shared_field_is_a_one_line_error_naming_it() {
        for (yaml, needle) in [
            ("name: g\nbackendRef: {name: e}\nmodel: m\ninputUsdPerMillionTokens: cheap\n", "cheap"),
            ("name: g\nbackendRef: {name: e}\ninputUsdPerMillionTokens: 1\n", "model"),
        ] {
            let err = parse::<ExternalProvider>(yaml).expect_err(yaml);
            assert!(!err.trim_end().contains('\n') && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn single_form_is_a_provider_named_after_its_model() {
        assert_eq!(provider_name("gpt-4o"), "gpt-4o");
        assert_eq!(provider_name("openai/GPT-4.1"), "openai-gpt-4-1");
        assert_eq!(provider_name("///"), "external");
        assert!(provider_name(&"x".repeat(300)).len() <= 63);
    }
}
