//! The replay loop: one strategy against the cluster model over a whole trace, and the figures
//! reported for it.

use hybridscale_core::status::PerClass;
use indicatif::ProgressBar;
use serde::Serialize;

use super::model::{Bill, Cluster, StepOutcome};
use super::providers::ProviderResult;
use super::spec::SimSpec;
use super::spot::SpotMarket;
use super::strategies::{Observation, Strategy};
use super::trace::Trace;

/// Points kept per time series for plots.
const TIMELINE_POINTS: usize = 1000;

/// Most (time, rps) pairs of history kept for strategies: the planner's four hours
/// (`strategies::PLANNER_HISTORY_S`) at steps of 7 s or more.
const HISTORY_LEN: usize = 2048;

/// Figures of one strategy over one trace.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    /// Strategy name.
    pub strategy: String,
    /// Total cost, USD.
    pub cost_usd: f64,
    /// Cost by class, USD.
    pub cost_breakdown_usd: Bill,
    /// Share of requests within the latency SLO.
    pub slo_attainment: f64,
    /// GPU-hours paid for.
    pub gpu_hours: f64,
    /// GPU-hours paid for while not serving.
    pub idle_gpu_hours: f64,
    /// Share of requests sent to the external API.
    pub external_share: f64,
    /// Per external provider, in the pool's order: requests sent, rejected, failed, attainment and
    /// bill (empty without providers, or for the oracle, which relaxes them).
    pub providers: Vec<ProviderResult>,
    /// Whether `slo_attainment` reaches the policy's target (set by `Report::new`).
    pub meets_slo_target: bool,
    /// Time series for plots.
    #[serde(skip)]
    pub timeline: Timeline,
}

/// Downsampled time series of one replay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Start of each point, seconds.
    pub t: Vec<f64>,
    /// Mean demand, requests per second.
    pub demand_rps: Vec<f64>,
    /// Mean ready self-hosted capacity per class (reserved, spot, on-demand), requests per second.
    pub capacity_rps: PerClass<Vec<f64>>,
    /// Share of requests sent to the external API.
    pub external_share: Vec<f64>,
    /// Cost so far at the end of the point, USD.
    pub cumulative_usd: Vec<f64>,
    /// Share of the point's requests served within the SLO.
    pub attainment: Vec<f64>,
}

/// Averages per-step values into at most [`TIMELINE_POINTS`] points.
pub(crate) struct Recorder {
    stride: usize,
    n: usize,
    start: f64,
    demand: f64,
    capacity: PerClass<f64>,
    arrivals: f64,
    external: f64,
    within: f64,
    pub(crate) timeline: Timeline,
}

impl Recorder {
    pub(crate) fn new(steps: usize) -> Self {
        Recorder {
            stride: steps.div_ceil(TIMELINE_POINTS).max(1),
            n: 0,
            start: 0.0,
            demand: 0.0,
            capacity: PerClass::default(),
            arrivals: 0.0,
            external: 0.0,
            within: 0.0,
            timeline: Timeline::default(),
        }
    }

    /// Add one step: time, demand (rps), capacity per class (rps), arrivals, external requests and
    /// requests within the SLO, and the cost so far.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        t: f64,
        demand: f64,
        capacity: PerClass<f64>,
        arrivals: f64,
        external: f64,
        within: f64,
        cost: f64,
    ) {
        if self.n == 0 {
            self.start = t;
        }
        self.n += 1;
        self.demand += demand;
        for (a, c) in self.capacity.iter_mut().zip(capacity) {
            *a += c;
        }
        self.arrivals += arrivals;
        self.external += external;
        self.within += within;
        if self.n == self.stride {
            self.flush(cost);
        }
    }

    pub(crate) fn finish(mut self, cost: f64) -> Timeline {
        if self.n > 0 {
            self.flush(cost);
        }
        self.timeline
    }

    fn flush(&mut self, cost: f64) {
        let n = self.n as f64;
        let tl = &mut self.timeline;
        tl.t.push(self.start);
        tl.demand_rps.push(self.demand / n);
        for (v, c) in tl.capacity_rps.iter_mut().zip(self.capacity) {
            v.push(c / n);
        }
        tl.external_share.push(if self.arrivals > 0.0 { self.external / self.arrivals } else { 0.0 });
        tl.cumulative_usd.push(cost);
        tl.attainment.push(if self.arrivals > 0.0 { self.within / self.arrivals } else { 1.0 });
        self.n = 0;
        self.demand = 0.0;
        self.capacity = PerClass::default();
        self.arrivals = 0.0;
        self.external = 0.0;
        self.within = 0.0;
    }
}

