//! The capacity the planner believes one replica has this tick: how many requests per second it
//! serves within the SLO (μ), where that figure comes from, and the last evidence that moved it.
//!
//! Three sources, each refining the one before:
//! 1. **Configured**: `spec.replicaCapacity.requestsPerSecond`, measured by the user for some token mix.
//! 2. **Token mix**: with a prompt-token and an output-token rate, a request of `p` prompt and `o`
//!    output tokens takes `p / promptTokensPerSecond + o / outputTokensPerSecond` seconds of a replica
//!    (prefill and decode share its GPUs), so μ follows the live mean prompt and output lengths: a
//!    15k-token prompt costs what its prefill costs, however short its answer. With only one of the two
//!    rates, that rate can only lower the configured figure (the other half of the work is unknown).
//! 3. **Learned** (`learnFromMetrics`, `learn.rs`): a factor on the two above, corrected in both
//!    directions from the replicas' observed latency and queue at the throughput they were given. A
//!    factor rather than a figure, so what was learned on one token mix carries over to the next.

use super::{LoadSignals, Memory, PoolConfig};

/// Where the believed capacity comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CapacitySource {
    /// The configured requests per second, as it is.
    #[default]
    Configured,
    /// The configured token rates for the live token mix.
    TokenMix,
    /// Corrected from observed latency and queue (`learnFromMetrics`).
    Learned,
}

impl CapacitySource {
    /// The name used in status and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacitySource::Configured => "configured",
            CapacitySource::TokenMix => "token mix",
            CapacitySource::Learned => "learned",
        }
    }
}

/// Most token-mix points kept in memory (one per tick over the burst window).
pub const MIX_POINTS: usize = 40;

/// A replica's prompt and output token rates within the SLO, as configured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenRates {
    /// Prompt (prefill) tokens per second.
    pub prompt: Option<f64>,
    /// Output (decode) tokens per second.
    pub output: Option<f64>,
}

impl TokenRates {
    /// Requests per second for a token mix, or `None` when the rates or the mix say nothing:
    /// with both rates a request takes `input / prompt + output / output` seconds; with one rate only,
    /// that rate caps `rps` (the other half of the work is unknown). Means that are missing, negative
    /// or not finite count as unknown.
    pub fn rps(self, rps: f64, mean_input: Option<f64>, mean_output: Option<f64>) -> Option<f64> {
        let known = |x: Option<f64>| x.filter(|v| v.is_finite() && *v >= 0.0);
        let rate = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0);
        let mixed = match (rate(self.prompt), rate(self.output), known(mean_input), known(mean_output)) {
            (Some(ptps), Some(otps), Some(i), Some(o)) => {
                let seconds = i / ptps + o / otps;
                (seconds > 0.0).then(|| 1.0 / seconds)
            }
            (None, Some(otps), _, Some(o)) if o > 0.0 => Some(rps.min(otps / o)),
            (Some(ptps), None, Some(i), _) if i > 0.0 => Some(rps.min(ptps / i)),
            _ => None,
        };
        mixed.filter(|m| m.is_finite() && *m > 0.0)
    }
}

/// The capacity believed this tick.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capacity {
    /// Requests per second one replica serves within the SLO (μ), as the plan uses it.
    pub rps: f64,
    /// μ from the configuration and the token mix alone, before the learned factor.
    pub model_rps: f64,
    /// μ from the configuration at this tick's own token mix (`model_rps` is at the heaviest recent
    /// one): what learning measures the evidence of this tick against.
    pub mix_rps: f64,
    /// Where `rps` comes from.
    pub source: CapacitySource,
    /// The last evidence that moved the learned factor, if any.
    pub evidence: Option<String>,
}

impl Capacity {
    /// What the configuration and the live token mix say (before learning), and whether the mix was
    /// used. Non-finite or non-positive results fall back to the configured requests per second.
    pub fn model(config: &PoolConfig, load: &LoadSignals) -> (f64, bool) {
        let mean = |s: Option<super::Sample>| s.map(|s| s.value);
        let rates =
            TokenRates { prompt: config.replica_prompt_tokens_per_s, output: config.replica_output_tokens_per_s };
        match rates.rps(config.replica_rps, mean(load.mean_input_tokens), mean(load.mean_output_tokens)) {
            Some(m) => (m, true),
            None => (config.replica_rps.max(1e-9), false),
        }
    }

    /// Remember this tick's model figure in `memory.recent_mix_rps`, dropping what is older than
    /// `window_s` (at most [`MIX_POINTS`] points are kept).
    pub fn record(config: &PoolConfig, load: &LoadSignals, memory: &mut Memory, now: f64, window_s: f64) {
        let (rps, mixed) = Capacity::model(config, load);
        let recent = &mut memory.recent_mix_rps;
        recent.retain(|(t, r)| *t > now - window_s && *t <= now && r.is_finite() && *r > 0.0);
        if mixed {
            recent.push((now, rps));
        }
        let excess = recent.len().saturating_sub(MIX_POINTS);
        recent.drain(..excess);
    }

