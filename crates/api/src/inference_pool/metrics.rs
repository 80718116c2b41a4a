//! Where a pool's load signals come from: the Prometheus it reads, the selector scoping vLLM's and DCGM's
//! series, per-signal PromQL overrides, credentials, and the tenant attribution query.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finops::AttributionSpec;

/// Load signal sources.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Prometheus base URL, e.g. http://prometheus.monitoring:9090. Defaults to the operator's
    /// --prometheus-url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub prometheus_url: Option<String>,
    /// Labels selecting this pool's series (added to every default query). Defaults to
    /// {model_name: <spec.model>}, the label vLLM puts on its metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub selector: BTreeMap<String, String>,
    /// PromQL overrides, one per signal; unset signals use the vLLM/DCGM defaults.
    #[serde(default)]
    pub queries: QueryOverrides,
    /// Credentials for a managed Prometheus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PrometheusAuth>,
    /// Seconds after which a sample counts as stale; stale signals never scale down.
    #[serde(default = "default_max_signal_age")]
    #[schemars(range(min = 5, max = 3600))]
    pub max_age_seconds: u32,
    /// Timeout of one query, in seconds.
    #[serde(default = "default_query_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: u32,
    /// Split the pool's spend by tenant from a gateway-level series; unset: no attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<AttributionSpec>,
}

fn default_max_signal_age() -> u32 {
    120
}
fn default_query_timeout() -> u32 {
    5
}

// Written by hand, not derived: the derived zeroes would sit below the schema's minimums, and a real API
// server refuses a CRD whose defaults do not validate.
impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            prometheus_url: None,
            selector: BTreeMap::new(),
            queries: QueryOverrides::default(),
            auth: None,
            max_age_seconds: default_max_signal_age(),
            timeout_seconds: default_query_timeout(),
            attribution: None,
        }
    }
}

/// Per-signal PromQL overrides. Each query must return a single value for the whole pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryOverrides {
    /// Requests per second arriving (default: rate of vllm:request_success_total plus waiting growth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub request_rate: Option<String>,
    /// Prompt tokens per second (default: rate of vllm:prompt_tokens_total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub prompt_token_rate: Option<String>,
    /// Generated tokens per second (default: rate of vllm:generation_tokens_total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub generation_token_rate: Option<String>,
    /// Requests being served (default: sum of vllm:num_requests_running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub running: Option<String>,
    /// Requests queued (default: sum of vllm:num_requests_waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub waiting: Option<String>,
    /// Latency quantile in seconds (default: histogram_quantile over vllm:e2e_request_latency_seconds_bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub latency: Option<String>,
    /// KV-cache usage 0..1 (default: avg of vllm:gpu_cache_usage_perc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub kv_cache_usage: Option<String>,
    /// GPU utilisation 0..100 per pod (default: DCGM_FI_DEV_GPU_UTIL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub gpu_utilization: Option<String>,
    /// Error ratio (0..1) of one external provider, `$provider` standing for its name (default: the
    /// share of Envoy AI Gateway's gen_ai_server_request_duration_seconds_count with an error_type,
    /// for gen_ai_provider_name="$provider").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub provider_error_ratio: Option<String>,
    /// Latency in seconds of one external provider at the SLO quantile, `$provider` standing for its
    /// name (default: histogram_quantile over gen_ai_server_request_duration_seconds_bucket for
    /// gen_ai_provider_name="$provider").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub provider_latency: Option<String>,
}

/// Credentials for Prometheus; never logged.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusAuth {
    /// Secret key holding a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret: Option<SecretKeyRef>,
    /// Secret key holding a PEM CA bundle to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

/// A key in a Secret in the pool's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
