//! Tenant shares of a pool's traffic: the attribution query of `spec.metrics.attribution` (a gateway
//! series by a tenant label), read through [`TenantSource`] like the load and the prices.
//!
//! Honesty rules as for load: a failed query or an answer with no usable series gives no shares
//! (`None`), and the ledger then books the interval under tenant "other" rather than guessing who
//! spent it. Shares are not held across failures: a share is only good for the interval it was seen in.

use futures::future::BoxFuture;

use super::client::{PrometheusClient, QueryError};
use crate::api::finops::AttributionSpec;
use crate::ledger::TenantShare;

/// One reading of the tenant shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TenantReading {
    /// Each tenant's rate; empty when the query answered nothing usable.
    pub shares: Vec<TenantShare>,
    /// Why the query failed, for the pool's conditions.
    pub error: Option<QueryError>,
}

/// Something that reads the tenants' shares of a pool's traffic.
pub trait TenantSource: Send + Sync {
    /// Read the shares now.
    fn shares(&self) -> BoxFuture<'_, TenantReading>;
}

/// Most tenants read per query: a label with more values is a mistake (a request id), and the ledger
/// keeps only the largest anyway.
pub const MAX_SERIES: usize = 1000;

/// Reads shares from Prometheus.
#[derive(Debug)]
pub struct PrometheusTenantSource {
    client: PrometheusClient,
    query: String,
    label: String,
}

impl PrometheusTenantSource {
    /// The source for a pool serving `model` with `spec`.
    pub fn new(client: PrometheusClient, spec: &AttributionSpec, model: &str) -> Self {
        PrometheusTenantSource { client, query: spec.effective_query(model), label: spec.label.clone() }
    }

    /// The query run.
    pub fn query(&self) -> &str {
        &self.query
    }

    async fn read(&self) -> TenantReading {
        match self.client.instant_by_label(&self.query, &self.label).await {
            Ok(points) => TenantReading { shares: usable(points.into_iter().map(|(t, p)| (t, p.value))), error: None },
            Err(e) => TenantReading { shares: vec![], error: Some(e) },
        }
    }
}

/// The usable shares of an answer: finite positive rates of named tenants, the same tenant added up,
/// at most [`MAX_SERIES`] of the largest.
pub fn usable(answer: impl IntoIterator<Item = (String, f64)>) -> Vec<TenantShare> {
    let mut by: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for (tenant, rate) in answer {
        if !tenant.is_empty() && rate.is_finite() && rate > 0.0 {
            *by.entry(tenant).or_default() += rate;
        }
    }
    let mut shares: Vec<TenantShare> =
        by.into_iter().filter(|(_, r)| r.is_finite()).map(|(tenant, rate)| TenantShare { tenant, rate }).collect();
    shares.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    shares.truncate(MAX_SERIES);
    shares
}

impl TenantSource for PrometheusTenantSource {
    fn shares(&self) -> BoxFuture<'_, TenantReading> {
        Box::pin(self.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cleaned_merged_and_bounded() {
        let got = usable([
            ("a".to_string(), 1.0),
            ("b".to_string(), f64::NAN),
            (String::new(), 5.0),
            ("a".to_string(), 2.0),
            ("c".to_string(), -1.0),
            ("d".to_string(), 0.5),
        ]);
        assert_eq!(
            got,
            vec![TenantShare { tenant: "a".into(), rate: 3.0 }, TenantShare { tenant: "d".into(), rate: 0.5 }]
        );
        let many = usable((0..5000).map(|i| (format!("t{i}"), f64::from(i + 1))));
        assert_eq!(many.len(), MAX_SERIES);
        assert_eq!(many[0].tenant, "t4999");
    }

    #[test]
    fn the_default_query_names_the_model_and_the_label() {
        let spec = AttributionSpec { label: "team".into(), ..Default::default() };
        let q = spec.effective_query("llama-70b");
        assert!(q.starts_with("sum by (team) (rate(gen_ai_client_token_usage_sum{"), "{q}");
        assert!(q.contains("gen_ai_request_model=\"llama-70b\""), "{q}");
        let own = AttributionSpec { query: Some("sum by (user) (x)".into()), ..Default::default() };
        assert_eq!(own.effective_query("m"), "sum by (user) (x)");
    }
}
