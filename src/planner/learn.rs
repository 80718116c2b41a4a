//! Learning a replica's capacity from what it was seen to serve within the SLO (`learnFromMetrics`).
//!
//! The configured requests per second is what the user believes a replica serves; real replicas may
//! serve more. Every tick with fresh signals, the self-hosted request rate per healthy ready replica
//! is evidence: if the observed latency was within the SLO (and no queue had built up beyond what the
//! replicas clear within it) at that throughput, a replica serves at least that much. So the estimate
//!
//! - rises towards the throughput seen within [`WITHIN`] of the SLO, by at most [`MAX_RISE`] of
//!   itself per tick, so one noisy sample cannot move it far;
//! - falls to [`BACK_OFF`] of the throughput seen at an overload (latency over the SLO, or a queue
//!   the replicas cannot clear in time) when that is below it: the estimate was too high;
//! - never goes below the configured capacity, the floor of what is believed (as the CRD says).
//!
//! Without a fresh latency nothing is learned: throughput alone says nothing about the SLO. The
//! estimate is in requests per second for the token mix seen while learning; `Economics` only ever
//! lets it raise μ, and the overload safety net (`overload.rs`) catches an estimate the mix outgrew.

use super::{PoolConfig, Sample, Snapshot};

/// Largest relative rise of the estimate per tick.
pub const MAX_RISE: f64 = 0.05;

/// Share of the SLO latency below which a throughput counts as served within it: a margin for the
/// demand's variation between ticks and for token mixes heavier than the one learned from. In the
/// simulator (ServeGen m-mid, 70B against the premium API, BENCHMARKS.md) learning up to the SLO
/// itself, or to 80% of it, cost the 99.9% target (99.88%); at half of it the replay met the target
/// at 3% less than without learning.
pub const WITHIN: f64 = 0.5;

/// Share of the throughput seen at an overload the estimate falls back to.
pub const BACK_OFF: f64 = 0.9;

/// The estimate after this tick's evidence. `rate` is the pool's fresh request rate; `learned` the
/// estimate so far. Returns `None` when learning is off (nothing is kept then).
pub fn update(config: &PoolConfig, s: &Snapshot, learned: Option<f64>, now: f64, rate: f64) -> Option<f64> {
    if !config.learn_from_metrics {
        return None;
    }
    let floor = config.replica_rps;
    let current = learned.filter(|l| l.is_finite() && *l >= floor).unwrap_or(floor);
    let fresh = |x: Option<Sample>| Sample::fresh(x, now, config.signal_max_age_s);
    let healthy: u32 = s.classes.iter().map(|c| c.ready - c.interrupted.min(c.ready)).sum();
    let (Some(latency), true) = (fresh(s.load.latency_s), healthy > 0) else { return Some(current) };
    let per_replica = rate * f64::from(s.traffic.self_hosted_weight.min(100)) / 100.0 / f64::from(healthy);
    if !per_replica.is_finite() || per_replica <= 0.0 {
        return Some(current);
    }
    let slo = config.slo_latency_s;
    let queued_too_long = fresh(s.load.waiting).is_some_and(|w| w > f64::from(healthy) * current * slo);
    if latency > slo || queued_too_long {
        return Some(current.min(per_replica * BACK_OFF).max(floor));
    }
    if latency > slo * WITHIN {
        // Close to the SLO: no evidence of room beyond what is believed.
        return Some(current);
    }
    Some(current.max(per_replica.min(current * (1.0 + MAX_RISE))))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0, config, snapshot};
    use super::*;

    /// 20 rps, all self-hosted, on `ready` replicas, with a latency sample at `at`.
    fn observed(ready: u32, latency: f64, at: f64) -> Snapshot {
        let mut s = snapshot(|_| 20.0, [(0, 0), (ready, ready), (0, 0)]);
        s.load.latency_s = Some(Sample { value: latency, at });
        s
    }

    #[test]
    fn learns_only_what_was_served_within_the_slo_and_never_below_the_configuration() {
        let mut cfg = config(); // 5 rps per replica configured, SLO 10 s.
        let s = observed(2, 4.0, T0); // 10 rps per replica within the SLO.
        assert_eq!(update(&cfg, &s, None, T0, 20.0), None, "off: nothing learned");
        cfg.learn_from_metrics = true;
        // Rises by at most 5% a tick towards the 10 rps seen.
        let mut l = None;
        let mut steps = 0;
        while l != Some(10.0) {
            let next = update(&cfg, &s, l, T0, 20.0).expect("learning");
            assert!(next <= l.unwrap_or(5.0) * 1.05 + 1e-9, "{next}");
            l = Some(next);
            steps += 1;
            assert!(steps < 100);
        }
        assert!(steps > 10, "a single sample does not jump to it: {steps}");
        // No fresh latency: held. A stale latency says nothing.
        assert_eq!(update(&cfg, &observed(2, 4.0, T0 - 600.0), Some(7.0), T0, 20.0), Some(7.0));
        // Overloaded at 6.7 rps per replica: back to 90% of that.
        let o = update(&cfg, &observed(3, 14.0, T0), Some(10.0), T0, 20.0).unwrap();
        assert!((o - 6.0).abs() < 1e-9, "{o}");
        // Overloaded below the configured capacity: the configuration is the floor.
        assert_eq!(update(&cfg, &observed(8, 14.0, T0), Some(10.0), T0, 20.0), Some(5.0));
        // A long queue counts as an overload too.
        let mut q = observed(2, 4.0, T0);
        q.load.waiting = Some(Sample { value: 500.0, at: T0 });
        assert_eq!(update(&cfg, &q, Some(9.0), T0, 20.0), Some(9.0));
        // Light load within the SLO proves nothing above the estimate: unchanged.
        assert_eq!(update(&cfg, &observed(8, 1.0, T0), Some(7.0), T0, 20.0), Some(7.0));
    }
}
