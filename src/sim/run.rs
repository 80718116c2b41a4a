//! The replay loop: one strategy against the cluster model over a whole trace, and the figures
//! reported for it.

use indicatif::ProgressBar;
use serde::Serialize;

use super::model::{Bill, Cluster};
use super::spec::SimSpec;
use super::spot::SpotMarket;
use super::strategies::{Observation, Strategy};
use super::trace::Trace;

/// Points kept per time series for plots.
const TIMELINE_POINTS: usize = 1000;

/// Most (time, rps) pairs of history kept for strategies.
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
    pub capacity_rps: [Vec<f64>; 3],
    /// Share of requests sent to the external API.
    pub external_share: Vec<f64>,
    /// Cost so far at the end of the point, USD.
    pub cumulative_usd: Vec<f64>,
}

/// Averages per-step values into at most [`TIMELINE_POINTS`] points.
pub(crate) struct Recorder {
    stride: usize,
    n: usize,
    start: f64,
    demand: f64,
    capacity: [f64; 3],
    arrivals: f64,
    external: f64,
    pub(crate) timeline: Timeline,
}

impl Recorder {
    pub(crate) fn new(steps: usize) -> Self {
        Recorder {
            stride: steps.div_ceil(TIMELINE_POINTS).max(1),
            n: 0,
            start: 0.0,
            demand: 0.0,
            capacity: [0.0; 3],
            arrivals: 0.0,
            external: 0.0,
            timeline: Timeline::default(),
        }
    }

    /// Add one step: time, demand (rps), capacity per class (rps), arrivals and external requests,
    /// and the cost so far.
    pub(crate) fn push(&mut self, t: f64, demand: f64, capacity: [f64; 3], arrivals: f64, external: f64, cost: f64) {
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
        self.n = 0;
        self.demand = 0.0;
        self.capacity = [0.0; 3];
        self.arrivals = 0.0;
        self.external = 0.0;
    }
}

/// Replay `trace` with `strategy`. The cluster starts warm with the strategy's first decision for
/// the first step's load already running.
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
        history.push((0.0, trace.rps(0)));
        let first = Observation {
            now: 0.0,
            step_s: dt,
            rps: trace.rps(0),
            mean_input: trace.mean_input[0],
            mean_output: trace.mean_output[0],
            desired: [0; 3],
            ready: [0; 3],
            interrupted: [0; 3],
            utilization: 0.0,
            latency_s: f64::INFINITY,
            running: 0.0,
            waiting: 0.0,
            external_weight: 0,
            history: &history,
            spend_usd: 0.0,
        };
        let d = strategy.decide(&first);
        cluster.set_targets(d.replicas, d.external_weight);
        cluster.warm_start();
    }
    for i in 0..trace.len() {
        let t = i as f64 * dt;
        let out = cluster.step(t, dt, trace.arrivals[i], trace.mean_input[i], trace.mean_output[i]);
        let ready_now = cluster.ready(t);
        let capacity = ready_now.map(|r| r as f64 * out.replica_rps);
        recorder.push(t, trace.rps(i), capacity, out.arrivals, out.external, cluster.bill.total());
        if history.len() >= 2 * HISTORY_LEN {
            history.drain(..HISTORY_LEN);
        }
        let now = t + dt;
        history.push((now, trace.rps(i)));
        let obs = Observation {
            now,
            step_s: dt,
            rps: trace.rps(i),
            mean_input: trace.mean_input[i],
            mean_output: trace.mean_output[i],
            desired: cluster.desired(),
            ready: cluster.ready(now),
            interrupted: cluster.interrupted(now),
            utilization: out.utilization,
            latency_s: out.latency_s,
            running: out.running,
            waiting: out.waiting,
            external_weight: cluster.external_weight(),
            history: &history[history.len().saturating_sub(HISTORY_LEN)..],
            spend_usd: cluster.bill.total(),
        };
        let d = strategy.decide(&obs);
        cluster.set_targets(d.replicas, d.external_weight);
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
        timeline: recorder.finish(cluster.bill.total()),
    }
}