    /// The capacity believed this tick: the model's figure for the heaviest token mix of the recent
    /// window ([`Capacity::record`]; the current one where none is recorded) times the learned factor
    /// in `memory`. The heaviest, because the route and the replicas are set for the recent peak rate
    /// and a mix of long prompts arriving at that rate is what they must then carry: on the Mooncake
    /// trace (15k-token prompts on average, 10-second means varying by half) sizing by the current
    /// mix alone let one heavy step overload the replicas.
    pub fn believe(config: &PoolConfig, load: &LoadSignals, memory: &Memory) -> Capacity {
        let (now_rps, mixed) = Capacity::model(config, load);
        let heaviest = memory.recent_mix_rps.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
        let model_rps = if mixed { now_rps.min(heaviest) } else { now_rps };
        let factor = memory.capacity_factor.filter(|f| f.is_finite() && *f > 0.0 && config.learn_from_metrics);
        let (rps, source) = match factor {
            Some(f) if (f - 1.0).abs() > 1e-9 => (model_rps * f, CapacitySource::Learned),
            _ if mixed => (model_rps, CapacitySource::TokenMix),
            _ => (model_rps, CapacitySource::Configured),
        };
        let evidence = if config.learn_from_metrics { memory.capacity_evidence.clone() } else { None };
        Capacity { rps, model_rps, mix_rps: now_rps, source, evidence }
    }

    /// This tick's figure lowered to what an observed overload shows (`learn::overload_bound`).
    pub fn capped(&self, rps: f64, evidence: String) -> Capacity {
        Capacity {
            rps,
            model_rps: self.model_rps,
            mix_rps: self.mix_rps,
            source: CapacitySource::Learned,
            evidence: Some(evidence),
        }
    }

    /// e.g. "capacity 0.61 rps/replica, learned: latency 31 s > SLO 20 s at 1.8 rps per replica".
    pub fn describe(&self) -> String {
        let head = format!("capacity {} rps/replica, {}", rps(self.rps), self.source.as_str());
        match (&self.evidence, self.source) {
            (Some(e), CapacitySource::Learned) => format!("{head}: {e}"),
            _ => head,
        }
    }
}

/// A per-replica request rate for people: two decimals below 10 (0.61), whole numbers above.
pub fn rps(x: f64) -> String {
    if x < 10.0 { format!("{x:.2}") } else { super::reasons::num(x) }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0, config};
    use super::*;
    use crate::planner::Sample;

    fn load(input: f64, output: f64) -> LoadSignals {
        LoadSignals {
            mean_input_tokens: Some(Sample { value: input, at: T0 }),
            mean_output_tokens: Some(Sample { value: output, at: T0 }),
            ..LoadSignals::default()
        }
    }

    #[test]
    fn long_prompts_lower_the_capacity_when_both_token_rates_are_known() {
        let mut cfg = config(); // 5 rps configured.
        cfg.replica_prompt_tokens_per_s = Some(20_000.0);
        cfg.replica_output_tokens_per_s = Some(2_000.0);
        // 1k prompt, 250 output: 0.05 + 0.125 s = 5.71 rps.
        let (short, mixed) = Capacity::model(&cfg, &load(1000.0, 250.0));
        assert!(mixed && (short - 1.0 / 0.175).abs() < 1e-9, "{short}");
        // A 15k prompt with a 150-token answer: 0.75 + 0.075 s = 1.21 rps.
        let (long, _) = Capacity::model(&cfg, &load(15_000.0, 150.0));
        assert!((long - 1.0 / 0.825).abs() < 1e-9, "{long}");
        // Output rate alone says nothing of prompts: the configured figure caps it.
        cfg.replica_prompt_tokens_per_s = None;
        assert_eq!(Capacity::model(&cfg, &load(15_000.0, 150.0)), (5.0, true));
        assert_eq!(Capacity::model(&cfg, &load(100.0, 1000.0)), (2.0, true));
        // Prompt rate alone lowers it for long prompts.
        cfg.replica_prompt_tokens_per_s = Some(20_000.0);
        cfg.replica_output_tokens_per_s = None;
        assert_eq!(Capacity::model(&cfg, &load(15_000.0, 150.0)).0, 20_000.0 / 15_000.0);
        // Unknown mix: the configured figure.
        assert_eq!(Capacity::model(&cfg, &LoadSignals::default()), (5.0, false));
    }

    #[test]
    fn the_learned_factor_applies_only_with_learning_on_and_is_named() {
        let mut cfg = config();
        let mem = Memory {
            capacity_factor: Some(0.25),
            capacity_evidence: Some("latency 31 s > SLO 10 s at 2.00 rps per replica".into()),
            ..Memory::default()
        };
        let off = Capacity::believe(&cfg, &LoadSignals::default(), &mem);
        assert_eq!((off.rps, off.source), (5.0, CapacitySource::Configured));
        assert_eq!(off.describe(), "capacity 5.00 rps/replica, configured");
        cfg.learn_from_metrics = true;
        let on = Capacity::believe(&cfg, &LoadSignals::default(), &mem);
        assert_eq!((on.rps, on.source), (1.25, CapacitySource::Learned));
        assert_eq!(
            on.describe(),
            "capacity 1.25 rps/replica, learned: latency 31 s > SLO 10 s at 2.00 rps per replica"
        );
    }
}
