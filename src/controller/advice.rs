//! Reserved-commitment advice for a CostPolicy's pools (reads Prometheus, replays; writes nothing):
//! the pool's demand of the last [`HISTORY_DAYS`] days by range queries of its own load queries, replayed
//! by `sim::reservation::recommend` exactly as `simulate --recommend-reservation` does (same default
//! spot market and seed), summarised by `sim::advice`. Refreshed at most every [`REFRESH_S`]: the replay
//! costs seconds of CPU and a commitment is a yearly decision. Never acted on. `hybridscale recommend`
//! runs the same [`advise`].
//!
//! Demand: with a gateway-level `spec.metrics.queries.requestRate` the history is the pool's whole
//! demand; with the vLLM default it is what the self-hosted replicas served, which understates demand
//! while part of it went to the external API (the advice then errs towards a smaller commitment).

use std::path::Path;

use jiff::Timestamp;

use crate::api::finops::ReservationAdvice;
use crate::api::{CostPolicy, CostPolicyStatus, InferencePool};
use crate::planner::Class;
use crate::signals::history::read_demand;
use crate::signals::{PoolQueries, PrometheusClient, QueryParams};
use crate::sim::{Scenario, SpotMarket, advice, reservation};

/// Seconds between two computations of a policy's advice.
pub const REFRESH_S: i64 = 86_400;
/// Days of demand replayed.
pub const HISTORY_DAYS: f64 = 14.0;
/// Seconds per step of the replayed history.
pub const STEP_S: f64 = 300.0;
/// Spot interruptions per replica-hour and seed of the replay: `simulate`'s defaults, so
/// `simulate --recommend-reservation` on the same history confirms the advice.
pub const SPOT_INTERRUPTIONS_PER_HOUR: f64 = 0.1;
pub const SEED: u64 = 42;

/// Seconds before advice that could not be computed for some pool (no history yet, Prometheus down)
/// is tried again.
pub const RETRY_S: i64 = 3600;

/// Whether the advice in `status` is missing, older than [`REFRESH_S`] at `now`, or failed for a pool
/// more than [`RETRY_S`] ago.
pub fn due(status: &CostPolicyStatus, now: Timestamp) -> bool {
    let failed = status.reservation_advice.iter().any(|a| a.reason.starts_with(NO_ADVICE));
    let every = if failed { RETRY_S } else { REFRESH_S };
    match status.reservation_advice_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok()) {
        Some(at) => now.as_second() - at.as_second() >= every || at > now,
        None => true,
    }
}

/// How the reason of a pool without advice starts.
pub const NO_ADVICE: &str = "no advice: ";

/// The advice for `pool` from its demand over `[end - days, end]` (Unix seconds) at `step_s`.
pub async fn advise(
    client: &PrometheusClient,
    policy: &CostPolicy,
    pool: &InferencePool,
    end: f64,
    days: f64,
    step_s: f64,
) -> Result<(advice::Advice, crate::sim::Trace), String> {
    let name = pool.metadata.name.clone().unwrap_or_default();
    let params = QueryParams::for_pool(&pool.spec, policy.spec.slo.target_attainment);
    let queries = PoolQueries::new(&params, &pool.spec.metrics.queries).map_err(|e| e.to_string())?;
    let (history, step) = read_demand(client, &queries, end - days * 86_400.0, end, step_s)
        .await
        .map_err(|e| format!("demand history: {e}"))?;
    let trace =
        advice::trace_from_history(&name, step, &history.requests, &history.prompt_tokens, &history.output_tokens)?;
    let (policy, pool, replayed) = (policy.clone(), pool.clone(), trace.clone());
    let rec = tokio::task::spawn_blocking(move || {
        let path = Path::new(&name);
        let world = Scenario::from_resources(path, &policy, &pool)?.spec.world;
        let market = SpotMarket::Poisson { per_replica_hour: SPOT_INTERRUPTIONS_PER_HOUR };
        let rec = reservation::recommend(path, &policy, &pool, &world, &replayed, &market, SEED, None)?;
        let prices = &policy.spec.gpu_prices;
        let (reserved, on_demand) = (prices.reserved.usd_per_gpu_hour, prices.on_demand.usd_per_gpu_hour);
        let secs = replayed.len() as f64 * replayed.step_s;
        Ok::<_, crate::input::InputError>(advice::advice(&rec, secs, pool.spec.gpus_per_replica, reserved, on_demand))
    })
    .await
    .map_err(|e| format!("replay: {e}"))?
    .map_err(|e| e.to_string())?;
    Ok((rec, trace))
}

/// The status entry for a pool: the advice, or why there is none.
pub fn entry(pool: &InferencePool, result: Result<advice::Advice, String>) -> ReservationAdvice {
    let name = pool.metadata.name.clone().unwrap_or_default();
    match result {
        Ok(a) => ReservationAdvice {
            pool: name,
            current_replicas: a.current_replicas,
            recommended_replicas: a.recommended_replicas,
            recommended_gpus: a.recommended_gpus,
            monthly_saving_usd: (a.monthly_saving_usd * 100.0).round() / 100.0,
            break_even_utilization: (a.break_even_utilization * 1000.0).round() / 1000.0,
            history_days: (a.history_days * 100.0).round() / 100.0,
            reason: a.reason.chars().take(1024).collect(),
        },
        Err(why) => ReservationAdvice {
            pool: name,
            current_replicas: pool.spec.capacity.get(Class::Reserved).and_then(|c| c.max_replicas).unwrap_or(0),
            reason: format!("{NO_ADVICE}{why}").chars().take(1024).collect(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshed_at_most_daily() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut s = CostPolicyStatus::default();
        assert!(due(&s, t("2026-11-10T10:00:00Z")));
        s.reservation_advice_at = Some("2026-11-10T10:00:00Z".into());
        assert!(!due(&s, t("2026-11-11T09:59:59Z")));
        assert!(due(&s, t("2026-11-11T10:00:00Z")));
        // A time from the future (clock skew) or junk: compute again rather than never.
        assert!(due(&s, t("2026-11-09T10:00:00Z")));
        s.reservation_advice_at = Some("junk".into());
        assert!(due(&s, t("2026-11-10T10:00:00Z")));
        // A pool without advice (no history yet) is tried again after an hour, not a day.
        s.reservation_advice_at = Some("2026-11-10T10:00:00Z".into());
        let mut pool: InferencePool = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "llm"},
            "spec": {"model": "m", "costPolicyRef": {"name": "p"}, "capacity": {}, "replicaCapacity": {"requestsPerSecond": 1.0},
                     "route": {"httpRoute": "r", "selfHostedBackend": {"name": "a"}, "externalBackend": {"name": "b"}}}
        }))
        .expect("pool");
        pool.metadata.name = Some("llm".into());
        s.reservation_advice = vec![entry(&pool, Err("no request-rate history".into()))];
        assert_eq!(s.reservation_advice[0].reason, "no advice: no request-rate history");
        assert!(!due(&s, t("2026-11-10T10:59:59Z")));
        assert!(due(&s, t("2026-11-10T11:00:00Z")));
    }
}
