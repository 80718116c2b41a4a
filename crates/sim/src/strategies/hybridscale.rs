//! hybridscale: the operator's own planner (`hybridscale_core::planner::plan`), called every step with a
//! Snapshot built from what the model shows (exactly the signals the controller reads from
//! Prometheus and the cluster), keeping its Memory between steps as the controller keeps it in
//! status. With several external providers it also sees each one's route weight and its gateway
//! signals (error ratio and latency over the step, none when it got no traffic) and routes each its
//! share of the plan (`plan.providers`).

use crate::providers::Served;

use super::{Observation, StepTargets, Strategy};
use hybridscale_api::inference_pool::{PerClass, TrafficWeights};
use hybridscale_core::planner::providers::ProviderSignal;
use hybridscale_core::planner::{
    self, ClassObservation, History, LoadSignals, Memory, PoolConfig, Prices, Sample, Snapshot, Spend,
};

/// Unix time the replay starts at: 2026-01-01T00:00:00Z (the planner works in Unix seconds).
pub const SIM_EPOCH: f64 = 1_767_225_600.0;

/// Length of the planner's month for budget purposes in the replay: 30 days.
const MONTH_S: f64 = 30.0 * 86400.0;

/// Rate history handed to the planner: what the controller hands it (`controller::observe::
/// history_window`: back as far as the forecast's longest window, four hours at the usual tick). The
/// buy rule asks load that would keep a replica only partly busy to have lasted longer before the
/// replica pays, up to that window (`planner::decide`, `persist_max`). With the 30 minutes handed
/// here before, the forecast had no level over any longer window, so the replay never bought
/// replicas the operator buys: on ServeGen m-mid, 70B against the premium API in the measured world
/// (on-demand at u* about 0.5), 31% of requests went to the API over the fortnight, 17% with four
/// hours.
pub const HISTORY_S: f64 = hybridscale_core::planner::forecast::LONGEST_WINDOW_S;

/// The planner as a strategy.
pub struct Hybridscale {
    config: PoolConfig,
    prices: Prices,
    memory: Memory,
    commitment: u32,
    /// Each provider's latency in the simulated world, in the pool's order: what its gateway series show.
    latency_s: Vec<f64>,
    month_start_spend: f64,
    month: u64,
    /// The history handed to the planner, kept from step to step: each step adds the new point and drops
    /// what left the window, rather than copying four hours of points and indexing them again.
    history: History,
}

impl Hybridscale {
    /// For a pool: its planner configuration and static prices, the reserved commitment, and each
    /// external provider's latency in the simulated world (`SimSpec::providers`).
    pub fn new(config: PoolConfig, prices: Prices, reserved_commitment: u32, latency_s: Vec<f64>) -> Self {
        Hybridscale {
            config,
            prices,
            memory: Memory::default(),
            commitment: reserved_commitment,
            latency_s,
            month_start_spend: 0.0,
            month: 0,
            history: History::default(),
        }
    }

    /// The route weights in force: those of the last step, or before any step the whole external
    /// weight on the first provider.
    fn provider_weights(&self, obs: &Observation) -> Vec<u32> {
        if obs.providers.is_empty() {
            let n = self.prices.external.len();
            (0..n).map(|i| if i == 0 { obs.external_weight } else { 0 }).collect()
        } else {
            obs.providers.iter().map(|(w, _)| *w).collect()
        }
    }

    fn snapshot(&mut self, obs: &Observation) -> Snapshot {
        let at = SIM_EPOCH + obs.now;
        let sample = |value: f64| Some(Sample { value, at });
        let from = obs.history.partition_point(|&(t, _)| t < obs.now - HISTORY_S);
        sync_history(&mut self.history, &obs.history[from..]);
        let history = std::mem::take(&mut self.history);
        let month = (obs.now / MONTH_S) as u64;
        if month != self.month {
            self.month = month;
            self.month_start_spend = obs.spend_usd;
        }
        let classes = PerClass::from_fn(|c| ClassObservation {
            desired: obs.desired[c],
            ready: obs.ready[c],
            interrupted: obs.interrupted[c],
        });
        Snapshot {
            load: LoadSignals {
                request_rate: sample(obs.rps),
                mean_input_tokens: sample(obs.mean_input),
                mean_output_tokens: sample(obs.mean_output),
                running: sample(obs.running),
                waiting: sample(obs.waiting),
                latency_s: if obs.latency_s.is_finite() { sample(obs.latency_s) } else { None },
                gpu_utilization: sample(obs.utilization),
                history,
                // The history above is already the steps' own rates, as fine as the operator's recent
                // rates (`signals::load`): the recent peak reads it alone.
                recent_rates: Vec::new(),
            },
            prices: self.prices.clone(),
            classes,
            traffic: TrafficWeights {
                self_hosted_weight: 100 - obs.external_weight,
                external_weight: obs.external_weight,
            },
            provider_weights: self.provider_weights(obs),
            provider_signals: obs.providers.iter().zip(&self.latency_s).map(|((_, s), &l)| signal(s, l)).collect(),
            spend: Spend {
                policy_month_to_date_usd: obs.spend_usd - self.month_start_spend,
                other_pools_usd_per_hour: 0.0,
                seconds_left_in_month: (month as f64 + 1.0) * MONTH_S - obs.now,
            },
        }
    }
}

