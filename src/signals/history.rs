//! A pool's demand over a past window (request, prompt-token and output-token rates), read by range
//! queries of the pool's own load queries, for commitment advice (`crate::sim::advice`). Several series
//! (a per-pod query) add up per timestamp; NaN and infinite points are dropped, never read as 0.

use std::collections::BTreeMap;

use super::client::{PrometheusClient, QueryError};
use super::promql::{PoolQueries, Signal};

/// The demand history: (Unix seconds, value) points per signal, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DemandHistory {
    /// Requests per second.
    pub requests: Vec<(f64, f64)>,
    /// Prompt tokens per second.
    pub prompt_tokens: Vec<(f64, f64)>,
    /// Output tokens per second.
    pub output_tokens: Vec<(f64, f64)>,
}

/// Most points asked for per series: Prometheus refuses more than 11 000 in one range query.
pub const MAX_POINTS: f64 = 10_000.0;

/// Read `[start, end]` at `step_s` (Unix seconds). The step is widened when the window would need more
/// than [`MAX_POINTS`] points.
pub async fn read_demand(
    client: &PrometheusClient,
    queries: &PoolQueries,
    start: f64,
    end: f64,
    step_s: f64,
) -> Result<(DemandHistory, f64), QueryError> {
    let step = step_s.max((end - start) / MAX_POINTS).max(1.0).ceil();
    let range = |s: Signal| async move {
        let series = client.range(queries.get(s), start as i64, end as i64, step).await?;
        let mut by_time: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for p in series.iter().flatten().filter(|p| p.value.is_finite()) {
            let e = by_time.entry((p.at * 1000.0).round() as i64).or_insert((p.at, 0.0));
            e.1 += p.value;
        }
        Ok::<_, QueryError>(by_time.into_values().filter(|(_, v)| v.is_finite()).collect::<Vec<_>>())
    };
    let requests = range(Signal::RequestRate).await?;
    // Token rates are optional: without them the pool's configured replica capacity applies.
    let prompt_tokens = range(Signal::PromptTokenRate).await.unwrap_or_default();
    let output_tokens = range(Signal::GenerationTokenRate).await.unwrap_or_default();
    Ok((DemandHistory { requests, prompt_tokens, output_tokens }, step))
}
