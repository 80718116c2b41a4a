//! The oracle: a lower bound on the cost of any strategy that reaches the policy's SLO target on a
//! trace, computed with perfect foresight.
//!
//! The exact offline optimum under the model's delays is an integer program over weeks of steps;
//! instead we solve three **relaxations** of it, each provably no more expensive, and report the
//! highest: this fractional one, a whole-replica one (`oracle_integer.rs`, tighter at low load,
//! where a fraction of a replica is far cheaper than any real configuration), and a whole-replica
//! one that pays every start-up (`oracle_startup.rs`, tighter on traffic that comes and goes, where
//! the other two serve a ten-second burst for ten seconds' bill). The fractional one:
//!
//! 1. Lead times and start-up billing are dropped: capacity is there exactly when needed and is
//!    billed only while it serves (any real schedule pays at least that).
//! 2. Replicas are fractional and run at their saturation throughput `h·μ`; the M/M/c tail is
//!    ignored (in the model no strategy serves more than `h·μ` per ready replica within a step).
//! 3. Spot is never interrupted; it is obtainable up to the most the spot market could have let
//!    any strategy hold ready in that step (`spot_limits`).
//! 4. The policy's external `maxShare` is relaxed (the all-external baseline ignores it too); the
//!    physical limits stay: the external rate limit and latency, class maxima, the pool maximum and
//!    the spot-fraction cap (every strategy but all-external honours those; all-external uses no
//!    replicas so they cannot bind it). Per-class minimums are dropped. The cap binds the replicas a
//!    strategy asks for, not the ready ones (spot can be ready before the on-demand replicas asked
//!    for beside it); but every replica asked for is billed, ready or not, so a step's bill still
//!    covers a mix within the cap whose on-demand part may not be serving yet, and the cheapest such
//!    mix is the one the bounds price. (This assumes, as every strategy here does, that a spot replica
//!    under an interruption notice is replaced by one asked for.) The start-up bound
//!    (`oracle_startup.rs`) drops the cap instead: it charges the not-yet-ready replicas' bill as
//!    start-ups, and counting it twice would not be a bound.
//! 5. Requests may be dropped up to the SLO target's allowance (`1 − targetAttainment` of all
//!    requests), choosing globally, with hindsight, the most expensive ones to drop.
//!
//! Why it is a lower bound, for a strategy holding `k` reserved replicas (paid for the whole
//! trace at the reserved price, like the pool's own commitment): in the model a request counts
//! within the SLO only if its own step serves it, so in every step a strategy's on-time requests are
//! bounded by its ready replicas' saturation throughput plus the external rate limit, and it pays
//! at least the ready replicas' price for that step. That (fractional) configuration, with `k`
//! replicas free, is feasible for the per-step linear program below, whose optimum is therefore
//! no higher. Summing over steps and adding the reservation's bill `k·p_r·T`, and since a strategy
//! with attainment ≥ the target drops at most the allowance, its cost is ≥ the bound for `k`.
//!
//! **Buying a reservation.** Strategies may hold different reservations: most hold the pool's
//! commitment `r`, static-peak buys a fleet sized for the peak (often above the pool's maximum),
//! which can be cheaper than on-demand or the API. So the oracle reports the minimum over every
//! `k ≥ r` of the higher of the two bounds for `k` (the pool maximum is lifted to `k` when `k`
//! exceeds it; no `k < r` is needed, as the model bills every strategy at least the commitment). The
//! minimum over all `k` bounds every strategy whatever it reserves. Only `k` up to
//! `max_t ⌈A_t / (h·μ_t)⌉` need be tried: there every step is served by the reservation alone, so a
//! larger one only adds to the bill; and once `k·p_r·T` alone reaches the best bound found no larger
//! `k` can do better, which keeps it to a few evaluations on the benchmark traces.
//!
//! Per step the LP is: serve `A` requests from reserved (free, up to the commitment), spot unlocked
//! by the reserved replicas under the spot-fraction cap, bundles of one on-demand replica with the
//! `f/(1−f)` spot replicas it unlocks, on-demand alone, and the external API. These bundles have
//! independent capacities and fixed per-request prices, so filling them cheapest first is optimal.

