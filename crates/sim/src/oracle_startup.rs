//! A whole-replica bound that also pays for start-ups: the tightest of the oracle's bounds on traffic
//! that comes and goes.
//!
//! The other two bounds (`oracle.rs`, `oracle_integer.rs`) treat every step on its own, so a replica
//! serves a ten-second burst for ten seconds' bill. In the model no replica does: a spot or on-demand
//! replica is billed from the moment it is asked for, and is ready only after its node and the model
//! have started (`model.rs`). So every rise in the number of ready paid replicas costs at least
//! `σ = min over paid classes of (node provisioning + start-up) · price per second`, on top of what the
//! ready replicas cost while they serve. A schedule may keep a replica running through a lull instead;
//! that is what the dynamic programme below weighs, over the number of ready paid replicas `p`:
//!
//! `V_t(p) = g_t(p) + min_q (V_{t−1}(q) + σ·(p − q)⁺)`
//!
//! with `g_t(p)` the cheapest cost of step `t` with the reservation and `p` paid replicas ready (their
//! cheapest spot/on-demand mix under the step's spot limit and the class and pool maxima, without the
//! spot-fraction cap, see `oracle.rs`; the rest external within its rate limit).
//!
//! **Why it is a lower bound.** Take any strategy holding `k` reserved replicas and let `p_t` be its
//! ready paid replicas in step `t`. Its bill in step `t` is at least `g_t(p_t)` (relaxing, as the other
//! bounds do, the latency tail, interruptions, maxShare and per-class minimums, and letting the reserved
//! replicas be ready all the time: they are paid for whatever they do). Every rise of `p` is a replica
//! that became ready, and it was billed for at least its class's delay before that, outside any step's
//! `g`: at least `σ` each. So its cost is at least that of its own path through the programme, which is
//! at least the programme's optimum. The only exception is the first delay of the replay: a replica
//! asked for during the warm-up may have been billed partly before the counted window, so rises within
//! the first `max delay` seconds are free.
//!
//! **Dropped requests.** The SLO allows a share of requests to miss. Dropping couples the steps, so
//! it is priced instead (Lagrangian relaxation): with a price `λ ≥ 0` per dropped request, the
//! programme's optimum less `λ` times the allowance is a lower bound for every `λ` (a strategy at or
//! above the target drops no more than the allowance). The bound is the best `λ` found by a golden-
//! section search (the dual function is concave in `λ`, so unimodal in `log λ`); any `λ` tried gives a
//! valid bound, so an inexact search only makes it looser.

use super::oracle_integer::Pricing;
use super::spec::SimSpec;
use super::trace::Trace;
use hybridscale_api::inference_pool::CapacityClassName as Class;
use hybridscale_core::status::PerClass;

/// The bound and the path that attains it at the best price of a drop.
pub(crate) struct StartupBound {
    /// Lower bound on the variable cost (everything but the reservation's bill), USD.
    pub cost: f64,
    /// The optimal path's bill at the best `λ`: spot, on-demand, external, start-ups (USD).
    pub split: [f64; 4],
    /// Its ready replicas per step: reserved used, spot, on-demand.
    pub replicas: Vec<PerClass<u32>>,
    /// Its requests sent external per step.
    pub external: Vec<f64>,
    /// Its variable cost per step (start-ups in the step they become ready), USD.
    pub step_cost: Vec<f64>,
    /// The drops the bound allows for: the SLO's allowance, or the forced drops where they exceed it.
    pub allowance: f64,
}

/// One step's data for the programme.
struct Step {
    arrivals: f64,
    /// Requests one replica serves in the step.
    per: f64,
    /// Requests the API may take in the step (0 when it cannot meet the SLO).
    ext_cap: f64,
    /// USD per external request.
    ext_price: f64,
    /// Cheapest (spot, on-demand) mix and its price for `p` paid replicas, `None` if infeasible.
    mixes: Vec<Option<(u32, u32, f64)>>,
    /// USD of one spot and one on-demand replica for the step.
    spot_price: f64,
    od_price: f64,
    /// Whether a rise into this step pays its start-up.
    charged: bool,
    /// Requests no configuration can serve in the step.
    forced: f64,
}

/// What step `s` costs with `n` ready replicas (`p` of them paid) at drop price `lambda`:
/// (cost, requests external, requests dropped).
fn step_cost(s: &Step, n: u32, mix_price: f64, lambda: f64) -> (f64, f64, f64) {
    let rest = (s.arrivals - n as f64 * s.per).max(0.0);
    let ext = rest.min(s.ext_cap);
    let forced = rest - ext;
    if s.ext_price <= lambda {
        (mix_price + ext * s.ext_price + forced * lambda, ext, forced)
    } else {
        (mix_price + (ext + forced) * lambda, 0.0, ext + forced)
    }
}

