//! Strategies replayed on the same trace, prices and spot market: the planner and the baselines it
//! is measured against. Each sees what an operator could observe at the end of a step and asks for
//! replicas per class and an external weight for the next one.

mod all_external;
mod hybridscale;
mod spot_hedge;
mod static_peak;
mod target_tracking;

pub use all_external::AllExternal;
pub use hybridscale::{HISTORY_S as PLANNER_HISTORY_S, Hybridscale};
pub use spot_hedge::SpotHedge;
pub use static_peak::StaticPeak;
pub use target_tracking::TargetTracking;

use super::providers::Served;
use hybridscale_core::status::PerClass;

/// Utilisation the autoscaling baselines aim for: the usual HPA/KEDA target of 70%.
pub const BASELINE_TARGET_UTILIZATION: f64 = 0.7;

/// What a strategy sees at the end of a step.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// End of the step, seconds from the start.
    pub now: f64,
    /// Seconds per step.
    pub step_s: f64,
    /// Requests per second in the step just served.
    pub rps: f64,
    /// Mean prompt tokens.
    pub mean_input: f64,
    /// Mean generated tokens.
    pub mean_output: f64,
    /// Replicas asked for per class (reserved, spot, on-demand).
    pub desired: PerClass<u32>,
    /// Ready replicas per class.
    pub ready: PerClass<u32>,
    /// Ready replicas under an interruption notice, per class.
    pub interrupted: PerClass<u32>,
    /// Utilisation of the ready replicas.
    pub utilization: f64,
    /// Self-hosted latency at the SLO quantile, seconds.
    pub latency_s: f64,
    /// Requests in service.
    pub running: f64,
    /// Requests queued.
    pub waiting: f64,
    /// External weight in force.
    pub external_weight: u32,
    /// Per external provider, the route weight in force during the step and what came of its requests
    /// (empty before the first step or without providers).
    pub providers: &'a [(u32, Served)],
    /// Recent (time, requests per second), oldest first.
    pub history: &'a [(f64, f64)],
    /// Spend so far, USD.
    pub spend_usd: f64,
}

/// What a strategy asks for the next step: replicas per class and route weights. The simulator's
/// stand-in for a plan, not the operator's recorded decision (`lastDecision`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepTargets {
    /// Replicas per class (reserved, spot, on-demand).
    pub replicas: PerClass<u32>,
    /// Percent of requests sent to the external providers.
    pub external_weight: u32,
    /// Percent of requests per provider, in the pool's order (their sum replaces `external_weight`);
    /// empty: the whole external weight to the cheapest provider.
    pub providers: Vec<u32>,
}

/// A scaling strategy.
pub trait Strategy {
    /// Name in reports.
    fn name(&self) -> &str;
    /// Reserved replicas this strategy pays for all the time (the pool's reservation unless the
    /// strategy buys its own).
    fn reserved_commitment(&self) -> u32;
    /// Targets for the next step.
    fn decide(&mut self, obs: &Observation) -> StepTargets;
}

/// Replicas needed for `rps` at a utilisation target, with a scale-down stabilisation window: the
/// highest recommendation within the window wins, as the HPA does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stabilized {
    window: std::collections::VecDeque<(f64, u32)>,
}

impl Stabilized {
    pub(crate) fn push(&mut self, now: f64, window_s: f64, want: u32) -> u32 {
        while self.window.front().is_some_and(|&(t, _)| t < now - window_s) {
            self.window.pop_front();
        }
        while self.window.back().is_some_and(|&(_, w)| w <= want) {
            self.window.pop_back();
        }
        self.window.push_back((now, want));
        self.window.front().map_or(want, |&(_, w)| w)
    }

    /// The HPA-style baselines' replica count for this step: enough replicas to serve the observed rate
    /// at [`BASELINE_TARGET_UTILIZATION`] for the current token mix, within the pool's bounds, stabilised.
    pub(crate) fn utilization_target(&mut self, spec: &super::spec::SimSpec, obs: &Observation) -> u32 {
        let mu = spec.replica_rps_for(obs.mean_input, obs.mean_output);
        let want = (obs.rps / (mu * BASELINE_TARGET_UTILIZATION)).ceil() as u32;
        let want = want.clamp(spec.min_replicas.max(1), spec.max_replicas.max(1));
        self.push(obs.now, spec.stabilization_s, want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stabilization_holds_the_window_max() {
        let mut s = Stabilized::default();
        assert_eq!(s.push(0.0, 300.0, 5), 5);
        assert_eq!(s.push(10.0, 300.0, 2), 5);
        assert_eq!(s.push(200.0, 300.0, 3), 5);
        assert_eq!(s.push(301.0, 300.0, 1), 3);
        assert_eq!(s.push(302.0, 300.0, 8), 8);
    }
}
