//! Learning a replica's capacity from what the replicas are seen to do (`learnFromMetrics`).
//!
//! The configured capacity (for the live token mix, `capacity.rs`) is what the user believes; the
//! replicas may serve less (a heavier workload than measured, a slower GPU, a new model version) or
//! more. What is learned is a factor on that figure, so it carries over when the token mix changes.
//! It moves in both directions, on evidence only:
//!
//! - **Down, at once**: an observed overload (`overload.rs`: latency at the SLO's quantile beyond
//!   the SLO, or a queue the replicas cannot clear within it) at a self-hosted throughput of `x`
//!   requests per second per healthy replica shows that a replica serves less than `x`. The belief
//!   falls to [`BACK_OFF`] × `x`, by at most [`MAX_FALL`] per tick (a single odd sample, such as a
//!   latency still high from a backlog the replicas already clear, cannot collapse it), and never below
//!   [`MIN_FACTOR`] of the model. The worse the violation, the bigger the step: below [`BACK_OFF`]
//!   the throughput is scaled by SLO / latency. An overload counts only where no tick of the signals'
//!   window gave the replicas more than [`EXPLAINS`] times the belief of the time (a ramp that
//!   outran them, a backlog from before more were added). From a belief three times too high this
//!   takes two ticks where latency grows with the excess (tested below), and about a minute end to
//!   end on the sandbox (`e2e/capacity.rs`).
//! - **Up, slowly**: while the replicas serve at least [`LOADED`] of the believed capacity with
//!   latency within [`WITHIN`] of the SLO and no queue, the belief rises by [`MAX_RISE`] per tick:
//!   back up towards the configured figure, but not past what the last overload showed a replica to
//!   serve (the estimate, before the halving limit: a belief halved on a tick's evidence may rise back
//!   to it), and above it only as far as the throughput per replica the replicas were seen to serve so.
//!   Past the last overload's estimate, that throughput counts only measured against the model at the
//!   tick's own token mix: the belief is a factor on the model at the heaviest recent mix (what the
//!   plan sizes for), and a light-mix tick served within the SLO says little about the heavy mix. The
//!   belief rose on such ticks past what the last overload showed, and the next heavy step overloaded
//!   the replicas again (a saw-tooth); beyond the estimate it now needs the replicas to have served
//!   more at their own mix. Where the configuration has no prompt and output token rates to price a
//!   mix with, only ticks whose mean request is at least as long as at the overload count there
//!   (`at_own_mix`).
//!   Latency is a poor gauge of headroom (it stays flat until a replica is nearly full, then climbs
//!   steeply), so
//!   probing above what was shown would find the edge by overloading the replicas, once per probe.
//!   It does not rise for [`HOLD_S`] after a fall, so it does not saw back and forth over the edge.
//!   A belief three times too low rises only where the replicas carry more than it (the API at its
//!   share or rate limit, or none): the planner never sends them more than it believes they serve.
//! - Otherwise (light load, latency between the two bands, stale signals) it holds.
//!
//! The configured figure is the starting point, not a floor. The planner sizes the tick of an overload
//! by the same bound (`tick.rs`), so the replicas bought and the share shed follow what was seen at
//! once; learning keeps the lesson for the next ticks. With learning off the configuration is trusted
//! and the overload net of `overload.rs` acts alone.

use super::capacity::Capacity;
use super::overload::Overload;
use super::{Memory, PoolConfig, Sample, Snapshot};

/// Largest relative rise of the factor per tick.
pub const MAX_RISE: f64 = 0.05;

/// Smallest share of the factor kept per tick when it falls.
pub const MAX_FALL: f64 = 0.5;

/// Share of the throughput seen at an overload the belief falls to.
pub const BACK_OFF: f64 = 0.9;

/// Share of the SLO within which the observed latency shows room to serve more. In the simulator a
/// request spends half the SLO in service, so this leaves half of the queueing slack unused.
pub const WITHIN: f64 = 0.75;

/// Share of the believed capacity the replicas must be serving before good latency says anything
/// about more: light load is no evidence of headroom at high load.
pub const LOADED: f64 = 0.8;

/// Seconds after a fall during which the factor does not rise.
pub const HOLD_S: f64 = 900.0;

/// Load over the belief of the time that explains an overload by itself. A replica rated at the SLO
/// still has headroom up to its saturation (in the simulator's queueing model about a fifth more for
/// the usual ratings, `sim::queueing::saturation_factor`); beyond a quarter more than believed, the
/// replicas were given more than the belief says they serve, and their overload says nothing against
/// it. Within it, it does: a belief that was right would have held.
pub const EXPLAINS: f64 = 1.25;

