//! A tighter lower bound than the fractional one in `oracle.rs`: replicas are whole in every step.
//!
//! Any strategy runs a whole number of ready replicas in each step, so the cheapest way to serve
//! `x` requests in step `t` with whole replicas, `C_t(x) = min_n P(n) + c_ext·(x − n·cap)⁺` (with the
//! external part within its rate limit, `P(n)` the cheapest spot/on-demand mix of `n` replicas over
//! the free reservation under the spot-fraction cap and class limits), is at most what it pays in
//! that step. Lead times, interruptions and the M/M/c tail are relaxed as in `oracle.rs`; spot is
//! limited per step as there (`spot` argument).
//!
//! Dropping requests (up to the SLO allowance) makes the per-step costs non-convex, so instead of
//! solving that knapsack we bound the savings from above: each step's savings curve
//! `S_t(d) = C_t(A_t) − C_t(A_t − d)` is replaced by its concave envelope (computed exactly from its
//! breakpoints), and the allowance goes greedily to the steepest envelope segments. The result is
//! `Σ C_t(A_t) − max savings`, still a lower bound on any strategy at or above the target.

use super::spec::SimSpec;
use super::trace::Trace;
use hybridscale_api::inference_pool::CapacityClassName as Class;
use hybridscale_core::status::PerClass;

/// Per step: cost with every request served, the best split of that cost, and the envelope of
/// savings as (slope, length) segments, steepest first.
pub(crate) struct StepBound {
    /// Cost of the cheapest whole-replica configuration serving everything servable, USD.
    pub cost: f64,
    /// Its split: (spot, on-demand, external) USD.
    pub split: [f64; 3],
    /// Replicas it runs (reserved counted when used).
    pub replicas: PerClass<f64>,
    /// Requests sent external.
    pub external: f64,
    /// Requests no configuration can serve in time.
    pub forced_drop: f64,
    /// Savings envelope segments (USD per request dropped, requests), steepest first.
    pub segments: Vec<(f64, f64)>,
}

/// Prices and limits of whole-replica configurations in one step (shared with `oracle_startup.rs`).
pub(crate) struct Pricing {
    pub r: u32,
    f: f64,
    /// Spot replicas obtainable in the step.
    pub s_max: u32,
    o_max: u32,
    /// Pool maximum (at least the reservation).
    pub m: u32,
    /// USD of one spot and one on-demand replica for the step.
    pub p_s: f64,
    pub p_o: f64,
}

impl Pricing {
    pub fn new(spec: &SimSpec, dt: f64, r: u32) -> Self {
        Pricing {
            r,
            f: spec.max_spot_fraction.clamp(0.0, 1.0),
            s_max: spec.class(Class::Spot).map_or(0, |c| c.max),
            o_max: spec.class(Class::OnDemand).map_or(0, |c| c.max),
            m: spec.max_replicas.max(r),
            p_s: spec.replica_usd_per_s(Class::Spot) * dt,
            p_o: spec.replica_usd_per_s(Class::OnDemand) * dt,
        }
    }

    /// Cheapest (spot, on-demand) counts for `n` replicas within the spot-fraction cap, if feasible.
    pub fn mix(&self, n: u32) -> Option<(u32, u32)> {
        self.mix_with(n, (self.f * n as f64 + 1e-9).floor() as u32)
    }

    /// The same without the spot-fraction cap (for `oracle_startup.rs`, see `oracle.rs`).
    pub fn mix_uncapped(&self, n: u32) -> Option<(u32, u32)> {
        self.mix_with(n, u32::MAX)
    }

    fn mix_with(&self, n: u32, spot_cap: u32) -> Option<(u32, u32)> {
        if n > self.m {
            return None;
        }
        let extra = n.saturating_sub(self.r);
        let spot = spot_cap.min(self.s_max).min(extra);
        let od = extra - spot;
        (od <= self.o_max).then_some((spot, od))
    }

    fn max_replicas(&self) -> u32 {
        (0..=self.m).rev().find(|&n| self.mix(n).is_some()).unwrap_or(0)
    }

    fn price(&self, n: u32) -> f64 {
        self.mix(n).map_or(f64::INFINITY, |(s, o)| s as f64 * self.p_s + o as f64 * self.p_o)
    }
}