use super::model::Bill;
use super::oracle_integer::step_bounds;
use super::oracle_startup::{start_price, startup_bound};
use super::run::{Recorder, StrategyResult};
use super::spec::SimSpec;
use super::spot::{NOTICE_S, SpotMarket};
use super::trace::Trace;
use hybridscale_api::inference_pool::CapacityClassName as Class;
use hybridscale_core::status::PerClass;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Reserved,
    Spot,
    Bundle,
    OnDemand,
    External,
}

/// One filled slice of a step: what served `amount` requests at `price` per request.
#[derive(Clone, Copy, Debug)]
struct Slice {
    step: usize,
    kind: Kind,
    price: f64,
    amount: f64,
    /// Requests per replica-second for this step's mix.
    mu: f64,
}

/// Most spot replicas any strategy can have ready in each step.
///
/// With an availability trace, healthy spot replicas never exceed the available count at the last
/// reconcile, and a replica under notice serves at most `NOTICE_S` more; when a new spot replica
/// takes longer than that to become ready, everything ready at `t` was healthy at some reconcile
/// in `[t − NOTICE_S − dt, t]`, so the largest available count over that window bounds it. (The
/// first window of the replay is unbounded: the warm start may begin above the available count.)
pub(crate) fn spot_limits(trace: &Trace, spec: &SimSpec, market: &SpotMarket) -> Vec<u32> {
    let dt = trace.step_s;
    let class = spec.class(Class::Spot);
    let s_max = class.map_or(0, |c| c.max);
    let lead = class.map_or(0.0, |c| c.node_provision_s) + spec.startup_s;
    let caps: Vec<u32> = (0..trace.len()).map(|i| market.cap(i as f64 * dt, s_max)).collect();
    let window = ((NOTICE_S + dt) / dt).ceil() as usize;
    (0..trace.len())
        .map(|i| {
            if lead <= NOTICE_S + dt || i < window {
                s_max
            } else {
                caps[i - window..=i].iter().copied().max().unwrap_or(s_max)
            }
        })
        .collect()
}

/// The oracle's result on a trace: `min over k of max(fractional(k), integer(k))`, `k` being the
/// reservation bought (see the module doc). For each `k` both are lower bounds on any strategy
/// holding `k` reserved replicas, so the higher one is too, and the minimum over every `k` a
/// strategy could hold bounds them all.
pub fn oracle(trace: &Trace, spec: &SimSpec, market: &SpotMarket) -> StrategyResult {
    let spot = spot_limits(trace, spec, market);
    let r = spec.reserved_commitment();
    let k_hi = reservation_ceiling(trace, spec);
    let horizon_s = trace.step_s * trace.len() as f64;
    let p_r = spec.replica_usd_per_s(Class::Reserved) * horizon_s;
    // The fractional bound is cheap; the whole-replica one (the costly part) is computed only when
    // the fractional one is below the best found so far (max(frac, int) ≥ frac, so it cannot win
    // otherwise). Every bound for `k` includes the reservation's bill `k·p_r`, so once that alone
    // reaches the best no larger `k` can win.
    let mut best: Option<StrategyResult> = None;
    for k in r..=k_hi {
        let best_cost = best.as_ref().map_or(f64::INFINITY, |b| b.cost_usd);
        if k > r && k as f64 * p_r >= best_cost {
            break;
        }
        let frac = fractional_with(trace, spec, &spot, k);
        if frac.cost_usd >= best_cost {
            continue;
        }
        let bound = highest(trace, spec, &spot, k, frac, best_cost);
        if bound.cost_usd < best_cost {
            best = Some(bound);
        }
    }
    best.unwrap_or_else(|| fractional_with(trace, spec, &spot, r))
}

/// The bound for strategies that hold exactly the pool's own reservation (every strategy but
/// static-peak): the higher of the two bounds at that commitment. It is never below [`oracle`],
/// which may also buy a larger reservation; the difference between the two is what a larger
/// commitment would save, a decision the pool's policy makes, not the planner. Reported beside the
/// oracle in the benchmark to separate that gap from the planner's own.
pub fn at_commitment(trace: &Trace, spec: &SimSpec, market: &SpotMarket) -> StrategyResult {
    let spot = spot_limits(trace, spec, market);
    let r = spec.reserved_commitment();
    let frac = fractional_with(trace, spec, &spot, r);
    highest(trace, spec, &spot, r, frac, f64::INFINITY)
}