/// Seconds replayed before the trace starts, and not counted. The replay models a service that
/// was already running, not one switched on at the trace's first second: without it a one-hour
/// trace charges every autoscaling strategy a cold start (the external API or missed requests for
/// the first lead time) that static-peak, whose reservation is held from the start, never pays. As
/// long as the history the planner is handed (four hours, `strategies::PLANNER_HISTORY_S`), so that
/// history is full at the first step, as a running operator's is: with an hour, load that must last
/// longer before a replica pays found no replica at the start of a one-hour trace, and the replica
/// it then bought late was billed while the trace ended. The other strategies settle within minutes.
pub const PRE_ROLL_S: f64 = super::strategies::PLANNER_HISTORY_S;

/// The pre-roll is made of the trace's first this-many seconds (the opening).
const OPENING_S: f64 = 600.0;

/// Steps in the opening, and its mean arrivals per step and request-weighted mean token sizes (one
/// step's sizes can be far from the mix, and the planner's break-even depends on them).
fn opening(trace: &Trace) -> (usize, f64, f64, f64) {
    let steps = ((OPENING_S / trace.step_s).ceil() as usize).clamp(1, trace.len());
    let arrivals: f64 = trace.arrivals[..steps].iter().sum();
    let weighted = |sizes: &[f64]| {
        let total: f64 = trace.arrivals[..steps].iter().zip(sizes).map(|(a, s)| a * s).sum();
        if arrivals > 0.0 { total / arrivals } else { sizes[0] }
    };
    (steps, arrivals / steps as f64, weighted(&trace.mean_input), weighted(&trace.mean_output))
}

/// The trace step a pre-roll step `back` steps before the start (1 = the step just before) replays:
/// the opening mirrored back in time (1, 2, .., n-1, n-1, .., 0, 0, 1, ..), so the load is continuous
/// into the trace's first step and keeps the opening's bursts, which steady load would not (a
/// planner that saw no burst in its last minutes sets its route for none).
fn mirrored(back: usize, steps: usize) -> usize {
    let p = back % (2 * steps);
    if p < steps { p } else { 2 * steps - 1 - p }
}