/// Cheapest cost of serving `x` requests in a step: (cost, replicas n).
fn cost_of(p: &Pricing, x: f64, cap: f64, ext_cap: f64, c_e: f64, n_max: u32) -> (f64, u32) {
    let lo = if ext_cap.is_finite() { ((x - ext_cap) / cap).ceil().max(0.0) as u32 } else { 0 };
    let hi = ((x / cap).ceil() as u32).min(n_max);
    let mut best = (f64::INFINITY, 0);
    for n in lo..=hi {
        let rest = (x - n as f64 * cap).max(0.0);
        let c = p.price(n) + if rest > 0.0 { rest * c_e } else { 0.0 };
        if c < best.0 {
            best = (c, n);
        }
    }
    best
}

/// Bound every step of a trace, `r` reserved replicas being paid for (and free to use) throughout.
pub(crate) fn step_bounds(trace: &Trace, spec: &SimSpec, spot: &[u32], r: u32) -> Vec<StepBound> {
    let dt = trace.step_s;
    let mut p = Pricing::new(spec, dt, r);
    let ext_ok = spec.external_meets_slo();
    let mut out = Vec::with_capacity(trace.len());
    for (i, &spot_i) in spot.iter().enumerate().take(trace.len()) {
        p.s_max = spot_i;
        let n_max = p.max_replicas();
        let a = trace.arrivals[i];
        let cap = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]) * dt;
        let (c_e, ext_cap) = if ext_ok {
            let e = spec.external.as_ref().and_then(|e| e.max_rps).map_or(f64::INFINITY, |r| r * dt);
            (spec.external_usd_per_request(trace.mean_input[i], trace.mean_output[i]), e)
        } else {
            (f64::INFINITY, 0.0)
        };
        let servable = (n_max as f64 * cap + ext_cap).min(a);
        let forced_drop = a - servable;
        let (cost, n) = cost_of(&p, servable, cap, ext_cap, c_e, n_max);
        let external = (servable - n as f64 * cap).max(0.0);
        let (s, o) = p.mix(n).unwrap_or((0, 0));
        let split = [s as f64 * p.p_s, o as f64 * p.p_o, if external > 0.0 { external * c_e } else { 0.0 }];
        // Savings at the curve's breakpoints: whole replicas and whole replicas plus the rate limit.
        let mut points: Vec<f64> = vec![0.0, servable];
        let top = (servable / cap).ceil() as u32;
        for k in 0..=top {
            let x = k as f64 * cap;
            for y in [x, x + ext_cap] {
                if y.is_finite() && y > 0.0 && y < servable {
                    points.push(servable - y);
                }
            }
        }
        points.sort_by(f64::total_cmp);
        points.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let curve: Vec<(f64, f64)> = points
            .iter()
            .map(|&d| (d, (cost - cost_of(&p, servable - d, cap, ext_cap, c_e, n_max).0).max(0.0)))
            .collect();
        out.push(StepBound {
            cost,
            split,
            replicas: PerClass { reserved: n.min(p.r) as f64, spot: s as f64, on_demand: o as f64 },
            external,
            forced_drop,
            segments: upper_hull_segments(&curve),
        });
    }
    out
}

/// Segments (slope, length) of the concave envelope of points sorted by x, starting at the first.
fn upper_hull_segments(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for &pt in points {
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b when it lies on or below the chord a–pt.
            if (b.1 - a.1) * (pt.0 - a.0) <= (pt.1 - a.1) * (b.0 - a.0) {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(pt);
    }
    hull.windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| ((w[1].1 - w[0].1) / (w[1].0 - w[0].0), w[1].0 - w[0].0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_is_concave_and_covers_the_points() {
        // A step function: dropping 1 request saves nothing, dropping 10 saves 10.
        let segs = upper_hull_segments(&[(0.0, 0.0), (1.0, 0.0), (10.0, 10.0)]);
        assert_eq!(segs, vec![(1.0, 10.0)]);
        let segs = upper_hull_segments(&[(0.0, 0.0), (1.0, 5.0), (2.0, 6.0), (4.0, 7.0)]);
        assert_eq!(segs.len(), 3);
        assert!(segs.windows(2).all(|w| w[0].0 >= w[1].0));
    }
}