/// The highest of the three bounds for `k` reserved replicas, given the fractional one. The costlier
/// two are computed only while the bound is below `cap` (above it, it cannot be the minimum).
fn highest(trace: &Trace, spec: &SimSpec, spot: &[u32], k: u32, frac: StrategyResult, cap: f64) -> StrategyResult {
    let mut bound = frac;
    if bound.cost_usd < cap {
        let b = integer_with(trace, spec, spot, k);
        if b.cost_usd > bound.cost_usd {
            bound = b;
        }
    }
    if bound.cost_usd < cap
        && let Some(b) = startup_with(trace, spec, spot, k)
        && b.cost_usd > bound.cost_usd
    {
        bound = b;
    }
    bound
}

/// The whole-replica bound with start-ups (`oracle_startup.rs`) with `r` reserved replicas bought
/// for the whole trace; `None` where it cannot be computed (a pool of over 254 paid replicas).
pub fn startup_with(trace: &Trace, spec: &SimSpec, spot: &[u32], r: u32) -> Option<StrategyResult> {
    let b = startup_bound(trace, spec, spot, r, spec.target_attainment)?;
    let dt = trace.step_s;
    let reserved_per_step = r as f64 * spec.replica_usd_per_s(Class::Reserved) * dt;
    let total: f64 = trace.arrivals.iter().sum();
    let mut bill = Bill { reserved: reserved_per_step * trace.len() as f64, ..Bill::default() };
    let g = spec.gpus_per_replica as f64;
    let mut recorder = Recorder::new(trace.len());
    // The bound is the path's cost plus the priced drops' difference from the allowance; its split is
    // not known, so every variable part is scaled alike (as in `integer_with`). Start-ups are billed to
    // the class whose start-up is the cheapest (the one the bound prices them at).
    let gross: f64 = b.split.iter().sum();
    let scale = if gross > 0.0 { b.cost / gross } else { 0.0 };
    let spot_starts = start_price(spec).is_some_and(|(_, c)| c == Class::Spot);
    bill.spot = (b.split[0] + if spot_starts { b.split[3] } else { 0.0 }) * scale;
    bill.on_demand = (b.split[1] + if spot_starts { 0.0 } else { b.split[3] }) * scale;
    bill.external = b.split[2] * scale;
    let (mut paid_s, mut busy_s, mut cumulative) = (0.0, 0.0, 0.0);
    for i in 0..trace.len() {
        let per = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]) * dt;
        let ready = b.replicas[i].map(f64::from);
        let (s, o) = (ready.spot, ready.on_demand);
        let served_self = (trace.arrivals[i] - b.external[i]).max(0.0).min((r as f64 + s + o) * per);
        paid_s += (r as f64 + s + o) * dt;
        busy_s += if per > 0.0 { served_self / per * dt } else { 0.0 };
        cumulative += reserved_per_step + b.step_cost[i] * scale;
        recorder.push(
            i as f64 * dt,
            trace.rps(i),
            ready.map(|n| n * per / dt),
            trace.arrivals[i],
            b.external[i],
            trace.arrivals[i],
            cumulative,
        );
    }
    let ext: f64 = b.external.iter().sum();
    Some(StrategyResult {
        strategy: "oracle".into(),
        cost_usd: bill.total(),
        cost_breakdown_usd: bill,
        // The bound holds for every strategy dropping no more than the allowance.
        slo_attainment: if total > 0.0 { (total - b.allowance) / total } else { 1.0 },
        gpu_hours: paid_s * g / 3600.0,
        idle_gpu_hours: (paid_s - busy_s).max(0.0) * g / 3600.0,
        external_share: if total > 0.0 { ext / total } else { 0.0 },
        providers: Vec::new(),
        meets_slo_target: false,
        timeline: recorder.finish(bill.total()),
    })
}

/// The start-up bound's cost at the pool's own reservation for strategies that serve at least
/// `attainment` of the requests in time (any level, not only the policy's target). For checking that
/// every replay costs at least the bound at its own attainment (`tests/sim.rs`).
pub fn startup_bound_at(trace: &Trace, spec: &SimSpec, market: &SpotMarket, attainment: f64) -> Option<f64> {
    let spot = spot_limits(trace, spec, market);
    let r = spec.reserved_commitment();
    let reserved = r as f64 * spec.replica_usd_per_s(Class::Reserved) * trace.step_s * trace.len() as f64;
    startup_bound(trace, spec, &spot, r, attainment).map(|b| reserved + b.cost)
}