/// Replay `trace` with `strategy`. The cluster starts warm: the strategy's first decision for the
/// opening's mean rate is running, then [`PRE_ROLL_S`] of the opening, mirrored back in time, are
/// replayed (neither billed nor counted) so that the strategy's own state is warm too.
pub fn replay(
    trace: &Trace,
    spec: &SimSpec,
    market: &SpotMarket,
    strategy: &mut dyn Strategy,
    seed: u64,
    progress: Option<&ProgressBar>,
) -> StrategyResult {
    let dt = trace.step_s;
    let mut cluster = Cluster::new(spec, market, strategy.reserved_commitment(), seed);
    let mut history: Vec<(f64, f64)> = Vec::with_capacity(2 * HISTORY_LEN);
    let mut recorder = Recorder::new(trace.len());
    if !trace.is_empty() {
        let (steps, arrivals, mean_input, mean_output) = opening(trace);
        let back = (PRE_ROLL_S / dt).ceil() as usize;
        let t0 = -(back as f64) * dt;
        history.push((t0, arrivals / dt));
        let first = Observation {
            now: t0,
            step_s: dt,
            rps: arrivals / dt,
            mean_input,
            mean_output,
            desired: PerClass::default(),
            ready: PerClass::default(),
            interrupted: PerClass::default(),
            utilization: 0.0,
            latency_s: f64::INFINITY,
            running: 0.0,
            waiting: 0.0,
            external_weight: 0,
            providers: &[],
            history: &history,
            spend_usd: 0.0,
        };
        let d = strategy.decide(&first);
        cluster.set_targets(d.replicas, d.external_weight);
        cluster.set_provider_weights(&d.providers);
        cluster.warm_start(t0);
        for k in (1..=back).rev() {
            let i = mirrored(k, steps);
            let (a, mi, mo) = (trace.arrivals[i], trace.mean_input[i], trace.mean_output[i]);
            tick(&mut cluster, strategy, &mut history, -(k as f64) * dt, dt, a, mi, mo);
        }
        cluster.bill = Bill::default();
        cluster.totals = Default::default();
        cluster.provider_totals = Cluster::no_provider_totals(spec);
    }
    for i in 0..trace.len() {
        let t = i as f64 * dt;
        let (out, ready_now) = tick(
            &mut cluster,
            strategy,
            &mut history,
            t,
            dt,
            trace.arrivals[i],
            trace.mean_input[i],
            trace.mean_output[i],
        );
        let capacity = ready_now.map(|r| r as f64 * out.replica_rps);
        recorder.push(t, trace.rps(i), capacity, out.arrivals, out.external, out.within, cluster.bill.total());
        if let Some(p) = progress
            && i % 1024 == 0
        {
            p.inc(1024.min(trace.len() - i) as u64);
        }
    }
    let totals = cluster.totals;
    let share = |x: f64| if totals.requests > 0.0 { x / totals.requests } else { 1.0 };
    StrategyResult {
        strategy: strategy.name().to_string(),
        cost_usd: cluster.bill.total(),
        cost_breakdown_usd: cluster.bill,
        slo_attainment: share(totals.within),
        gpu_hours: totals.gpu_s / 3600.0,
        idle_gpu_hours: totals.idle_gpu_s / 3600.0,
        external_share: if totals.requests > 0.0 { totals.external / totals.requests } else { 0.0 },
        providers: cluster.provider_totals.clone(),
        meets_slo_target: false,
        timeline: recorder.finish(cluster.bill.total()),
    }
}

