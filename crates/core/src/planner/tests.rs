//! Table tests: one scenario per behaviour the design promises, each stated in the numbers a platform
//! engineer would check. Prices are chosen so the break-even utilisations are round-ish: μ = 5 rps,
//! an external request costs $0.0001 (500 input tokens at $0.10/M plus 50 output tokens at $1/M),
//! spot $1/GPU-h (u* = 0.56), on-demand $1.6/GPU-h (u* = 0.89).

use super::*;
use crate::status::PerClass;

pub(crate) const T0: f64 = 1_800_000_000.0;

pub(super) fn class(class: Class, min: u32, max: u32, provision: f64) -> Option<ClassConfig> {
    Some(ClassConfig {
        class,
        min_replicas: min,
        max_replicas: max,
        node_provision_s: provision,
        gpus_per_node: Some(8),
    })
}

pub(crate) fn config() -> PoolConfig {
    PoolConfig {
        classes: [
            class(Class::Reserved, 0, 2, 0.0),
            class(Class::Spot, 0, 10, 180.0),
            class(Class::OnDemand, 0, 10, 240.0),
        ]
        .into(),
        gpus_per_replica: 1,
        replica_rps: 5.0,
        replica_output_tokens_per_s: None,
        replica_prompt_tokens_per_s: None,
        startup_s: 120.0,
        min_replicas: 0,
        max_replicas: 20,
        external: Some(ExternalConfig { max_share: 1.0, max_rps: None, latency_s: 2.0, priced_by: 0 }),
        // Built by hand: the external path above is the one provider (`PoolConfig::for_tick`).
        providers: vec![],
        provider_health: Default::default(),
        slo_latency_s: 10.0,
        target_attainment: 0.999,
        budget: None,
        max_spot_fraction: 0.7,
        spare_spot_replicas: 1,
        interruptions_per_hour_threshold: 2.0,
        stabilization_s: 300.0,
        max_scale_down_step: 2,
        idle_reclaim: true,
        idle_utilization: 0.1,
        idle_s: 900.0,
        tick_s: 15.0,
        signal_max_age_s: 120.0,
        signal_window_s: 120.0,
        learn_from_metrics: false,
    }
}

pub(super) fn prices() -> Prices {
    Prices::single([2.0, 1.0, 1.6].into(), "api", 0.1e-6, 1e-6)
}

pub(super) fn sample(value: f64) -> Option<Sample> {
    Some(Sample { value, at: T0 })
}

/// A snapshot at T0 with a rate history from `rate(t)` over the last hour at 15 s steps.
pub(crate) fn snapshot(rate: impl Fn(f64) -> f64, counts: impl Into<PerClass<(u32, u32)>>) -> Snapshot {
    let history = (0..240).map(|k| T0 - 3600.0 + 15.0 * f64::from(k)).map(|t| (t, rate(t))).collect();
    Snapshot {
        load: LoadSignals {
            request_rate: sample(rate(T0)),
            mean_input_tokens: sample(500.0),
            mean_output_tokens: sample(50.0),
            history,
            ..Default::default()
        },
        prices: prices(),
        classes: counts.into().map(|(desired, ready)| ClassObservation { desired, ready, interrupted: 0 }),
        traffic: TrafficWeights::default(),
        provider_weights: Vec::new(),
        provider_signals: Vec::new(),
        spend: Spend { policy_month_to_date_usd: 0.0, other_pools_usd_per_hour: 0.0, seconds_left_in_month: 86400.0 },
    }
}

pub(crate) fn reason(plan: &Plan, class: Class) -> &str {
    plan.changes
        .iter()
        .find(|c| matches!(c.kind, ChangeKind::Replicas { class: k, .. } if k == class))
        .map_or("", |c| c.reason.as_str())
}

/// Replay `ticks` ticks from T0 with instant readiness: each tick observes what the last one planned.
pub(super) fn replay(config: &PoolConfig, start: PerClass<u32>, ticks: u32, rate: impl Fn(f64) -> f64) -> Vec<Plan> {
    let mut memory = Memory::default();
    let mut counts = start;
    let mut traffic = TrafficWeights::default();
    let mut plans = Vec::new();
    for k in 0..ticks {
        let now = T0 + 15.0 * f64::from(k);
        let mut s = snapshot(|t| rate(t - T0 + now), counts.map(|n| (n, n)));
        s.load.history = s.load.history.iter().map(|&(t, v)| (t + now - T0, v)).collect();
        s.load.request_rate = Some(Sample { value: rate(now), at: now });
        s.traffic = traffic;
        let p = plan(config, &s, &memory, now);
        counts = [p.replicas.reserved, p.replicas.spot, p.replicas.on_demand].into();
        traffic = p.traffic;
        memory = p.memory.clone();
        plans.push(p);
    }
    plans
}

