//! What was observed at one tick, as plain data. Every signal carries its sample time: a missing or
//! stale value is "unknown", never zero.

use super::history::History;
use super::providers::{Health, ProviderPrice};
use super::{PerClass, TrafficWeights};

/// A value and the time (Unix seconds) it was sampled at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub at: f64,
}

impl Sample {
    /// The value of `sample` if it is a finite, non-negative reading no older than `max_age_s` at `now`.
    pub fn fresh(sample: Option<Sample>, now: f64, max_age_s: f64) -> Option<f64> {
        sample
            .filter(|v| v.value.is_finite() && v.value >= 0.0 && v.at.is_finite() && now - v.at <= max_age_s)
            .map(|v| v.value)
    }
}

/// Load signals of the pool; `None` means the source returned nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadSignals {
    /// Requests per second arriving at the pool (self-hosted plus external).
    pub request_rate: Option<Sample>,
    /// Mean prompt tokens per request.
    pub mean_input_tokens: Option<Sample>,
    /// Mean generated tokens per request.
    pub mean_output_tokens: Option<Sample>,
    /// Requests being served by the self-hosted replicas.
    pub running: Option<Sample>,
    /// Requests queued at the self-hosted replicas.
    pub waiting: Option<Sample>,
    /// Observed latency at the SLO's quantile, seconds.
    pub latency_s: Option<Sample>,
    /// Mean GPU utilisation of the ready replicas, 0..1.
    pub gpu_utilization: Option<Sample>,
    /// Recent request-rate history (time, rps), oldest first, for the forecast. May be empty.
    pub history: History,
    /// The request rate over the last few minutes at the finest step the source has (time, rps),
    /// oldest first, for the recent peak only (`forecast::recent_peak_of`). The operator's `history`
    /// points are rates over its signal window, a minute: a burst shorter than that is spread over the
    /// whole minute (ten seconds at six times the base read as about twice the base), and a route set
    /// for that peak let most of the burst through to the replicas. These points are rates over the
    /// last scrape interval (`irate`), as fine as the replay's per-step history, which the replay's
    /// planner reads its peak from. May be empty (the peak then comes from `history` alone).
    pub recent_rates: Vec<(f64, f64)>,
}

/// Prices in force at this tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Prices {
    /// USD per GPU-hour.
    pub gpu_hour: PerClass<f64>,
    /// Prices of the external providers, in the order of [`PoolConfig::providers`] (empty without an
    /// external API).
    ///
    /// [`PoolConfig::providers`]: super::PoolConfig::providers
    pub external: Vec<ProviderPrice>,
}

impl Prices {
    /// GPU prices and one external provider: the shape of every pool with the single `external` form.
    pub fn single(gpu_hour: PerClass<f64>, name: &str, input_token: f64, output_token: f64) -> Prices {
        Prices { gpu_hour, external: vec![ProviderPrice { name: name.into(), input_token, output_token }] }
    }

    /// USD per external token, input and output, averaged over the providers by `weights` (route
    /// weights in the providers' order): what one external token costs the pool at that split. The
    /// first provider's price when no weight is set.
    pub fn external_blend(&self, weights: &[u32]) -> (f64, f64) {
        let total: u32 = weights.iter().take(self.external.len()).sum();
        if total == 0 {
            return self.external.first().map_or((0.0, 0.0), |p| (p.input_token, p.output_token));
        }
        let w = |i: usize| f64::from(weights.get(i).copied().unwrap_or(0)) / f64::from(total);
        self.external
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(a, b), (i, p)| (a + w(i) * p.input_token, b + w(i) * p.output_token))
    }
}

/// Observed state of one capacity class.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClassObservation {
    /// Replicas currently asked for (the scale target's spec.replicas).
    pub desired: u32,
    /// Replicas ready to serve.
    pub ready: u32,
    /// Ready replicas on nodes that have an interruption notice.
    pub interrupted: u32,
}

