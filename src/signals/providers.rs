//! Each external provider's health from gateway-level series: its error ratio and its latency, read
//! per provider by a query in which `$provider` stands for the provider's name.
//!
//! The defaults read Envoy AI Gateway's `gen_ai_server_request_duration_seconds` histogram (the
//! OpenTelemetry GenAI semantic conventions, exported to Prometheus with dots as underscores): a
//! request that failed carries an `error_type` label, and `gen_ai_provider_name` names the backend.
//! Any gateway works by overriding `spec.metrics.queries.providerErrorRatio` and `providerLatency`
//! (LiteLLM: `litellm_deployment_failure_responses` over `litellm_deployment_total_requests`, by
//! `api_provider`).
//!
//! A provider that takes no traffic has no series (0/0 is NaN): that reads as "nothing known", which
//! the planner treats as well ([`crate::planner::providers::Health::update`]).

use futures::future::{BoxFuture, join_all};

use super::client::PrometheusClient;
use crate::api::inference_pool::{ExternalProvider, QueryOverrides};
use crate::planner::providers::ProviderSignal;

/// The default error-ratio query; `$provider` is replaced by the provider's name.
pub const DEFAULT_ERROR_RATIO: &str = "sum(rate(gen_ai_server_request_duration_seconds_count{gen_ai_provider_name=\"$provider\",error_type!=\"\"}[2m])) / sum(rate(gen_ai_server_request_duration_seconds_count{gen_ai_provider_name=\"$provider\"}[2m]))";

/// The default latency query; `$provider` is replaced by the provider's name, `$quantile` by the SLO's.
pub const DEFAULT_LATENCY: &str = "histogram_quantile($quantile, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{gen_ai_provider_name=\"$provider\"}[2m])))";

/// Reads each provider's error ratio and latency.
pub trait ProviderSource: Send + Sync {
    /// One reading per provider, in the order given when the source was built.
    fn read(&self, now: f64, max_age_s: f64) -> BoxFuture<'_, Vec<ProviderSignal>>;
}

/// The two queries of one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderQueries {
    pub error_ratio: String,
    pub latency: String,
}

/// The queries of each provider: the pool's templates (or the defaults) with `$provider` replaced by
/// the name and `$quantile` by the SLO's quantile.
pub fn queries(overrides: &QueryOverrides, providers: &[ExternalProvider], quantile: f64) -> Vec<ProviderQueries> {
    let fill = |t: &str, name: &str| t.replace("$provider", name).replace("$quantile", &quantile.to_string());
    let err = overrides.provider_error_ratio.as_deref().unwrap_or(DEFAULT_ERROR_RATIO);
    let lat = overrides.provider_latency.as_deref().unwrap_or(DEFAULT_LATENCY);
    providers.iter().map(|p| ProviderQueries { error_ratio: fill(err, &p.name), latency: fill(lat, &p.name) }).collect()
}

/// Provider health read from Prometheus.
#[derive(Clone, Debug)]
pub struct PrometheusProviderSource {
    client: PrometheusClient,
    queries: Vec<ProviderQueries>,
}

impl PrometheusProviderSource {
    pub fn new(client: PrometheusClient, queries: Vec<ProviderQueries>) -> Self {
        PrometheusProviderSource { client, queries }
    }

    /// The largest finite, fresh value a query returns (the worst series), or `None`.
    async fn value(&self, query: &str, now: f64, max_age_s: f64) -> Option<f64> {
        let points = self.client.instant(query).await.ok()?;
        points
            .iter()
            .filter(|p| p.value.is_finite() && p.value >= 0.0 && now - p.at <= max_age_s)
            .map(|p| p.value)
            .reduce(f64::max)
    }
}

impl ProviderSource for PrometheusProviderSource {
    fn read(&self, now: f64, max_age_s: f64) -> BoxFuture<'_, Vec<ProviderSignal>> {
        Box::pin(join_all(self.queries.iter().map(move |q| async move {
            let (error_ratio, latency_s) = futures::future::join(
                self.value(&q.error_ratio, now, max_age_s),
                self.value(&q.latency, now, max_age_s),
            )
            .await;
            ProviderSignal { error_ratio, latency_s }
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_each_provider() {
        let p = |name: &str| ExternalProvider {
            name: name.into(),
            backend_ref: crate::api::inference_pool::BackendRef {
                group: String::new(),
                kind: "Service".into(),
                name: format!("{name}-egress"),
                port: None,
            },
            api: crate::api::inference_pool::ExternalApi {
                model: "m".into(),
                input_usd_per_million_tokens: None,
                output_usd_per_million_tokens: None,
                latency_seconds: None,
            },
            max_requests_per_second: None,
            max_tokens_per_minute: None,
            max_share: None,
        };
        let q = queries(&QueryOverrides::default(), &[p("gemini"), p("claude")], 0.99);
        assert!(q[0].error_ratio.contains("gen_ai_provider_name=\"gemini\",error_type!=\"\""), "{}", q[0].error_ratio);
        assert!(q[1].latency.starts_with("histogram_quantile(0.99, "), "{}", q[1].latency);
        let custom =
            QueryOverrides { provider_error_ratio: Some("errors{backend=\"$provider\"}".into()), ..Default::default() };
        assert_eq!(queries(&custom, &[p("claude")], 0.9)[0].error_ratio, "errors{backend=\"claude\"}");
    }
}