#[test]
fn ramp_starts_spot_early_and_bridges_with_external() {
    // 0.01 rps per second: 10 rps an hour... 30 rps now, 33.6 rps when a new spot replica is ready.
    let s = snapshot(|t| 30.0 + (t - T0) * 0.01, [(2, 2), (3, 3), (0, 0)]);
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 5, on_demand: 0 }, "{:#?}", p.changes);
    assert_eq!(p.traffic.external_weight, 17, "25 rps ready of 30 rps");
    assert_eq!(
        reason(&p, Class::Spot),
        "spot 3->5: forecast 33.6 rps over the next 6 min exceeds ready capacity 25 rps; \
         incl. 1 spare against interruptions; external 17% until they are ready"
    );
    assert!(!p.signals_stale && !p.budget_exceeded);
    assert_eq!(p.node_pool_gpus, [8, 8, 0].into());
    assert!(p.summary.starts_with("7 replicas (reserved 2, spot 5, onDemand 0), external 17%"), "{}", p.summary);
}

#[test]
fn short_spike_goes_external_without_new_gpus() {
    // 10 rps for an hour, 40 rps for the last minute: far shorter than the ~10 min buy time.
    let s = snapshot(|t| if t > T0 - 60.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 0, on_demand: 0 });
    assert_eq!(p.traffic, TrafficWeights { self_hosted_weight: 25, external_weight: 75 });
    assert_eq!(p.changes.len(), 1, "only the route changes: {:#?}", p.changes);
}

#[test]
fn lasting_step_is_bought_after_the_buy_time() {
    // The same step, lasting 30 minutes: past the buy time of a full spot replica (24 min at these
    // prices), so replicas are bought for it.
    let s = snapshot(|t| if t > T0 - 1800.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&config(), &s, &Memory::default(), T0);
    // 2 reserved and 4 spot (and a spare) serve 30 rps. The last 10 rps stays external: within the
    // spot fraction it needs an on-demand replica (u* 0.89) and the two spot replicas that makes room
    // for, which at 67% load would run at their blended break-even and never pay back their start-up.
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 5, on_demand: 0 }, "{:#?}", p.changes);
    assert!(reason(&p, Class::Spot).contains("forecast 40 rps"), "{}", reason(&p, Class::Spot));
}

#[test]
fn external_too_slow_for_the_slo_buys_replicas_for_spikes() {
    let mut c = config();
    if let Some(e) = c.external.as_mut() {
        e.latency_s = 30.0;
    }
    let s = snapshot(|t| if t > T0 - 60.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&c, &s, &Memory::default(), T0);
    assert!(p.replicas.total() >= 8, "{:?}", p.replicas);
    assert!(reason(&p, Class::OnDemand).contains("misses the SLO"), "{:#?}", p.changes);
}

#[test]
fn scale_down_waits_for_the_window_and_steps() {
    // 40 rps for an hour, then 10 rps from T0 on.
    let c = config();
    let plans = replay(&c, [2, 5, 2].into(), 120, |t| if t < T0 { 40.0 } else { 10.0 });
    let paid = |p: &Plan| p.replicas.spot + p.replicas.on_demand;
    // The spot window is the rent-or-buy keep time 300 s × (1 + 1/0.556) = 14 min; on-demand's 12.75 min.
    let first_drop = plans.iter().position(|p| paid(p) < 7).expect("scaled down eventually");
    // On-demand goes first, once its 12.75 min window has wholly passed (the first tick after 765 s).
    assert_eq!(15 * first_drop, 780, "{}", plans[first_drop].summary);
    assert!(plans[first_drop].replicas.on_demand < 2 && plans[first_drop].replicas.spot == 5);
    let spot_drop = plans.iter().position(|p| p.replicas.spot < 5).expect("spot scaled down");
    assert_eq!(15 * spot_drop, 855, "spot's window is 14 min");
    for w in plans.windows(2) {
        for cl in [Class::Spot, Class::OnDemand] {
            assert!(w[0].replicas.get(cl) <= w[1].replicas.get(cl) + 2, "step limit");
        }
    }
    let last = plans.last().unwrap();
    assert_eq!(last.replicas, PerClass { reserved: 2, spot: 0, on_demand: 0 }, "{}", last.summary);
    assert!(
        plans[first_drop].changes.iter().any(|ch| ch.reason.contains("needs 0 here")),
        "{:#?}",
        plans[first_drop].changes
    );
}