/// Spend so far, for the budget.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spend {
    /// Month-to-date spend of all pools under the policy, USD.
    pub policy_month_to_date_usd: f64,
    /// Current burn rate of the other pools under the policy, USD/hour.
    pub other_pools_usd_per_hour: f64,
    /// Seconds left in the month.
    pub seconds_left_in_month: f64,
}

/// Everything observed about one pool at one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Load signals.
    pub load: LoadSignals,
    /// Prices.
    pub prices: Prices,
    /// Per class.
    pub classes: PerClass<ClassObservation>,
    /// Route weights currently set (the external weight is the providers' together).
    pub traffic: TrafficWeights,
    /// Route weight of each external provider now, in the order of the config's providers.
    pub provider_weights: Vec<u32>,
    /// What the gateway's series say of each provider, in the same order (empty: nothing known).
    pub provider_signals: Vec<super::providers::ProviderSignal>,
    /// Spend for the budget.
    pub spend: Spend,
}

/// What the planner remembers between ticks. The controller persists it in the pool's status so a
/// restart or leader change loses nothing; the simulator keeps it in memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Memory {
    /// Replica counts wanted within the stabilisation window (time, counts), oldest first.
    pub recommendations: Vec<(f64, PerClass<u32>)>,
    /// Since when the pool has been idle.
    pub idle_since: Option<f64>,
    /// Times of recent spot interruptions.
    pub spot_interruptions: Vec<f64>,
    /// The last plan made on fresh signals: (time, replicas, weights).
    pub last_safe: Option<(f64, PerClass<u32>, TrafficWeights)>,
    /// Learned correction of the configured capacity (`learn.rs`): the believed requests per second
    /// per replica are the configuration's figure for the token mix times this factor. `None` is 1.
    pub capacity_factor: Option<f64>,
    /// The last evidence that moved `capacity_factor`, for the reasons and status.
    pub capacity_evidence: Option<String>,
    /// The capacity the configuration gave for each recent tick's token mix (time, requests per
    /// second), over the route's burst window: the planner sizes by the heaviest mix of that window as
    /// it sizes the route by its peak rate (`capacity.rs`).
    pub recent_mix_rps: Vec<(f64, f64)>,
    /// The token mix an external request is priced at: the recent mix weighted by requests, fading
    /// over the burst window (`priced_mix.rs`), so one tick's few requests do not buy a replica.
    pub priced_mix: Option<super::priced_mix::PricedMix>,
    /// Self-hosted requests per second per healthy replica at each recent tick, with the capacity
    /// believed then (time, rps, believed rps), over [`learn::load_window_s`]: an overload is judged
    /// against them.
    ///
    /// [`learn::load_window_s`]: super::learn::load_window_s
    pub recent_load_per_replica: Vec<(f64, f64, f64)>,
    /// When an overload last lowered the factor: it does not rise again for [`learn::HOLD_S`] after.
    ///
    /// [`learn::HOLD_S`]: super::learn::HOLD_S
    pub capacity_fell_at: Option<f64>,
    /// The factor the overload at that fall showed a replica to serve: probing back up stops there.
    pub capacity_ceiling: Option<f64>,
    /// The mean request at that fall (`learn::update`: where the configuration prices prompt and output
    /// tokens, evidence past the ceiling is measured at each tick's own mix; where it does not, only
    /// ticks with requests at least this long in both count).
    pub capacity_fell_mix: Option<super::providers::Mix>,
    /// Interruption notices already counted into `spot_interruptions` (the `interrupted` total seen at
    /// the last tick), so a notice that lasts several ticks is counted once (also across restarts:
    /// persisted in status).
    pub interrupted_seen: u32,
    /// Since when spot replicas have been asked for but not ready (spot capacity may be unavailable).
    pub spot_pending_since: Option<f64>,
    /// Until when spot counts as unavailable: no more spot than is ready is asked for, and on-demand
    /// takes its place.
    pub spot_scarce_until: Option<f64>,
    /// Each external provider's health by name (`providers.rs`): out since when and why.
    pub provider_health: Vec<(String, Health)>,
}
