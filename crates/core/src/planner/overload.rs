//! Observed overload as a safety net. The plan rests on a model of the replicas (μ requests per second
//! each within the SLO); when the replicas say otherwise, the observation wins. Observed latency at
//! the SLO's quantile above the SLO, or more requests queued at the replicas than their rated
//! capacity clears within the SLO's latency (a queue that has grown past what can still be served
//! in time; the snapshot has no earlier queue length to compare with, so growth is judged by this
//! level), typically while the planner thinks the ready capacity sufficient, is a capacity shortfall:
//!
//! - the route sheds load at once: self-hosted gets at most [`KEEP_SHARE`] of the demand (or of its
//!   ready capacity by the model, if lower), within the external API's share and rate limit when one
//!   may be used. Relative to the demand, not to what self-hosted receives now: while the observed
//!   latency lags (a backlog drains over several ticks) the shed share must not compound tick after
//!   tick (in the simulator that drove 74% of ServeGen's 70B traffic to the premium API);
//! - one more replica is asked for when the external API cannot take the shed load (forbidden, or
//!   at its share or rate limit), unless replicas are already starting (they are the added capacity;
//!   adding one per tick while they start would overshoot). Where the API can take it, shedding is
//!   enough: whether more replicas pay stays the forecast's rent-or-buy decision, so a short spike
//!   that lifts the observed latency does not buy GPUs;
//! - nothing scales down on that tick.
//!
//! Only fresh samples count (a stale latency says nothing about now); without them the plan is the
//! model's alone.

use super::{PoolConfig, Snapshot};

/// Share of the demand (at most) the replicas keep while overloaded: a quarter goes to the external API
/// until the overload clears.
pub const KEEP_SHARE: f64 = 0.75;

/// Observed latency counts as an overload only beyond this multiple of the SLO. A replica rated at μ
/// runs close to the SLO at its rating by design, and the quantile comes interpolated from histogram
/// buckets, so a reading at the SLO is the edge the rating was set for, not a shortfall; without the
/// margin the net held a standing external share at the rated load (e2e ramp: 20.1 s against 20 s).
pub const LATENCY_MARGIN: f64 = 1.1;

/// A detected overload and what showed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Overload {
    /// What was observed, for the reasons.
    pub why: String,
    /// Requests per second the self-hosted replicas receive now.
    pub self_hosted_rps: f64,
    /// Requests queued beyond what the ready replicas clear within the SLO (0 when none is known).
    pub backlog: f64,
}

/// Requests per second the replicas keep while overloaded: at most [`KEEP_SHARE`] of what they can serve
/// (or of the demand, if lower), less what drains the backlog within one tick. A request sent to a
/// replica behind a backlog it cannot clear within the SLO is late whatever happens to it, and it makes
/// the backlog last longer; sent to the external API (within its share and rate limit) it is served.
/// On bursty traffic (Azure Functions counts, three reserved replicas) the first tick of each burst left
/// a backlog that a quarter's shedding drained over minutes, and every request routed to the replicas
/// meanwhile was late.
pub fn kept_rps(o: &Overload, ready_rps: f64, rate: f64, tick_s: f64) -> f64 {
    (ready_rps.min(rate) * KEEP_SHARE - o.backlog / tick_s.max(1.0)).max(0.0)
}

/// Detect overload. `rate` is the pool's request rate, `ready_rps` what the healthy ready replicas
/// serve by the model.
pub fn detect(config: &PoolConfig, s: &Snapshot, now: f64, rate: f64, ready_rps: f64) -> Option<Overload> {
    let fresh = |x: Option<super::Sample>| super::Sample::fresh(x, now, config.signal_max_age_s);
    let self_hosted_rps = rate * f64::from(s.traffic.self_hosted_weight.min(100)) / 100.0;
    // Checked whether or not the model thinks the ready replicas enough: when it does not, the plan
    // adds capacity anyway and this only makes sure of one more and of the shed load. (Making it depend
    // on the demand would let more demand switch the safety net off and yield less capacity.)
    if ready_rps <= 0.0 || self_hosted_rps <= 0.0 {
        return None;
    }
    let slo = config.slo_latency_s;
    let clears = ready_rps * slo;
    let waiting = fresh(s.load.waiting);
    let backlog = waiting.map_or(0.0, |w| (w - clears).max(0.0));
    if let Some(l) = fresh(s.load.latency_s).filter(|l| *l > slo * LATENCY_MARGIN) {
        return Some(Overload {
            why: format!(
                "observed latency {} s exceeds the {} s SLO",
                super::reasons::num(l),
                super::reasons::num(slo)
            ),
            self_hosted_rps,
            backlog,
        });
    }
    if let Some(w) = waiting.filter(|w| *w > clears) {
        return Some(Overload {
            why: format!(
                "{} requests waiting, more than the ready replicas clear within the {} s SLO ({})",
                super::reasons::num(w),
                super::reasons::num(slo),
                super::reasons::num(clears)
            ),
            self_hosted_rps,
            backlog,
        });
    }
    None
}