#[test]
fn idle_pool_goes_cold_with_all_traffic_external() {
    let mut c = config();
    c.classes[Class::Reserved] = None;
    // A trickle the economics alone would keep a spot replica for if external were dear.
    let plans = replay(&c, [0, 2, 0].into(), 80, |_| 0.2);
    let at = |s: f64| &plans[(s / 15.0) as usize];
    assert_eq!(at(600.0).traffic.external_weight, 0, "still served by the two replicas");
    let last = plans.last().unwrap();
    assert_eq!(last.replicas.total(), 0);
    assert_eq!(last.traffic, TrafficWeights { self_hosted_weight: 0, external_weight: 100 });
    assert_eq!(last.node_pool_gpus, [0, 0, 0].into());
}

#[test]
fn idle_release_overrides_economics_but_not_the_last_path() {
    // External is dear here (u* tiny), so the economics keeps one replica for 0.2 rps; idle reclaim
    // still gives it back after 15 minutes, and traffic goes external.
    let mut c = config();
    c.classes[Class::Reserved] = None;
    let mut plans_dear = Vec::new();
    let mut memory = Memory::default();
    let mut counts = [0, 2, 0];
    for k in 0..70 {
        let now = T0 + 15.0 * f64::from(k);
        let mut s = snapshot(|_| 0.2, counts.map(|n| (n, n)));
        s.load.request_rate = Some(Sample { value: 0.2, at: now });
        s.prices.external[0].output_token = 1e-3;
        let p = plan(&c, &s, &memory, now);
        counts = [p.replicas.reserved, p.replicas.spot, p.replicas.on_demand];
        memory = p.memory.clone();
        plans_dear.push(p);
    }
    assert_eq!(plans_dear[10].replicas.spot, 2, "one replica for the trickle and one spare");
    let released = plans_dear.iter().position(|p| p.replicas.total() == 0).expect("released");
    assert_eq!(released, 60, "after exactly 900 s idle");
    assert!(reason(&plans_dear[released], Class::Spot).contains("idle for 15 min below 10% utilisation"));
    assert_eq!(plans_dear[released].traffic.external_weight, 100);

    // Without an external API the last replica stays: it is the only path for traffic.
    c.external = None;
    let plans = replay(&c, [0, 1, 0].into(), 70, |_| 0.2);
    assert_eq!(plans.last().unwrap().replicas.total(), 1);
    assert_eq!(plans.last().unwrap().traffic.external_weight, 0);
}