/// Most points of per-replica load kept.
const LOAD_POINTS: usize = 64;

/// Smallest factor: a belief at most fifty times below the configured model.
pub const MIN_FACTOR: f64 = 0.02;

/// Largest factor: a belief at most twenty times above the configured model.
pub const MAX_FACTOR: f64 = 20.0;

/// What an observed overload shows a replica to serve at most, requests per second, with the evidence.
///
/// The replicas were given at most `x` requests per second each (the self-hosted throughput per
/// healthy replica, its highest over the signals' window, see [`load_window_s`]), never more than was
/// believed at the time, and could not keep up, so a replica serves less than `x`: the
/// bound is `x` times
/// [`BACK_OFF`], or times SLO / latency where the latency is further over the SLO than that (the worse
/// the overload, the further the belief was off: a multiplicative decrease in proportion to the
/// violation), but never by less than [`MAX_FALL`]: an overload says a replica serves less than it was
/// given, not how much less. Nor is it below [`MAX_FALL`] of `believed` (one tick's evidence halves the
/// belief at most). `None` when the overload shows nothing below the belief: a replica given far less
/// than believed and still overloaded (a backlog from before, a policy budget that allows no more
/// replicas) says nothing about the belief.
///
/// (Little's law on the queue, requests in the system over the time spent there, would measure what
/// the replicas complete, but only with the mean latency: with the latency at the SLO's quantile, which
/// is what the snapshot has, it came out a hundred times too low in the simulator near saturation.)
pub fn overload_bound(
    config: &PoolConfig,
    s: &Snapshot,
    memory: &Memory,
    now: f64,
    o: &Overload,
    healthy: u32,
    believed: f64,
) -> Option<Bound> {
    if healthy == 0 {
        return None;
    }
    let (highest, explained) = recent_load(memory, now, load_window_s(config));
    let per = (o.self_hosted_rps / f64::from(healthy)).max(highest);
    if explained || per > believed * EXPLAINS {
        // Given more than they were believed to serve within the window: the belief of the time
        // already explains the overload (a ramp that outran the replicas, a backlog from before
        // more were added).
        return None;
    }
    let slo = config.slo_latency_s;
    let severity = Sample::fresh(s.load.latency_s, now, config.signal_max_age_s)
        .filter(|l| l.is_finite() && *l > 0.0)
        .map_or(BACK_OFF, |l| BACK_OFF.min(slo / l).max(MAX_FALL));
    let estimate = per * severity;
    let bound = estimate.max(believed * MAX_FALL);
    (bound.is_finite() && bound < believed).then(|| Bound {
        rps: bound,
        estimate,
        why: format!("{} at {} rps per replica", o.why, super::capacity::rps(per)),
    })
}

/// What an overload shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// Requests per second per replica to believe this tick: the estimate, halving the belief at most.
    pub rps: f64,
    /// What the evidence says a replica serves (the load given, scaled by the latency's violation).
    pub estimate: f64,
    /// The evidence, for the reasons and status.
    pub why: String,
}

