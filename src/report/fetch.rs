//! Reading the report's metrics from Prometheus: raw samples of each metric, one instant query of a
//! range-vector selector per chunk of the period (a day by default), merged per series. A progress bar
//! on stderr counts the queries (hidden when stderr is not a terminal).

use std::collections::BTreeMap;

use indicatif::ProgressBar;

use super::Inputs;
use super::period::Period;
use super::series::{Labels, Series};
use crate::signals::{PrometheusClient, QueryError};

/// How far before the period to look for each counter's last sample (an hour: any scrape interval).
pub const LOOKBACK_S: i64 = 3600;

/// The metrics read, with the field of [`Inputs`] each fills.
const METRICS: [&str; 6] = [
    "hybridscale_pool_month_to_date_usd",
    "hybridscale_pool_counterfactual_month_to_date_usd",
    "hybridscale_pool_tenant_cost_usd_total",
    "hybridscale_pool_tokens_total",
    "hybridscale_pool_requests_total",
    "hybridscale_pool_info",
];

/// A failed query, naming the metric and window.
#[derive(Debug, thiserror::Error)]
#[error("querying {metric} for ({from}, {to}]: {source}")]
pub struct FetchError {
    pub metric: String,
    pub from: i64,
    pub to: i64,
    #[source]
    pub source: QueryError,
}

/// The selector for one metric and window, scoped to a namespace when given. The namespace is a
/// Kubernetes name, quoted with escapes all the same.
pub fn selector(metric: &str, namespace: Option<&str>, window_s: i64) -> String {
    let scope =
        namespace.map(|n| format!("{{namespace={}}}", serde_json::Value::String(n.to_string()))).unwrap_or_default();
    format!("{metric}{scope}[{window_s}s]")
}

/// Fetch every metric over the period. `progress` advances once per query.
pub async fn fetch(
    client: &PrometheusClient,
    period: &Period,
    namespace: Option<&str>,
    chunk_s: i64,
    progress: &ProgressBar,
) -> Result<Inputs, FetchError> {
    let chunks = period.chunks(LOOKBACK_S, chunk_s);
    progress.set_length((chunks.len() * METRICS.len()) as u64);
    let mut all: Vec<Vec<Series>> = Vec::new();
    for metric in METRICS {
        progress.set_message(metric);
        let mut merged: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for &(from, to) in &chunks {
            let answer = client
                .raw_samples(&selector(metric, namespace, to - from), to)
                .await
                .map_err(|source| FetchError { metric: metric.into(), from, to, source })?;
            for s in answer {
                let mut labels = s.labels;
                labels.remove("__name__");
                merged.entry(labels).or_default().extend(s.points);
            }
            progress.inc(1);
        }
        // Prometheus 2 includes both ends of a range selector: a sample on a chunk boundary comes twice.
        for points in merged.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|a, b| a.0 == b.0);
        }
        all.push(merged.into_iter().map(|(labels, points)| Series { labels, points }).collect());
    }
    progress.finish_and_clear();
    let mut it = all.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(Inputs {
        month_to_date: next(),
        counterfactual: next(),
        tenant_cost: next(),
        tokens: next(),
        requests: next(),
        info: next(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn selectors_scope_and_quote_the_namespace() {
        assert_eq!(super::selector("m", None, 60), "m[60s]");
        assert_eq!(super::selector("m", Some("a\"b"), 60), "m{namespace=\"a\\\"b\"}[60s]");
    }
}