#[test]
fn weights_round_towards_the_external_api_and_respect_its_limits() {
    let c = config();
    assert_eq!(traffic::weights(&c, 30.0, 30.0, 25.0).external_weight, 17, "16.7% rounds up, never overloading");
    assert_eq!(traffic::weights(&c, 30.0, 30.0, 30.0).external_weight, 0);
    assert_eq!(traffic::weights(&c, 0.0, 0.0, 10.0).external_weight, 0, "no demand: self-hosted");
    assert_eq!(traffic::weights(&c, 0.0, 0.0, 0.0).external_weight, 100, "nothing ready: the only path");
    let mut capped = c.clone();
    capped.external = Some(ExternalConfig { max_share: 0.3, max_rps: Some(6.0), latency_s: 1.0, priced_by: 0 });
    assert_eq!(traffic::weights(&capped, 40.0, 40.0, 10.0).external_weight, 15, "6 rps of 40");
    // Set for a 40 rps burst seen minutes ago while 12 rps arrive now: the rate limit is taken at the
    // rate now (6 of 12 rps, capped by the 30% share), so the replicas are not handed, between bursts,
    // load the API could take (an overloaded replica queues; the API only rejects what is over its limit).
    assert_eq!(traffic::weights(&capped, 40.0, 12.0, 10.0).external_weight, 30, "max share, not 6 of 40");
    let mut limited = capped.clone();
    limited.external = Some(ExternalConfig { max_share: 1.0, max_rps: Some(6.0), latency_s: 1.0, priced_by: 0 });
    assert_eq!(traffic::weights(&limited, 40.0, 12.0, 10.0).external_weight, 50, "6 of the 12 rps now");
    assert_eq!(traffic::weights(&limited, 40.0, 4.0, 10.0).external_weight, 75, "the peak's overflow");
    assert_eq!(traffic::weights(&limited, 40.0, 0.0, 10.0).external_weight, 75, "quiet now: the peak's overflow");
    let mut closed = limited.clone();
    closed.external = Some(ExternalConfig { max_share: 1.0, max_rps: Some(0.0), latency_s: 1.0, priced_by: 0 });
    assert_eq!(traffic::weights(&closed, 40.0, 0.0, 10.0).external_weight, 0, "a 0 rps limit takes nothing");
    let mut zero = c.clone();
    zero.external = Some(ExternalConfig { max_share: 0.0, max_rps: None, latency_s: 1.0, priced_by: 0 });
    assert_eq!(traffic::weights(&zero, 40.0, 40.0, 0.0).external_weight, 0, "a 0% external API is no path");
}

#[test]
fn node_pools_are_sized_in_whole_nodes() {
    let mut c = config();
    c.gpus_per_replica = 4;
    // 8-GPU nodes hold two 4-GPU replicas: 3 replicas need 2 nodes.
    assert_eq!(node_pool_gpus(&c, [3, 0, 1].into()), [16, 0, 8].into());
    // A 16-GPU replica spans two 8-GPU nodes.
    c.gpus_per_replica = 16;
    assert_eq!(node_pool_gpus(&c, [1, 2, 0].into()), [16, 32, 0].into());
    // Without a node pool, GPUs are replicas × GPUs per replica.
    c.gpus_per_replica = 3;
    if let Some(s) = c.classes[Class::Spot].as_mut() {
        s.gpus_per_node = None;
    }
    assert_eq!(node_pool_gpus(&c, [0, 5, 0].into()), [0, 15, 0].into());
}

#[test]
fn spot_that_never_arrives_is_replaced_by_on_demand() {
    // 40 rps for an hour; spot replicas are asked for but the market has none (never ready). Without an
    // external API nothing else can carry their share.
    let mut c = config();
    c.external = None;
    let plans = spot_never_arrives(&c, 1.6);
    let memory = &plans[plans.len() - 1].memory;
    assert!(plans[0].replicas.spot >= 4 && plans[0].replicas.on_demand <= 2, "{}", plans[0].summary);
    // Pending (from the second tick) for more than two spot lead times (2 × 5 min): spot is given up
    // and on-demand takes over.
    let switched = plans.iter().position(|p| p.replicas.on_demand >= 6).expect("on-demand took over");
    assert_eq!(15 * switched, 630, "{}", plans[switched].summary);
    assert_eq!(plans[switched].replicas.spot, 0);
    assert!(plans[switched].summary.contains("spot unavailable"), "{}", plans[switched].summary);
    assert!(reason(&plans[switched], Class::OnDemand).contains("spot capacity unavailable"));
    assert!(memory.spot_scarce_until.is_some_and(|u| u > T0 + 1800.0));
}

/// Replay 80 ticks of 40 rps (an hour of it already in the history) in which no spot replica ever
/// becomes ready, with on-demand at `on_demand_usd` per replica-hour.
fn spot_never_arrives(c: &PoolConfig, on_demand_usd: f64) -> Vec<Plan> {
    let mut memory = Memory::default();
    let mut counts = [2, 0, 0];
    let mut plans = Vec::new();
    for k in 0..80 {
        let now = T0 + 15.0 * f64::from(k);
        let mut s = snapshot(|_| 40.0, counts.map(|n| (n, n)));
        s.classes[Class::Spot].ready = 0;
        s.load.request_rate = Some(Sample { value: 40.0, at: now });
        s.load.history = s.load.history.iter().map(|&(t, v)| (t + now - T0, v)).collect();
        s.prices.gpu_hour[Class::OnDemand] = on_demand_usd;
        let p = plan(c, &s, &memory, now);
        counts = [p.replicas.reserved, p.replicas.spot, p.replicas.on_demand];
        memory = p.memory.clone();
        plans.push(p);
    }
    plans
}