/// Steps of the trace for `r` reserved replicas.
fn steps(trace: &Trace, spec: &SimSpec, spot: &[u32], r: u32) -> (Vec<Step>, u32) {
    let dt = trace.step_s;
    let mut pricing = Pricing::new(spec, dt, r);
    let paid_max = pricing.m - r;
    let free_s = [Class::Spot, Class::OnDemand]
        .iter()
        .filter_map(|&c| spec.class(c).filter(|k| k.max > 0).map(|k| k.node_provision_s + spec.startup_s))
        .fold(0.0f64, f64::max);
    let ext_ok = spec.external_meets_slo();
    let steps = (0..trace.len())
        .map(|i| {
            pricing.s_max = spot.get(i).copied().unwrap_or(0);
            let mixes: Vec<Option<(u32, u32, f64)>> = (0..=paid_max)
                .map(|p| {
                    pricing.mix_uncapped(r + p).map(|(s, o)| (s, o, s as f64 * pricing.p_s + o as f64 * pricing.p_o))
                })
                .collect();
            let (ext_cap, ext_price) = if ext_ok {
                let cap = spec.external.as_ref().and_then(|e| e.max_rps).map_or(f64::INFINITY, |x| x * dt);
                (cap, spec.external_usd_per_request(trace.mean_input[i], trace.mean_output[i]))
            } else {
                (0.0, f64::INFINITY)
            };
            let per = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]) * dt;
            let most = mixes.iter().rposition(Option::is_some).unwrap_or(0) as u32 + r;
            let forced = (trace.arrivals[i] - f64::from(most) * per - ext_cap).max(0.0);
            Step {
                arrivals: trace.arrivals[i],
                per,
                ext_cap,
                ext_price,
                mixes,
                spot_price: pricing.p_s,
                od_price: pricing.p_o,
                charged: i as f64 * dt >= free_s,
                forced,
            }
        })
        .collect();
    (steps, paid_max)
}

/// Cheapest price of one start-up (the class delay times its price, over the paid classes the pool
/// has) and that class; `None` without paid classes.
pub(crate) fn start_price(spec: &SimSpec) -> Option<(f64, Class)> {
    [Class::Spot, Class::OnDemand]
        .into_iter()
        .filter_map(|c| {
            spec.class(c)
                .filter(|k| k.max > 0)
                .map(|k| ((k.node_provision_s + spec.startup_s) * spec.replica_usd_per_s(c), c))
        })
        .min_by(|x, y| x.0.total_cmp(&y.0))
}

/// The programme's optimum at drop price `lambda` and the state it ends in; with `path`, the best
/// predecessor of every step and state.
fn solve(
    steps: &[Step],
    r: u32,
    paid_max: u32,
    sigma: f64,
    lambda: f64,
    mut path: Option<&mut Vec<u8>>,
) -> (f64, usize) {
    let states = paid_max as usize + 1;
    let mut v = vec![f64::INFINITY; states];
    let mut next = vec![f64::INFINITY; states];
    let mut suffix = vec![(f64::INFINITY, 0usize); states + 1];
    for (t, s) in steps.iter().enumerate() {
        let charge = if s.charged { sigma } else { 0.0 };
        // Best predecessor for each p: the cheapest q ≥ p (falling is free), or q < p plus σ per rise.
        for q in (0..states).rev() {
            suffix[q] = if v[q] <= suffix[q + 1].0 { (v[q], q) } else { suffix[q + 1] };
        }
        let mut rise = (f64::INFINITY, 0usize); // min over q < p of V(q) − σ·q
        for p in 0..states {
            let (from, arg) = if t == 0 {
                (0.0, p)
            } else {
                let up = rise.0 + charge * p as f64;
                if up < suffix[p].0 { (up, rise.1) } else { suffix[p] }
            };
            next[p] = match s.mixes[p] {
                Some((_, _, price)) if from.is_finite() => from + step_cost(s, r + p as u32, price, lambda).0,
                _ => f64::INFINITY,
            };
            if let Some(path) = path.as_deref_mut() {
                path[t * states + p] = arg as u8;
            }
            let lifted = v[p] - charge * p as f64;
            if lifted < rise.0 {
                rise = (lifted, p);
            }
        }
        std::mem::swap(&mut v, &mut next);
    }
    v.iter().enumerate().fold((f64::INFINITY, 0), |best, (p, &x)| if x < best.0 { (x, p) } else { best })
}