impl Strategy for Hybridscale {
    fn name(&self) -> &str {
        "hybridscale"
    }
    fn reserved_commitment(&self) -> u32 {
        self.commitment
    }
    fn decide(&mut self, obs: &Observation) -> StepTargets {
        let snapshot = self.snapshot(obs);
        let plan = planner::plan(&self.config, &snapshot, &self.memory, SIM_EPOCH + obs.now);
        let providers = plan.provider_weights();
        self.memory = plan.memory;
        self.history = snapshot.load.history;
        StepTargets { replicas: plan.replicas, external_weight: plan.traffic.external_weight, providers }
    }
}

/// Bring the kept history `h` to `window` (sim times, oldest first) in planner time: the points newer
/// than the last kept are added and the oldest dropped. Anything else (a step's history that does not
/// extend the last one) builds it again from `window`.
fn sync_history(h: &mut History, window: &[(f64, f64)]) {
    let at = |(t, r): (f64, f64)| (SIM_EPOCH + t, r);
    let last = h.last().copied();
    let new = last.map_or(0, |(t, _)| window.partition_point(|&(s, _)| SIM_EPOCH + s <= t));
    for &p in &window[new..] {
        let (t, r) = at(p);
        h.push(t, r);
    }
    h.keep_last(window.len());
    let bits = |p: (f64, f64)| (p.0.to_bits(), p.1.to_bits());
    let same = |a: Option<&(f64, f64)>, b: Option<&(f64, f64)>| a.map(|&p| bits(p)) == b.map(|&p| bits(at(p)));
    if h.len() != window.len() || !same(h.first(), window.first()) || !same(h.last(), window.last()) {
        *h = window.iter().map(|&p| at(p)).collect();
    }
}

/// What the gateway's series show of one provider over a step: the share of the requests it accepted
/// that failed, and its latency; nothing when it was sent nothing (no series).
fn signal(s: &Served, latency_s: f64) -> ProviderSignal {
    let accepted = s.sent - s.rejected;
    if accepted > 0.0 {
        ProviderSignal { error_ratio: Some(s.failed / accepted), latency_s: Some(latency_s) }
    } else {
        ProviderSignal::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept history equals, point for point and in every window's minimum, the straightforward one:
    /// the step's window copied into planner time, as the replay handed the planner before.
    #[test]
    fn the_kept_history_is_the_window_copied_each_step() {
        let mut kept = History::default();
        let mut history: Vec<(f64, f64)> = Vec::new();
        let dt = 10.0;
        // A replay, then a second one from the start (the kept history must notice and start again).
        for (k, i) in (0..3000).chain(0..400).enumerate() {
            if i == 0 {
                history.clear();
            }
            let now = -600.0 + dt * f64::from(i);
            let rate = if k % 53 == 7 { 0.0 } else { ((k * 7919) % 101) as f64 };
            // As `run::tick` keeps it: appended, the front dropped in bulk.
            if history.len() >= 2048 {
                history.drain(..1024);
            }
            history.push((now, rate));
            let from = history.partition_point(|&(t, _)| t < now - HISTORY_S);
            let window = &history[from..];
            sync_history(&mut kept, window);
            let copied: Vec<(f64, f64)> = window.iter().map(|&(t, r)| (SIM_EPOCH + t, r)).collect();
            assert_eq!(*kept, *copied, "step {k}");
            if k % 97 == 0 {
                let fresh = History::from(copied.clone());
                for w in [60.0, 600.0, 3600.0, HISTORY_S, 2.0 * HISTORY_S] {
                    let (a, b) = (SIM_EPOCH + now - w, SIM_EPOCH + now - 300.0);
                    assert_eq!(kept.min_rate(a, b), fresh.min_rate(a, b), "step {k}, window {w}");
                    let scan = copied.iter().filter(|(t, _)| *t >= a && *t <= b).map(|p| p.1).reduce(f64::min);
                    assert_eq!(kept.min_rate(a, b), scan, "step {k}, window {w}");
                }
            }
        }
    }
}