#[test]
fn scarce_spot_bridged_by_the_api_is_replaced_by_on_demand_only_where_on_demand_pays() {
    // The API costs $1.80 per replica-hour of load (5 rps of 500 + 50 tokens). On-demand at $0.90
    // (break-even at half load) repays a fully loaded replica's start-up and window within the half
    // hour spot stays unavailable: once spot has been pending two lead times, on-demand is bought for
    // the load it pays, and the spot stays asked for in case the market comes back.
    let plans = spot_never_arrives(&config(), 0.9);
    let before = &plans[10];
    let after = plans.last().expect("plans");
    assert!(after.replicas.on_demand > before.replicas.on_demand, "{}\n{}", before.summary, after.summary);
    assert!(after.replicas.spot > 0, "{}", after.summary);
    assert!(
        reason(
            &plans[plans.iter().position(|p| p.replicas.on_demand > before.replicas.on_demand).unwrap()],
            Class::OnDemand
        )
        .contains("on-demand for the load it pays")
    );
    // At $1.60 (break-even at 0.89 of a replica's load) it would not repay within the half hour: the API
    // keeps carrying the pending spot's share.
    let dear = spot_never_arrives(&config(), 1.6);
    assert!(dear.iter().all(|p| p.replicas.on_demand == dear[10].replicas.on_demand), "{}", dear[79].summary);
    assert!(dear[79].replicas.spot >= 4, "{}", dear[79].summary);
    assert!(dear[79].traffic.external_weight >= 50, "{}", dear[79].summary);
}

#[test]
fn a_recent_burst_keeps_a_standing_external_share() {
    // 10 rps with a 30 rps burst two minutes ago, on 2 reserved + 1 spot (15 rps ready): the weights
    // hold until the next tick, so they are set for the burst: 15 of 30 rps external.
    let s = snapshot(|t| if (T0 - 130.0..T0 - 110.0).contains(&t) { 30.0 } else { 10.0 }, [(2, 2), (1, 1), (0, 0)]);
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 50);
    let change = p.changes.iter().find(|c| matches!(c.kind, ChangeKind::Traffic { .. })).expect("route change");
    assert_eq!(change.reason, "external 0%->50%: demand 10 rps (peak 30 rps in the last 5 min), ready capacity 15 rps");
    // No GPUs are bought for a burst the external API can take.
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 1, on_demand: 0 });
}

#[test]
fn a_burst_the_minute_rates_spread_is_seen_in_the_recent_rates() {
    // The same burst as the operator's history shows it: each point a rate over a minute, so the 20 s
    // at 30 rps reads as 10 rps plus a third of the excess (16.7 rps). Its recent rates, over a tick
    // or two, show the 30 rps, and the route is set for it as above.
    let spread = |t: f64| if (T0 - 130.0..T0 - 50.0).contains(&t) { 10.0 + 20.0 / 3.0 } else { 10.0 };
    let mut s = snapshot(spread, [(2, 2), (1, 1), (0, 0)]);
    let minute_only = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(minute_only.traffic.external_weight, 10, "{}", minute_only.summary);
    s.load.recent_rates = (0..20)
        .map(|k| T0 - 300.0 + 15.0 * f64::from(k))
        .map(|t| (t, if t == T0 - 120.0 { 30.0 } else { 10.0 }))
        .collect();
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 50, "{}", p.summary);
    // Recent rates older than the burst window say nothing.
    s.load.recent_rates = vec![(T0 - 400.0, 30.0)];
    assert_eq!(plan(&config(), &s, &Memory::default(), T0).traffic.external_weight, 10);
}