/// The bound for `r` reserved replicas (the reservation's own bill not included) on strategies that
/// serve at least `attainment` of the requests in time, or `None` when the pool has more paid states
/// than the path can record (over 254 replicas), or the trace is empty.
pub(crate) fn startup_bound(
    trace: &Trace,
    spec: &SimSpec,
    spot: &[u32],
    r: u32,
    attainment: f64,
) -> Option<StartupBound> {
    let (steps, paid_max) = steps(trace, spec, spot, r);
    if steps.is_empty() || paid_max >= u8::MAX as u32 {
        return None;
    }
    let sigma = start_price(spec).map_or(0.0, |(price, _)| price);
    let total: f64 = steps.iter().map(|s| s.arrivals).sum();
    // Requests no configuration can serve count against the allowance; where they exceed it (no
    // strategy reaches the target), the bound is for strategies that drop no more than them.
    let forced: f64 = steps.iter().map(|s| s.forced).sum();
    let allowance = ((1.0 - attainment).max(0.0) * total).max(forced);
    let dual = |lambda: f64| solve(&steps, r, paid_max, sigma, lambda, None).0 - lambda * allowance;
    // Golden-section search for the best drop price over 1e-9..1e4 USD per request, in log scale.
    let (mut lo, mut hi) = (-9.0f64, 4.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fa, mut fb) = (dual(10f64.powf(a)), dual(10f64.powf(b)));
    for _ in 0..SEARCH_STEPS {
        if fa < fb {
            lo = a;
            (a, fa) = (b, fb);
            b = lo + g * (hi - lo);
            fb = dual(10f64.powf(b));
        } else {
            hi = b;
            (b, fb) = (a, fa);
            a = hi - g * (hi - lo);
            fa = dual(10f64.powf(a));
        }
    }
    let lambda = 10f64.powf(if fa >= fb { a } else { b });
    // The path at that price, for the report.
    let states = paid_max as usize + 1;
    let mut arg = vec![0u8; steps.len() * states];
    let (best, mut p) = solve(&steps, r, paid_max, sigma, lambda, Some(&mut arg));
    let mut replicas = vec![PerClass::<u32>::default(); steps.len()];
    let mut external = vec![0.0; steps.len()];
    let mut step_cost_v = vec![0.0; steps.len()];
    let mut split = [0.0f64; 4];
    for t in (0..steps.len()).rev() {
        let s = &steps[t];
        let (spot, od, _) = s.mixes[p].unwrap_or((0, 0, 0.0));
        let (_, ext, drop) = step_cost(s, r + p as u32, 0.0, lambda);
        let used_reserved = ((s.arrivals - ext - drop) / s.per.max(1e-12)).ceil().max(0.0) as u32;
        replicas[t] = PerClass { reserved: used_reserved.min(r), spot, on_demand: od };
        external[t] = ext;
        let costs = [f64::from(spot) * s.spot_price, f64::from(od) * s.od_price, ext * s.ext_price];
        let prev = arg[t * states + p] as usize;
        let start = if t > 0 && prev < p && s.charged { sigma * (p - prev) as f64 } else { 0.0 };
        for (total, c) in split.iter_mut().zip(costs.iter().chain([start].iter())) {
            *total += c;
        }
        step_cost_v[t] = costs.iter().sum::<f64>() + start;
        p = prev;
    }
    Some(StartupBound {
        cost: (best - lambda * allowance).max(0.0),
        split,
        replicas,
        external,
        step_cost: step_cost_v,
        allowance,
    })
}