/// One step `[t, t + dt)`: the cluster serves it, then the strategy sees the result and sets the
/// targets for the next. Returns the step's outcome and the replicas that were ready during it.
#[allow(clippy::too_many_arguments)] // one step's load, spelled out: grouping it would only rename it
fn tick(
    cluster: &mut Cluster,
    strategy: &mut dyn Strategy,
    history: &mut Vec<(f64, f64)>,
    t: f64,
    dt: f64,
    arrivals: f64,
    mean_input: f64,
    mean_output: f64,
) -> (StepOutcome, PerClass<u32>) {
    let out = cluster.step(t, dt, arrivals, mean_input, mean_output);
    let ready_now = cluster.ready(t);
    if history.len() >= 2 * HISTORY_LEN {
        history.drain(..HISTORY_LEN);
    }
    let now = t + dt;
    let rps = arrivals / dt;
    history.push((now, rps));
    let obs = Observation {
        now,
        step_s: dt,
        rps,
        mean_input,
        mean_output,
        desired: cluster.desired(),
        ready: cluster.ready(now),
        interrupted: cluster.interrupted(now),
        utilization: out.utilization,
        latency_s: out.latency_s,
        running: out.running,
        waiting: out.waiting,
        external_weight: cluster.external_weight(),
        providers: cluster.last_provider_step(),
        history: &history[history.len().saturating_sub(HISTORY_LEN)..],
        spend_usd: cluster.bill.total(),
    };
    let d = strategy.decide(&obs);
    cluster.set_targets(d.replicas, d.external_weight);
    cluster.set_provider_weights(&d.providers);
    (out, ready_now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::{Hybridscale, TargetTracking};
    use crate::{Scenario, policy};
    use std::path::Path;

    fn latencies(s: &Scenario) -> Vec<f64> {
        s.spec.providers.iter().map(|p| p.latency_s).collect()
    }

    fn steady(rps: f64, steps: usize) -> Trace {
        Trace::flat(rps, steps, 10.0)
    }

    fn scenario() -> Scenario {
        Scenario::parse(Path::new(policy::DEFAULT_POLICY_NAME), policy::DEFAULT_POLICY).unwrap()
    }

    #[test]
    fn a_running_service_is_replayed_warm_and_the_pre_roll_is_not_billed() {
        let s = scenario();
        let trace = steady(10.0, 60);
        let market = SpotMarket::Steady;
        // The planner needs its load to persist before it buys; after the pre-roll it has, so
        // capacity serves the trace's first step and nothing goes external for want of it.
        let mut hs = Hybridscale::new(s.config.clone(), s.prices.clone(), s.spec.reserved_commitment(), latencies(&s));
        let r = replay(&trace, &s.spec, &market, &mut hs, 1, None);
        let first: f64 = r.timeline.capacity_rps.iter().map(|c| c[0]).sum();
        assert!(first >= 10.0, "ready capacity at the first step: {first} rps");
        assert!(r.slo_attainment > 0.999, "{}", r.slo_attainment);
        // Ten minutes of a fixed fleet: exactly ten minutes of its GPUs are billed.
        let mut tt = TargetTracking::new(&s.spec);
        let r = replay(&trace, &s.spec, &market, &mut tt, 1, None);
        let replicas = r.gpu_hours / (600.0 / 3600.0) / f64::from(s.spec.gpus_per_replica);
        assert!((replicas - replicas.round()).abs() < 1e-9, "{replicas}");
        assert!(
            replicas >= 1.0 && replicas <= f64::from(s.spec.max_replicas),
            "{replicas}: the pre-roll's hour was billed"
        );
        assert_eq!(r.slo_attainment, 1.0);
    }

    /// Load that keeps an on-demand replica at 85% (the default pool without spot: u* 0.70 against the
    /// hosted 70B), so that it pays only once the load has lasted about an hour, is served by replicas,
    /// as the operator, whose planner sees four hours of history, serves it. With the 30 minutes the
    /// replay handed the planner before, no window of its forecast reached back that far and 47% of
    /// the load stayed on the external API for the whole trace.
    #[test]
    fn the_planner_sees_the_history_the_operator_hands_it() {
        let text = policy::DEFAULT_POLICY.replacen(
            "      maxReplicas: 6\n      nodeProvisionSeconds: 240\n    onDemand:",
            "      maxReplicas: 0\n      nodeProvisionSeconds: 240\n    onDemand:",
            1,
        );
        assert_ne!(text, policy::DEFAULT_POLICY, "the spot class was not found");
        let s = Scenario::parse(Path::new("no-spot"), &text).unwrap();
        // One reserved replica serves 5.76 rps of the 1k/200 mix; 10.7 rps leaves 85% of one for on-demand.
        let trace = steady(10.7, 3 * 360);
        let mut hs = Hybridscale::new(s.config.clone(), s.prices.clone(), s.spec.reserved_commitment(), latencies(&s));
        let r = replay(&trace, &s.spec, &SpotMarket::Steady, &mut hs, 1, None);
        assert!(r.cost_breakdown_usd.on_demand > 0.0, "no on-demand replica was bought: {:?}", r.cost_breakdown_usd);
        // Replicas from the first step: a pre-roll shorter than the history leaves the first hour
        // external (15% with an hour's pre-roll).
        assert!(r.external_share < 0.05, "external share {}", r.external_share);
        assert!(r.slo_attainment > 0.999, "{}", r.slo_attainment);
    }

    #[test]
    fn the_opening_is_the_request_weighted_mean_of_the_first_ten_minutes() {
        let mut t = steady(1.0, 120);
        t.arrivals[0] = 110.0;
        t.mean_input[0] = 3000.0;
        let (steps, arrivals, input, output) = opening(&t);
        assert_eq!(steps, 60);
        assert_eq!((1..8).map(|k| mirrored(k, 3)).collect::<Vec<_>>(), [1, 2, 2, 1, 0, 0, 1]);
        assert!((arrivals - (110.0 + 59.0 * 10.0) / 60.0).abs() < 1e-9);
        assert!((input - (110.0 * 3000.0 + 590.0 * 1000.0) / 700.0).abs() < 1e-9);
        assert_eq!(output, 200.0);
    }
}