#[test]
fn ready_replicas_stay_until_their_replacements_are_ready() {
    // 20 rps on 4 ready on-demand replicas, nothing else ready. Spot was asked for (4 pending) and the
    // on-demand window has long passed: on-demand must still not drop while spot is not ready.
    let mut s = snapshot(|_| 20.0, [(0, 0), (4, 0), (4, 4)]);
    s.load.request_rate = Some(Sample { value: 20.0, at: T0 });
    let old = PerClass { reserved: 0, spot: 4, on_demand: 0 };
    let memory = Memory { recommendations: vec![(T0 - 3000.0, old)], ..Default::default() };
    let mut c = config();
    c.classes[Class::Reserved] = None;
    let p = plan(&c, &s, &memory, T0);
    // The economics want 2 spot + 1 spare and 2 on-demand; without the bridge on-demand would drop to
    // 2, leaving 10 rps ready for 20 rps while the spot replicas start.
    assert_eq!(p.replicas, PerClass { reserved: 0, spot: 3, on_demand: 4 }, "{:#?}", p.changes);
    // Once the spot replicas are ready, on-demand goes.
    s.classes[Class::Spot] = ClassObservation { desired: 3, ready: 3, interrupted: 0 };
    let p = plan(&c, &s, &p.memory, T0 + 15.0);
    assert_eq!(p.replicas, PerClass { reserved: 0, spot: 3, on_demand: 2 }, "{:#?}", p.changes);
}

#[test]
fn a_partly_loaded_replica_waits_longer_than_a_full_one() {
    // 2 reserved replicas serve 10 rps; 14 rps would load one spot replica to 80% of its capacity. It
    // saves (0.8 − u*) of a full replica's external bill per second against (1 − u*) for a full one, so
    // its load must last u*·(lead + window)/(0.8 − u*): longer than a full replica's by (1 − u*)/(0.8 − u*).
    let cfg = config();
    let s = snapshot(|_| 14.0, [(2, 2), (0, 0), (0, 0)]);
    let econ = economics::Economics::new(&cfg, &s, &Memory::default());
    let u = econ.break_even(Class::Spot);
    assert!(u > 0.0 && u < 0.8, "the test needs an 80%-loaded replica above break-even: u* = {u}");
    let window = scale_down::windows(&cfg, &econ)[Class::Spot];
    let lead_window = econ.lead_s[Class::Spot] + window;
    let full = econ.buy_after_s(Class::Spot, window);
    let partial = econ.buy_after_load_s(Class::Spot, window, 0.8);
    assert!((full - u * lead_window / (1.0 - u)).abs() < 1e-6);
    assert!((partial - u * lead_window / (0.8 - u)).abs() < 1e-6);
    // 14 rps has lasted `lasted` seconds; before that 10 rps (what the reserved replicas serve).
    let forecast = |lasted: f64| {
        let levels = std::array::from_fn(|k| {
            let w = full * (1.0 + 0.2 * k as f64);
            (w, if w <= lasted { 14.0 } else { 10.0 })
        });
        forecast::Forecast {
            now_rps: 14.0,
            peak_rps: 14.0,
            base_rps: 14.0,
            trend: 0.0,
            horizon_s: econ.lead_s[Class::Spot],
            persist_s: full,
            recent_peak_rps: 14.0,
            burst_window_s: 300.0,
            lasting_rps: 14.0,
            recent_mean_rps: 14.0,
            levels,
        }
    };
    assert!(partial < full * 2.2, "the forecast's windows must reach the partial buy time");
    let b = allocate::Bounds {
        spot_fraction: 0.7,
        on_demand_max: u32::MAX,
        interrupted: [0; 3].into(),
        spot_max: u32::MAX,
        scarce_spot_ready: None,
    };
    let spot = |lasted| allocate::allocate(&cfg, &econ, &forecast(lasted), None, &b).replicas[Class::Spot];
    // Lasted past the full-replica buy time but not the partial one: the external API keeps the load.
    assert_eq!(spot(partial - 1.0), 0);
    // Lasted past the partial buy time (the next window of the forecast's): bought, with its spare.
    assert_eq!(spot(partial + full * 0.2), 2);
    // A full replica's load (19 rps over 10 reserved would be 1.8 replicas: the first is full) is
    // bought after the full buy time.
    let mut f = forecast(full);
    f.levels = f.levels.map(|(w, l)| (w, if l > 10.0 { 15.0 } else { l }));
    assert_eq!(allocate::allocate(&cfg, &econ, &f, None, &b).replicas[Class::Spot], 2);
}