/// Golden-section steps of the search for the drop price: the interval shrinks by 0.618 per step,
/// from 13 decades to under a millionth of one.
const SEARCH_STEPS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    /// The default policy without an external API, so that every request needs a replica.
    fn spec() -> SimSpec {
        let mut s = crate::spec::default_spec();
        s.external = None;
        s
    }

    /// An hour of 10 s steps, idle but for one-replica bursts of six steps starting at `starts`.
    fn bursts(s: &SimSpec, starts: &[usize]) -> Trace {
        let mut t = Trace::flat(0.0, 360, 10.0);
        let per = s.replica_saturation_rps(t.mean_input[0], t.mean_output[0]) * 10.0;
        for &b in starts {
            for a in &mut t.arrivals[b..b + 6] {
                *a = 0.9 * per;
            }
        }
        t
    }

    fn spot_everywhere(s: &SimSpec, t: &Trace) -> Vec<u32> {
        vec![s.class(Class::Spot).map_or(0, |c| c.max); t.len()]
    }

    #[test]
    fn a_burst_pays_its_start_up_or_the_lull_before_it() {
        let s = spec();
        // Bursts at 1,200 s, 2,400 s and 3,300 s. A replica may rise for free until 480 s (the longest
        // delay, see the next tests) and be kept: 720 s to the first burst, dearer than a start-up.
        let t = bursts(&s, &[120, 240, 330]);
        let p_s = s.replica_usd_per_s(Class::Spot);
        let sigma = start_price(&s).unwrap().0;
        assert!((sigma - 480.0 * p_s).abs() < 1e-12, "spot's 480 s delay is the cheapest start-up");
        // Each burst runs one spot replica for 60 s and pays a start-up: the lulls before them (720 s,
        // 1,140 s, 840 s) would cost more.
        let expected = 3.0 * 60.0 * p_s + 3.0 * sigma;
        let b = startup_bound(&t, &s, &spot_everywhere(&s, &t), 0, s.target_attainment).unwrap();
        assert!(b.cost <= expected + 1e-9, "{} > {expected}", b.cost);
        assert!(b.cost >= 0.99 * expected, "{} < {expected}", b.cost);
        assert!((b.split[3] - 3.0 * sigma).abs() < 1e-9, "three start-ups: {:?}", b.split);
        // The per-step bound pays only the 18 steps of the bursts.
        let per_step = crate::oracle::integer_with(&t, &s, &spot_everywhere(&s, &t), 0);
        assert!(per_step.cost_usd < 0.5 * b.cost, "{} vs {}", per_step.cost_usd, b.cost);
    }

    #[test]
    fn a_lull_shorter_than_a_start_up_is_bridged() {
        let s = spec();
        // Bursts 120 s apart (60 s lull): keeping the replica through the lull is cheaper than a
        // second start-up (480 s of billing).
        let t = bursts(&s, &[120, 132]);
        let p_s = s.replica_usd_per_s(Class::Spot);
        let expected = start_price(&s).unwrap().0 + (60.0 + 60.0 + 60.0) * p_s;
        let b = startup_bound(&t, &s, &spot_everywhere(&s, &t), 0, s.target_attainment).unwrap();
        assert!(b.cost <= expected + 1e-9 && b.cost >= 0.99 * expected, "{} vs {expected}", b.cost);
    }

    #[test]
    fn start_ups_before_the_first_delay_are_free() {
        // A replica ready in the first 480 s may have been asked for during the warm-up, whose bill
        // is not counted: only its 60 s of serving count. One ready at 600 s was billed from 120 s at
        // the latest, so a burst there pays the cheaper of a start-up and being kept from 470 s.
        let s = spec();
        let p_s = s.replica_usd_per_s(Class::Spot);
        let t = bursts(&s, &[0]);
        let b = startup_bound(&t, &s, &spot_everywhere(&s, &t), 0, s.target_attainment).unwrap();
        let expected = 60.0 * p_s;
        assert!(b.cost <= expected + 1e-9 && b.cost >= 0.99 * expected, "{} vs {expected}", b.cost);
        let t = bursts(&s, &[60]);
        let b = startup_bound(&t, &s, &spot_everywhere(&s, &t), 0, s.target_attainment).unwrap();
        let expected = 60.0 * p_s + (130.0 * p_s).min(start_price(&s).unwrap().0);
        assert!(b.cost <= expected + 1e-9 && b.cost >= 0.99 * expected, "{} vs {expected}", b.cost);
    }

    #[test]
    fn requests_nothing_can_serve_bound_the_strategies_that_drop_only_them() {
        // Twice what the pool's 12 replicas serve, all the time, and no API: half the requests are lost
        // by every strategy. The bound is then for strategies that lose only those, and it is the
        // full pool for the hour, not the price of a drop times the missing allowance.
        let s = spec();
        let mut t = Trace::flat(0.0, 360, 10.0);
        let per = s.replica_saturation_rps(t.mean_input[0], t.mean_output[0]) * 10.0;
        t.arrivals.iter_mut().for_each(|a| *a = 24.0 * per);
        let spot = spot_everywhere(&s, &t);
        let b = startup_bound(&t, &s, &spot, 0, s.target_attainment).unwrap();
        let pricing = Pricing::new(&s, 10.0, 0);
        let (spot_n, od_n) = pricing.mix_uncapped(s.max_replicas).unwrap();
        let full_pool = (f64::from(spot_n) * pricing.p_s + f64::from(od_n) * pricing.p_o) * 360.0;
        assert!((b.cost / full_pool - 1.0).abs() < 1e-6, "{} vs {full_pool}", b.cost);
        let total: f64 = t.arrivals.iter().sum();
        assert!((b.allowance / total - 0.5).abs() < 1e-9, "{}", b.allowance / total);
    }
}