/// Update the learned factor in `memory` (`capacity_factor`, its evidence, the time and the ceiling
/// of its last fall) from this tick. `capacity` is the belief the tick started with; `overload` what
/// `overload::detect` saw. Nothing changes when learning is off or nothing was evidence.
pub fn update(
    config: &PoolConfig,
    s: &Snapshot,
    capacity: &Capacity,
    overload: Option<&Overload>,
    memory: &mut Memory,
    now: f64,
    rate: f64,
) {
    if !config.learn_from_metrics || capacity.model_rps.is_nan() || capacity.model_rps <= 0.0 {
        return;
    }
    let factor = memory.capacity_factor.filter(|f| f.is_finite() && *f > 0.0).unwrap_or(1.0);
    let healthy: u32 = s.classes.iter().map(|c| c.ready - c.interrupted.min(c.ready)).sum();
    if let Some(o) = overload {
        if let Some(b) = overload_bound(config, s, memory, now, o, healthy, capacity.rps) {
            memory.capacity_factor = Some((b.rps / capacity.model_rps).clamp(MIN_FACTOR, MAX_FACTOR));
            memory.capacity_evidence = Some(clip(b.why));
            memory.capacity_fell_at = Some(now);
            memory.capacity_ceiling = Some((b.estimate / capacity.model_rps).clamp(MIN_FACTOR, MAX_FACTOR));
            memory.capacity_fell_mix = super::external::known_mix(s);
        }
        return;
    }
    let fresh = |x: Option<Sample>| Sample::fresh(x, now, config.signal_max_age_s);
    let Some(latency) = fresh(s.load.latency_s) else { return };
    if healthy == 0 || memory.capacity_fell_at.is_some_and(|t| now - t < HOLD_S) {
        return;
    }
    let per = rate * f64::from(s.traffic.self_hosted_weight.min(100)) / 100.0 / f64::from(healthy);
    let no_queue = fresh(s.load.waiting).is_none_or(|w| w <= f64::from(healthy));
    let slo = config.slo_latency_s;
    if per >= LOADED * capacity.rps && latency <= WITHIN * slo && no_queue && per.is_finite() {
        // Back up towards the configuration by probing, but not past what the last overload showed
        // a replica to serve; beyond that only as far as they were seen to serve.
        let shown = per / capacity.model_rps;
        let probe = memory.capacity_ceiling.map_or(1.0, |c| c.min(1.0));
        // Past the last overload's estimate only on evidence measured at this tick's own mix (see the
        // module's "Up, slowly").
        let cap =
            memory.capacity_ceiling.map_or(f64::INFINITY, |c| c.max(at_own_mix(config, s, memory, per, capacity)));
        let f = (factor * (1.0 + MAX_RISE)).min(shown.max(probe).min(cap)).min(MAX_FACTOR);
        if f <= factor {
            return;
        }
        memory.capacity_factor = Some(f);
        memory.capacity_evidence = Some(clip(format!(
            "latency {} s within {}% of the {} s SLO, no queue, at {} rps per replica",
            super::reasons::num(latency),
            super::reasons::num(WITHIN * 100.0),
            super::reasons::num(slo),
            super::capacity::rps(per)
        )));
    }
}

/// The factor this tick's throughput per replica (`per`) shows at its own token mix, for a rise past
/// the last overload's estimate. Where the configuration prices prompt and output tokens, the model
/// at this tick's mix measures it (`Capacity::mix_rps`). Where it prices one or neither, the model is
/// the same for every mix, and a tick of short prompts served within the SLO would lift the belief
/// for the long ones: then only a tick whose mean request is at least as long as at the overload, in
/// prompt and output tokens both, counts (it is at least as heavy whatever a token costs), and others
/// show nothing past the estimate. On the synthetic Mooncake trace with a requests-per-second rating
/// the belief climbed back on short-prompt minutes to where the next long-prompt minute overloaded
/// the replicas.
fn at_own_mix(config: &PoolConfig, s: &Snapshot, memory: &Memory, per: f64, capacity: &Capacity) -> f64 {
    let priced = |r: Option<f64>| r.is_some_and(|r| r.is_finite() && r > 0.0);
    if priced(config.replica_prompt_tokens_per_s) && priced(config.replica_output_tokens_per_s) {
        return per / capacity.mix_rps;
    }
    let heavier = match (super::external::known_mix(s), memory.capacity_fell_mix) {
        (Some(now), Some(then)) => now.prompt_tokens >= then.prompt_tokens && now.output_tokens >= then.output_tokens,
        // No mix at the fall: nothing to compare with, as before.
        (_, None) => true,
        (None, Some(_)) => false,
    };
    if heavier { per / capacity.mix_rps } else { 0.0 }
}

/// Remember the load per healthy replica this tick (`rate` the pool's request rate) and the capacity
/// believed for it, for [`overload_bound`]: at most [`load_window_s`] back.
pub fn record_load(config: &PoolConfig, memory: &mut Memory, s: &Snapshot, now: f64, rate: f64, believed: f64) {
    let healthy: u32 = s.classes.iter().map(|c| c.ready - c.interrupted.min(c.ready)).sum();
    let window = load_window_s(config);
    let recent = &mut memory.recent_load_per_replica;
    recent.retain(|(t, x, b)| *t > now - window && *t <= now && x.is_finite() && b.is_finite());
    if healthy > 0 {
        let per = rate * f64::from(s.traffic.self_hosted_weight.min(100)) / 100.0 / f64::from(healthy);
        if per.is_finite() && believed.is_finite() {
            recent.push((now, per, believed));
        }
    }
    let excess = recent.len().saturating_sub(LOAD_POINTS);
    recent.drain(..excess);
}