/// Largest reservation worth considering: with `k` replicas free in every step everything is served
/// at no further cost, so a larger reservation only adds its bill. Never below the pool's commitment.
fn reservation_ceiling(trace: &Trace, spec: &SimSpec) -> u32 {
    let dt = trace.step_s;
    let need = (0..trace.len())
        .map(|i| {
            let per = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]) * dt;
            if per > 0.0 { (trace.arrivals[i] / per).ceil() } else { 0.0 }
        })
        .fold(0.0f64, f64::max);
    (need.min(u32::MAX as f64 / 2.0) as u32).max(spec.reserved_commitment())
}

/// The whole-replica bound (see `oracle_integer.rs`) with the pool's own reservation.
pub fn integer(trace: &Trace, spec: &SimSpec, spot: &[u32]) -> StrategyResult {
    integer_with(trace, spec, spot, spec.reserved_commitment())
}

/// The whole-replica bound with `r` reserved replicas bought for the whole trace.
pub fn integer_with(trace: &Trace, spec: &SimSpec, spot: &[u32], r: u32) -> StrategyResult {
    let dt = trace.step_s;
    let bounds = step_bounds(trace, spec, spot, r);
    let total: f64 = trace.arrivals.iter().sum();
    let forced: f64 = bounds.iter().map(|b| b.forced_drop).sum();
    let mut allowance = ((1.0 - spec.target_attainment) * total - forced).max(0.0);
    let mut segments: Vec<(f64, f64, usize)> =
        bounds.iter().enumerate().flat_map(|(i, b)| b.segments.iter().map(move |&(s, l)| (s, l, i))).collect();
    segments.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut saving = vec![0.0; bounds.len()];
    let mut dropped = forced;
    for (slope, len, i) in segments {
        if allowance <= 0.0 || slope <= 0.0 {
            break;
        }
        let d = len.min(allowance);
        saving[i] += slope * d;
        allowance -= d;
        dropped += d;
    }
    let gross: f64 = bounds.iter().map(|b| b.cost).sum();
    let saved: f64 = saving.iter().sum();
    // The split of the savings is not known (they are a bound); scale every variable part alike.
    let scale = if gross > 0.0 { (gross - saved).max(0.0) / gross } else { 1.0 };
    let r = r as f64;
    let reserved_per_step = r * spec.replica_usd_per_s(Class::Reserved) * dt;
    let mut bill = Bill { reserved: reserved_per_step * trace.len() as f64, ..Bill::default() };
    let g = spec.gpus_per_replica as f64;
    let (mut paid_s, mut busy_s, mut ext) = (0.0, 0.0, 0.0);
    let mut recorder = Recorder::new(trace.len());
    let mut cumulative = 0.0;
    for (i, b) in bounds.iter().enumerate() {
        bill.spot += b.split[0] * scale;
        bill.on_demand += b.split[1] * scale;
        bill.external += b.split[2] * scale;
        let cap = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]) * dt;
        let served_self = trace.arrivals[i] - b.forced_drop - b.external;
        paid_s += (r + b.replicas.spot + b.replicas.on_demand) * dt;
        busy_s += served_self / cap * dt;
        ext += b.external;
        cumulative += reserved_per_step + b.cost - saving[i];
        recorder.push(
            i as f64 * dt,
            trace.rps(i),
            b.replicas.map(|n| n * cap / dt),
            trace.arrivals[i],
            b.external,
            trace.arrivals[i],
            cumulative,
        );
    }
    StrategyResult {
        strategy: "oracle".into(),
        cost_usd: bill.total(),
        cost_breakdown_usd: bill,
        slo_attainment: if total > 0.0 { (total - dropped) / total } else { 1.0 },
        gpu_hours: paid_s * g / 3600.0,
        idle_gpu_hours: (paid_s - busy_s).max(0.0) * g / 3600.0,
        external_share: if total > 0.0 { ext / total } else { 0.0 },
        providers: Vec::new(),
        meets_slo_target: false,
        timeline: recorder.finish(bill.total()),
    }
}

/// The fractional bound with the pool's own reservation.
pub fn fractional(trace: &Trace, spec: &SimSpec, spot: &[u32]) -> StrategyResult {
    fractional_with(trace, spec, spot, spec.reserved_commitment())
}