#[test]
fn load_at_break_even_never_buys_a_replica() {
    // Saving nothing per second, a replica never repays its start-up and window.
    let cfg = config();
    let s = snapshot(|_| 14.0, [(2, 2), (0, 0), (0, 0)]);
    let econ = economics::Economics::new(&cfg, &s, &Memory::default());
    let u = econ.break_even(Class::OnDemand);
    let window = scale_down::windows(&cfg, &econ)[Class::OnDemand];
    assert_eq!(econ.buy_after_load_s(Class::OnDemand, window, u), f64::INFINITY);
    assert_eq!(econ.buy_after_load_s(Class::OnDemand, window, u * 0.9), f64::INFINITY);
    assert!(econ.buy_after_load_s(Class::OnDemand, window, u * 1.1).is_finite());
}

/// A snapshot `k` ticks after T0 at a steady `rps` for the last hour, with this tick's mean prompt.
fn steady_at(k: u32, rps: f64, prompt_tokens: f64) -> (Snapshot, f64) {
    let now = T0 + 15.0 * f64::from(k);
    let mut s = snapshot(|_| rps, [(0, 0), (0, 0), (0, 0)]);
    s.load.history = s.load.history.iter().map(|(t, r)| (t + now - T0, *r)).collect();
    let at = |value| Some(Sample { value, at: now });
    (s.load.request_rate, s.load.mean_input_tokens, s.load.mean_output_tokens) = (at(rps), at(prompt_tokens), at(50.0));
    (s, now)
}

#[test]
fn one_tick_of_long_prompts_does_not_buy_a_replica_but_a_lasting_mix_does() {
    // 2 rps of 500-token prompts keep a replica at 0.4 of its 5 rps, below spot's break-even (0.56):
    // the external API is the cheaper way. Prompts of 5,000 tokens cost 5.5 times as much externally.
    let mut cfg = config();
    cfg.classes[Class::Reserved] = class(Class::Reserved, 0, 0, 0.0);
    let paid = |p: &Plan| p.replicas[Class::Spot] + p.replicas[Class::OnDemand];
    let mut memory = Memory::default();
    for k in 0..120 {
        let (s, now) = steady_at(k, 2.0, 500.0);
        let p = plan(&cfg, &s, &memory, now);
        assert_eq!(paid(&p), 0, "tick {k}: {:?}", p.changes);
        memory = p.memory;
    }
    // One tick whose few requests had long prompts: priced at the recent mix, still not worth a replica.
    let (s, now) = steady_at(120, 2.0, 5000.0);
    let one = plan(&cfg, &s, &memory, now);
    assert_eq!(paid(&one), 0, "{:?}", one.changes);
    // Priced at that tick's mix alone, the same load would have bought one (the load has lasted an hour).
    let alone = plan(&cfg, &s, &Memory { priced_mix: None, ..memory.clone() }, now);
    assert!(paid(&alone) > 0, "{:?}", alone.changes);
    // Long prompts that last: priced in within minutes, and then the replica is bought.
    let bought = (121..200).find(|&k| {
        let (s, now) = steady_at(k, 2.0, 5000.0);
        let p = plan(&cfg, &s, &memory, now);
        memory = p.memory.clone();
        paid(&p) > 0
    });
    assert!(bought.is_some_and(|k| k < 121 + 60), "bought at tick {bought:?}");
}

#[test]
fn short_dips_do_not_hide_load_that_has_paid_its_rent() {
    // 18 rps on 2 reserved replicas (10 rps), with a 15-second lull to nothing every 20 minutes. The
    // least rate over any window longer than 20 minutes is 0, so by the persisting level alone no spot
    // replica ever looks worth buying. Ski rental weighs what renting has cost: a spot replica carrying
    // 10-15 rps would have been fully busy all but 15 seconds in twenty minutes, which repays its
    // start-up and window many times over. It is bought; the next one, 60% busy against a break-even
    // of 56%, is not.
    let lull = |t: f64| (T0 - t).rem_euclid(1200.0) >= 600.0 && (T0 - t).rem_euclid(1200.0) < 615.0;
    let s = snapshot(|t| if lull(t) { 0.0 } else { 18.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.replicas.spot, 2, "one replica and its spare: {}", p.summary);
    assert!(
        reason(&p, Class::Spot).contains("the load between 10 and 15 rps kept a replica 98.4% busy"),
        "{}",
        p.summary
    );
    // Without the lulls the same load buys the same.
    let steady = plan(&config(), &snapshot(|_| 18.0, [(2, 2), (0, 0), (0, 0)]), &Memory::default(), T0);
    assert_eq!(steady.replicas, p.replicas, "{}", steady.summary);
}