/// Seconds back an overload seen now may have been caused: the signals' window (vLLM's latency
/// histogram is read as a rate over it, so a latency high now may come from the load of two minutes
/// ago) plus a tick. In the simulator, whose signals are the step's own, a tick.
pub fn load_window_s(config: &PoolConfig) -> f64 {
    config.signal_window_s.max(0.0) + config.tick_s.max(0.0)
}

/// The highest load per replica remembered within `window_s` of `now` (0 when none), and whether any
/// tick of the window gave the replicas more than [`EXPLAINS`] times what was believed then.
fn recent_load(memory: &Memory, now: f64, window_s: f64) -> (f64, bool) {
    memory
        .recent_load_per_replica
        .iter()
        .filter(|(t, _, _)| *t > now - window_s)
        .fold((0.0, false), |(hi, over), (_, x, b)| (hi.max(*x), over || *x > b * EXPLAINS))
}

/// Evidence fits the status field (512 characters).
fn clip(s: String) -> String {
    if s.len() <= 500 { s } else { s.chars().take(500).collect() }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0, config, snapshot};
    use super::*;
    use crate::planner::Memory;

    /// 20 rps, all self-hosted, on `ready` replicas, with a latency sample.
    fn observed(ready: u32, latency: f64) -> Snapshot {
        let mut s = snapshot(|_| 20.0, [(0, 0), (ready, ready), (0, 0)]);
        s.load.latency_s = Some(Sample { value: latency, at: T0 });
        s
    }

    fn learned(cfg: &PoolConfig, s: &Snapshot, cap: &Capacity, o: Option<&Overload>, m: &Memory, rate: f64) -> Memory {
        let mut m = m.clone();
        update(cfg, s, cap, o, &mut m, T0, rate);
        m
    }

    fn overload(s: &Snapshot, cfg: &PoolConfig, believed: f64) -> Option<Overload> {
        let healthy: u32 = s.classes.iter().map(|c| c.ready).sum();
        super::super::overload::detect(cfg, s, T0, 20.0, f64::from(healthy) * believed)
    }

    #[test]
    fn an_overload_lowers_the_belief_below_the_configuration_and_names_the_evidence() {
        let mut cfg = config(); // 5 rps per replica configured, SLO 10 s.
        cfg.learn_from_metrics = true;
        let s = observed(8, 14.0); // 2.5 rps per replica at 14 s: overloaded.
        let cap = Capacity::believe(&cfg, &s.load, &Memory::default());
        let o = overload(&s, &cfg, cap.rps);
        let m = learned(&cfg, &s, &cap, o.as_ref(), &Memory::default(), 20.0);
        // 2.5 rps per replica at 14 s against 10 s: 2.5 x 10 / 14 = 1.8, but halved at most: 2.5.
        assert_eq!(m.capacity_factor, Some(0.5));
        assert_eq!(m.capacity_fell_at, Some(T0));
        assert_eq!(m.capacity_ceiling, Some(2.5 * 10.0 / 14.0 / 5.0), "the estimate: 2.5 rps x 10 / 14");
        assert_eq!(
            m.capacity_evidence.as_deref(),
            Some("observed latency 14 s exceeds the 10 s SLO at 2.50 rps per replica")
        );
        // Off: nothing learned.
        cfg.learn_from_metrics = false;
        assert_eq!(learned(&cfg, &s, &cap, o.as_ref(), &Memory::default(), 20.0), Memory::default());
    }

    #[test]
    fn an_overload_the_belief_explains_teaches_nothing() {
        let mut cfg = config();
        cfg.learn_from_metrics = true;
        let s = observed(4, 30.0); // 5 rps per replica, as believed, at 30 s.
        let cap = Capacity::believe(&cfg, &s.load, &Memory::default());
        let o = overload(&s, &cfg, cap.rps).expect("overloaded");
        // A ramp a minute ago gave one replica 14 rps while 5 were believed: the latency read over the
        // signals' window still shows it. Nothing is learned, and the tick's μ is not capped.
        let ramp = Memory { recent_load_per_replica: vec![(T0 - 60.0, 14.0, 5.0)], ..Memory::default() };
        assert_eq!(overload_bound(&cfg, &s, &ramp, T0, &o, 4, cap.rps), None);
        assert_eq!(learned(&cfg, &s, &cap, Some(&o), &ramp, 20.0), ramp);
        // Older than the window (120 s + a tick), or within a quarter of the belief: evidence.
        let old = Memory { recent_load_per_replica: vec![(T0 - 200.0, 14.0, 5.0)], ..Memory::default() };
        assert!(overload_bound(&cfg, &s, &old, T0, &o, 4, cap.rps).is_some());
        let near = Memory { recent_load_per_replica: vec![(T0 - 60.0, 6.0, 5.0)], ..Memory::default() };
        let b = overload_bound(&cfg, &s, &near, T0, &o, 4, cap.rps).expect("evidence");
        assert_eq!((b.rps, b.estimate), (3.0, 3.0), "6 rps at 30 s against 10 s: halved at most from 6");
    }

    #[test]
    fn a_belief_three_times_too_high_converges_in_a_few_ticks() {
        // The replicas really serve 5 rps; the belief starts at 15. Each tick the route sends the
        // replicas what is believed (as `traffic` does) and they are overloaded while that exceeds 5.
        let mut cfg = config();
        cfg.replica_rps = 15.0;
        cfg.learn_from_metrics = true;
        let truth = 5.0;
        let ready = 4;
        let mut mem = Memory::default();
        let mut ticks = 0;
        loop {
            let cap = Capacity::believe(&cfg, &Default::default(), &mem);
            if cap.rps <= truth * 1.05 {
                break;
            }
            let offered = cap.rps * f64::from(ready);
            let completed = offered.min(truth * f64::from(ready));
            // Over capacity a queue builds: latency at the quantile grows with the excess.
            let latency = if offered > completed { 10.0 * offered / completed } else { 4.0 };
            let mut s = snapshot(|_| offered, [(0, 0), (ready, ready), (0, 0)]);
            s.load.latency_s = Some(Sample { value: latency, at: T0 });
            let o = super::super::overload::detect(&cfg, &s, T0, offered, offered);
            mem = learned(&cfg, &s, &cap, o.as_ref(), &mem, offered);
            ticks += 1;
            assert!(ticks < 10, "not converged: {cap:?}");
        }
        // 15 -> 7.5 (halved at most: latency 30 s, three times the SLO) -> 5 (7.5 rps per replica at
        // 15 s, times 10 / 15): at the truth in two ticks.
        assert_eq!(ticks, 2);
    }

    #[test]
    fn headroom_raises_the_belief_slowly_and_not_right_after_a_fall() {
        let mut cfg = config();
        cfg.learn_from_metrics = true;
        let none = Memory::default();
        let factor =
            |cap: &Capacity, s: &Snapshot, m: &Memory, rate: f64| learned(&cfg, s, cap, None, m, rate).capacity_factor;
        // 3 replicas believed at 5 rps carry 20 rps (6.7 each) at 4 s latency: they serve more.
        let s = observed(3, 4.0);
        let cap = Capacity::believe(&cfg, &s.load, &none);
        let m = learned(&cfg, &s, &cap, None, &none, 20.0);
        assert_eq!(m.capacity_factor, Some(1.05));
        assert!(m.capacity_evidence.unwrap().starts_with("latency 4 s within 75% of the 10 s SLO"));
        // Above the configuration, no further than shown: at 5 rps each (the belief), no rise.
        assert_eq!(factor(&cap, &observed(4, 4.0), &none, 20.0), None);
        // Below it, after a fall and past the hold, back up by probing, but not past what the overload
        // showed (0.6 of the configured 5 rps here).
        let fell = Memory {
            capacity_factor: Some(0.5),
            capacity_fell_at: Some(T0 - HOLD_S),
            capacity_ceiling: Some(0.6),
            ..Memory::default()
        };
        let low = Capacity::believe(&cfg, &s.load, &fell);
        assert_eq!(factor(&low, &observed(8, 4.0), &fell, 20.0), Some(0.525));
        let near = Memory { capacity_factor: Some(0.59), ..fell.clone() };
        let cap_near = Capacity::believe(&cfg, &s.load, &near);
        assert_eq!(factor(&cap_near, &observed(7, 4.0), &near, 20.0), Some(0.6));
        // Light load (8 replicas at 2.5 rps each, half of the belief) proves nothing.
        assert_eq!(factor(&cap, &observed(8, 4.0), &none, 20.0), None);
        // Latency near the SLO proves nothing either.
        assert_eq!(factor(&cap, &observed(3, 9.0), &none, 20.0), None);
        // A queue is no headroom.
        let mut q = observed(3, 4.0);
        q.load.waiting = Some(Sample { value: 30.0, at: T0 });
        assert_eq!(factor(&cap, &q, &none, 20.0), None);
        // Within the hold time after a fall: no rise.
        let recent = Memory { capacity_fell_at: Some(T0 - 60.0), ..fell.clone() };
        assert_eq!(factor(&low, &observed(8, 4.0), &recent, 20.0), Some(0.5));
        // No fresh latency: held.
        let stale = snapshot(|_| 20.0, [(0, 0), (3, 3), (0, 0)]);
        assert_eq!(factor(&cap, &stale, &none, 20.0), None);
    }

    #[test]
    fn past_the_last_overload_only_evidence_at_the_ticks_own_mix_raises_the_belief() {
        let mut cfg = config();
        cfg.learn_from_metrics = true;
        cfg.replica_prompt_tokens_per_s = Some(20_000.0);
        cfg.replica_output_tokens_per_s = Some(2_000.0);
        // The plan sizes for the heaviest recent mix, 15k-token prompts: 1.21 rps per replica. The last
        // overload showed the model's figure (ceiling 1), and the belief is just under it.
        let heavy = 1.0 / (15_000.0 / 20_000.0 + 150.0 / 2_000.0);
        let fell = Memory {
            capacity_factor: Some(0.98),
            capacity_fell_at: Some(T0 - HOLD_S),
            capacity_ceiling: Some(1.0),
            recent_mix_rps: vec![(T0 - 60.0, heavy)],
            ..Memory::default()
        };
        let at_mix = |input: f64, output: f64| {
            // 20 rps on 12 replicas (1.67 each) at 4 s against a 10 s SLO.
            let mut s = observed(12, 4.0);
            s.load.mean_input_tokens = Some(Sample { value: input, at: T0 });
            s.load.mean_output_tokens = Some(Sample { value: output, at: T0 });
            let cap = Capacity::believe(&cfg, &s.load, &fell);
            learned(&cfg, &s, &cap, None, &fell, 20.0).capacity_factor
        };
        // A light tick (1k-token prompts, 5.7 rps per replica at that mix) served well shows 1.38 times
        // the heavy mix's figure in requests, but only 0.29 of its own: no rise past the ceiling.
        assert_eq!(at_mix(1_000.0, 250.0), Some(1.0));
        // The same throughput at the heavy mix itself is evidence past the ceiling.
        let f = at_mix(15_000.0, 150.0).unwrap();
        assert!((f - 0.98 * (1.0 + MAX_RISE)).abs() < 1e-12, "{f}");
    }

    #[test]
    fn without_token_rates_only_requests_as_long_as_at_the_overload_raise_the_belief_past_it() {
        // A requests-per-second rating (2 rps, no token rates): the model is the same for every mix.
        // The last overload, at 15k-token prompts and 150-token answers, showed 0.5 of it.
        let mut cfg = config();
        cfg.learn_from_metrics = true;
        cfg.replica_rps = 2.0;
        let fell = Memory {
            capacity_factor: Some(0.5),
            capacity_fell_at: Some(T0 - HOLD_S),
            capacity_ceiling: Some(0.5),
            capacity_fell_mix: Some(super::super::providers::Mix { prompt_tokens: 15_000.0, output_tokens: 150.0 }),
            ..Memory::default()
        };
        let at_mix = |cfg: &PoolConfig, input: f64, output: f64| {
            // 24 rps on 20 replicas (1.2 each, above the belief of 1) at 4 s against a 10 s SLO.
            let mut s = observed(20, 4.0);
            s.load.mean_input_tokens = Some(Sample { value: input, at: T0 });
            s.load.mean_output_tokens = Some(Sample { value: output, at: T0 });
            let cap = Capacity::believe(cfg, &s.load, &fell);
            learned(cfg, &s, &cap, None, &fell, 24.0).capacity_factor
        };
        // Shorter prompts served well say nothing about the long ones: no rise past the ceiling.
        assert_eq!(at_mix(&cfg, 5_000.0, 150.0), Some(0.5));
        assert_eq!(at_mix(&cfg, 20_000.0, 100.0), Some(0.5), "shorter answers");
        // Requests at least as long in both are evidence.
        let f = at_mix(&cfg, 16_000.0, 150.0).unwrap();
        assert!((f - 0.5 * (1.0 + MAX_RISE)).abs() < 1e-12, "{f}");
        // With both token rates the model measures each tick at its own mix, as before: 2 rps at 5k/150
        // tokens, so 1.2 rps there is 0.6 of it.
        cfg.replica_prompt_tokens_per_s = Some(20_000.0);
        cfg.replica_output_tokens_per_s = Some(600.0);
        let f = at_mix(&cfg, 5_000.0, 150.0).unwrap();
        assert!((f - 0.5 * (1.0 + MAX_RISE)).abs() < 1e-12, "{f}");
    }
}