/// The fractional bound with `r` reserved replicas bought for the whole trace.
pub fn fractional_with(trace: &Trace, spec: &SimSpec, spot: &[u32], r: u32) -> StrategyResult {
    let dt = trace.step_s;
    let r = r as f64;
    let f = spec.max_spot_fraction.clamp(0.0, 1.0);
    let k = if f >= 1.0 { f64::INFINITY } else { f / (1.0 - f) };
    let o_max = spec.class(Class::OnDemand).map_or(0.0, |c| c.max as f64);
    let m = (spec.max_replicas as f64).max(r);
    let p_s = spec.replica_usd_per_s(Class::Spot);
    let p_o = spec.replica_usd_per_s(Class::OnDemand);
    let bundle_spot_share = if k.is_finite() { k / (1.0 + k) } else { 1.0 };

    let mut slices: Vec<Slice> = Vec::with_capacity(trace.len() * 3);
    let mut total = 0.0;
    let mut forced_drop = 0.0;
    for (i, &spot_i) in spot.iter().enumerate().take(trace.len()) {
        let a = trace.arrivals[i];
        total += a;
        let mu = spec.replica_saturation_rps(trace.mean_input[i], trace.mean_output[i]);
        let per = mu * dt; // requests one replica serves in the step
        let s_max = spot_i as f64;
        let mut options: Vec<(Kind, f64, f64)> = Vec::with_capacity(5); // (kind, price, cap)
        options.push((Kind::Reserved, 0.0, r * per));
        let s1 = if k.is_finite() { (k * r).min(s_max) } else { s_max }.min(m - r).max(0.0);
        options.push((Kind::Spot, p_s * dt / per, s1 * per));
        let s_rem = s_max - s1;
        let room = (m - r - s1).max(0.0);
        let o1 = if k.is_finite() && k > 0.0 { o_max.min(s_rem / k).min(room / (1.0 + k)) } else { 0.0 };
        if o1 > 0.0 {
            let price = (p_o + k * p_s) * dt / ((1.0 + k) * per);
            options.push((Kind::Bundle, price, (1.0 + k) * o1 * per));
        }
        let o2 = (o_max - o1).min(room - (1.0 + k.min(1e12)) * o1).max(0.0);
        options.push((Kind::OnDemand, p_o * dt / per, o2 * per));
        if spec.external_meets_slo() {
            let cap = spec.external.as_ref().and_then(|e| e.max_rps).map_or(a, |x| (x * dt).min(a));
            options.push((
                Kind::External,
                spec.external_usd_per_request(trace.mean_input[i], trace.mean_output[i]),
                cap,
            ));
        }
        options.sort_by(|x, y| x.1.total_cmp(&y.1));
        let mut left = a;
        for (kind, price, cap) in options {
            if left <= 0.0 {
                break;
            }
            let take = cap.min(left);
            if take > 0.0 {
                slices.push(Slice { step: i, kind, price, amount: take, mu });
                left -= take;
            }
        }
        forced_drop += left.max(0.0);
    }

    // Drop the most expensive requests up to the allowance.
    let mut allowance = ((1.0 - spec.target_attainment) * total - forced_drop).max(0.0);
    let mut order: Vec<usize> = (0..slices.len()).filter(|&j| slices[j].price > 0.0).collect();
    order.sort_by(|&x, &y| slices[y].price.total_cmp(&slices[x].price));
    let mut dropped = forced_drop;
    for j in order {
        if allowance <= 0.0 {
            break;
        }
        let d = slices[j].amount.min(allowance);
        slices[j].amount -= d;
        allowance -= d;
        dropped += d;
    }

    // Account.
    let mut step_cost = vec![0.0; trace.len()];
    let mut capacity = vec![PerClass::<f64>::default(); trace.len()];
    let mut external = vec![0.0; trace.len()];
    let mut bill =
        Bill { reserved: r * spec.replica_usd_per_s(Class::Reserved) * dt * trace.len() as f64, ..Bill::default() };
    let g = spec.gpus_per_replica as f64;
    let mut used_replica_s = 0.0;
    let mut reserved_used_s = 0.0;
    for s in &slices {
        let cost = s.price * s.amount;
        step_cost[s.step] += cost;
        let replicas = s.amount / (s.mu * dt);
        match s.kind {
            Kind::Reserved => {
                capacity[s.step].reserved += s.amount / dt;
                reserved_used_s += replicas * dt;
            }
            Kind::Spot => {
                bill.spot += cost;
                capacity[s.step].spot += s.amount / dt;
                used_replica_s += replicas * dt;
            }
            Kind::Bundle => {
                let spot_cost = p_s * bundle_spot_share / (p_s * bundle_spot_share + p_o * (1.0 - bundle_spot_share));
                bill.spot += cost * spot_cost;
                bill.on_demand += cost * (1.0 - spot_cost);
                capacity[s.step].spot += s.amount / dt * bundle_spot_share;
                capacity[s.step].on_demand += s.amount / dt * (1.0 - bundle_spot_share);
                used_replica_s += replicas * dt;
            }
            Kind::OnDemand => {
                bill.on_demand += cost;
                capacity[s.step].on_demand += s.amount / dt;
                used_replica_s += replicas * dt;
            }
            Kind::External => {
                bill.external += cost;
                external[s.step] += s.amount;
            }
        }
    }
    let reserved_s = r * dt * trace.len() as f64;
    let mut recorder = Recorder::new(trace.len());
    let mut cumulative = 0.0;
    let reserved_per_step = r * spec.replica_usd_per_s(Class::Reserved) * dt;
    for i in 0..trace.len() {
        cumulative += step_cost[i] + reserved_per_step;
        recorder.push(
            i as f64 * dt,
            trace.rps(i),
            capacity[i],
            trace.arrivals[i],
            external[i],
            trace.arrivals[i],
            cumulative,
        );
    }
    let ext_total: f64 = external.iter().sum();
    StrategyResult {
        strategy: "oracle".into(),
        cost_usd: bill.total(),
        cost_breakdown_usd: bill,
        slo_attainment: if total > 0.0 { (total - dropped) / total } else { 1.0 },
        gpu_hours: (reserved_s + used_replica_s) * g / 3600.0,
        idle_gpu_hours: (reserved_s - reserved_used_s).max(0.0) * g / 3600.0,
        external_share: if total > 0.0 { ext_total / total } else { 0.0 },
        providers: Vec::new(),
        meets_slo_target: false,
        timeline: recorder.finish(bill.total()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SimSpec {
        crate::spec::default_spec()
    }

    fn flat(rps: f64, steps: usize) -> Trace {
        Trace::flat(rps, steps, 10.0)
    }

    #[test]
    fn spot_limits_follow_the_market_over_the_notice_window() {
        let s = spec();
        let t = flat(1.0, 100);
        let m = SpotMarket::Availability { name: "x".into(), gap_s: 300.0, share: vec![1.0, 0.0] };
        let l = spot_limits(&t, &s, &m);
        assert_eq!(l[0], 6);
        assert_eq!(l[30], 6, "notice window after the drop at 300 s");
        assert_eq!(l[50], 0);
        assert_eq!(l[60], 6);
        assert!(spot_limits(&t, &s, &SpotMarket::Steady).iter().all(|&x| x == 6));
    }

    #[test]
    fn the_bound_is_below_simple_feasible_plans_and_meets_the_target() {
        let s = spec();
        let t = flat(5.0, 360);
        let o = oracle(&t, &s, &SpotMarket::Steady);
        assert!(o.slo_attainment >= s.target_attainment - 1e-12);
        // Everything external is feasible (5 rps < 50 rps limit, 8 s < 20 s SLO).
        let ext: f64 =
            (0..t.len()).map(|i| t.arrivals[i] * s.external_usd_per_request(t.mean_input[i], t.mean_output[i])).sum();
        let reserved = s.replica_usd_per_s(Class::Reserved) * 3600.0;
        assert!(o.cost_usd <= reserved + ext + 1e-9, "{} > {}", o.cost_usd, reserved + ext);
        // So is enough on-demand replicas for the whole hour.
        let mu = s.replica_saturation_rps(1000.0, 200.0);
        let od = (5.0 / mu).ceil() * s.replica_usd_per_s(Class::OnDemand) * 3600.0;
        assert!(o.cost_usd <= reserved + od + 1e-9);
        // And it pays the reservation at least.
        assert!(o.cost_usd >= reserved - 1e-9);
    }
}
