//! Property tests of the planner's invariants over random pools, prices, loads and memories:
//! - replicas within per-class and pool minimum and maximum;
//! - route weights sum to 100;
//! - stale or missing signals never scale a class down;
//! - no external share when the pool has no external API (data may not leave);
//! - the providers' weights add up to the external weight, and a provider kept out for its errors or
//!   latency gets none while a replica is ready;
//! - more demand never yields less capacity;
//! - under a Hold or Degrade budget, replicas are only added while the plan stays within budget.

use hybridscale::api::cost_policy::BudgetAction;
use hybridscale::planner::external;
use hybridscale::planner::providers::{HealthRules, Provider, ProviderPrice, ProviderSignal};
use hybridscale::planner::{
    BudgetConfig, Class, ClassConfig, ClassObservation, ExternalConfig, LoadSignals, Memory, PerClass, Plan,
    PoolConfig, Prices, Sample, Snapshot, Spend, TrafficWeights, plan, usd_per_hour,
};
use proptest::prelude::*;

const NOW: f64 = 1_800_000_000.0;

fn class_strategy(class: Class) -> impl Strategy<Value = Option<ClassConfig>> {
    prop::option::weighted(
        0.8,
        (0u32..3, 0u32..12, 0.0f64..600.0, prop::option::of(1u32..9)).prop_map(move |(min, extra, prov, gpn)| {
            ClassConfig {
                class,
                min_replicas: min,
                max_replicas: min + extra,
                node_provision_s: prov,
                gpus_per_node: gpn,
            }
        }),
    )
}

fn budget_strategy() -> impl Strategy<Value = Option<BudgetConfig>> {
    prop::option::of(
        (
            prop::option::of(0.0f64..50_000.0),
            prop::option::of(0.0f64..200.0),
            prop_oneof![Just(BudgetAction::Alert), Just(BudgetAction::Degrade), Just(BudgetAction::Hold)],
        )
            .prop_map(|(monthly_usd, hourly_usd, on_exceeded)| BudgetConfig {
                monthly_usd,
                hourly_usd: hourly_usd.or(if monthly_usd.is_none() { Some(10.0) } else { None }),
                on_exceeded,
            }),
    )
}

fn provider_strategy() -> impl Strategy<Value = Provider> {
    (0.0f64..=1.0, prop::option::of(0.0f64..100.0), prop::option::of(0.0f64..1e7), 0.0f64..30.0).prop_map(
        |(max_share, max_rps, max_tokens_per_minute, latency_s)| Provider {
            name: format!("p{}", (max_share * 1000.0) as u32),
            max_share,
            max_rps,
            max_tokens_per_minute,
            latency_s,
        },
    )
}

prop_compose! {
    fn config_strategy()(
        reserved in class_strategy(Class::Reserved),
        spot in class_strategy(Class::Spot),
        on_demand in class_strategy(Class::OnDemand),
        gpus in 1u32..9,
        rps in 0.1f64..20.0,
        tps in prop::option::of(10.0f64..5000.0),
        startup in 0.0f64..900.0,
        pool_min in 0u32..4,
        pool_extra in 0u32..30,
        external in prop::option::of((0.0f64..=1.0, prop::option::of(0.0f64..100.0), 0.0f64..30.0)),
        providers in prop::collection::vec(provider_strategy(), 0..4),
        budget in budget_strategy(),
        spot_frac in 0.0f64..=1.0,
        spare in 0u32..3,
        threshold in 0.0f64..5.0,
        stab in 0.0f64..1200.0,
        step in 1u32..4,
        idle in any::<bool>(),
        idle_u in 0.0f64..0.5,
        idle_s in 0.0f64..1800.0,
    ) -> PoolConfig {
        let mut classes = [reserved, spot, on_demand];
        if classes.iter().all(Option::is_none) {
            classes[2] = Some(ClassConfig { class: Class::OnDemand, min_replicas: 0, max_replicas: 5,
                node_provision_s: 60.0, gpus_per_node: None });
        }
        let class_mins: u32 = classes.iter().flatten().map(|c| c.min_replicas).sum();
        let class_maxes: u32 = classes.iter().flatten().map(|c| c.max_replicas).sum();
        let max_replicas = class_mins + pool_extra;
        PoolConfig {
            classes: classes.into(),
            gpus_per_replica: gpus,
            replica_rps: rps,
            replica_output_tokens_per_s: tps,
            replica_prompt_tokens_per_s: None,
            startup_s: startup,
            min_replicas: pool_min.min(max_replicas).min(class_maxes),
            max_replicas,
            external: external.map(|(max_share, max_rps, latency_s)| ExternalConfig { max_share, max_rps, latency_s, priced_by: 0 }),
            // No providers listed: the external path as written (a pool built by hand).
            providers: if external.is_some() { providers } else { Vec::new() },
            provider_health: HealthRules::default(),
            slo_latency_s: 10.0,
            target_attainment: 0.999,
            budget,
            max_spot_fraction: spot_frac,
            spare_spot_replicas: spare,
            interruptions_per_hour_threshold: threshold,
            stabilization_s: stab,
            max_scale_down_step: step,
            idle_reclaim: idle,
            idle_utilization: idle_u,
            idle_s,
            tick_s: 15.0,
            signal_max_age_s: 120.0,
            signal_window_s: 120.0,
            learn_from_metrics: false,
        }
    }
}

/// Observed counts within the configured limits (what a cluster run by the planner looks like).
fn observations(config: &PoolConfig, raw: [(u32, u32, u32); 3]) -> PerClass<ClassObservation> {
    let mut total = 0;
    let mut mins_left: u32 = config.classes.iter().flatten().map(|c| c.min_replicas).sum();
    let raw = PerClass::from(raw);
    PerClass::from_fn(|c| {
        let (d, r, i) = raw[c];
        let Some(cc) = config.class(c) else { return ClassObservation::default() };
        mins_left -= cc.min_replicas;
        let room = config.max_replicas.saturating_sub(total + mins_left);
        let desired = (cc.min_replicas + d % (cc.max_replicas - cc.min_replicas + 1)).min(room.max(cc.min_replicas));
        total += desired;
        let ready = r % (desired + 1);
        ClassObservation { desired, ready, interrupted: i % (ready + 1) }
    })
}

prop_compose! {
    fn world_strategy()(
        config in config_strategy(),
        raw in prop::array::uniform3((0u32..40, 0u32..40, 0u32..4)),
        rate in 0.0f64..300.0,
        age in prop_oneof![4 => 0.0f64..100.0, 1 => 100.0f64..1000.0],
        missing in prop::bool::weighted(0.1),
        history in prop::collection::vec(0.0f64..300.0, 0..120),
        tokens in prop::option::of((1.0f64..4000.0, 1.0f64..1000.0)),
        gpu_hour in prop::array::uniform3(0.0f64..15.0),
        ext in prop::collection::vec((0.0f64..20e-6, 0.0f64..60e-6), 4),
        provider_seen in prop::collection::vec((prop::option::of(0.0f64..0.3), prop::option::of(0.0f64..60.0)), 4),
        ext_w in 0u32..=100,
        spend in (0.0f64..60_000.0, 0.0f64..100.0, 0.0f64..2.7e6),
        idle_since in prop::option::of(0.0f64..3600.0),
        interruptions in prop::collection::vec(0.0f64..7200.0, 0..8),
        last_safe in prop::option::of(prop::array::uniform3(0u32..20)),
        recs in prop::collection::vec((0.0f64..3600.0, prop::array::uniform3(0u32..20)), 0..10),
        pending in prop::option::of(0.0f64..3600.0),
        scarce in prop::option::of(-600.0f64..1800.0),
        observed in prop::option::of((0.0f64..30.0, 0.0f64..2000.0)),
    ) -> (PoolConfig, Snapshot, Memory) {
        let classes = observations(&config, raw);
        let n = history.len();
        let history: Vec<(f64, f64)> =
            history.into_iter().enumerate().map(|(k, v)| (NOW - 15.0 * (n - k) as f64, v)).collect();
        let snapshot = Snapshot {
            load: LoadSignals {
                request_rate: if missing { None } else { Some(Sample { value: rate, at: NOW - age }) },
                mean_input_tokens: tokens.map(|(i, _)| Sample { value: i, at: NOW }),
                mean_output_tokens: tokens.map(|(_, o)| Sample { value: o, at: NOW }),
                history: history.into(),
                // Observed latency and queue: the overload safety net.
                latency_s: observed.map(|(l, _)| Sample { value: l, at: NOW }),
                waiting: observed.map(|(_, w)| Sample { value: w, at: NOW }),
                ..Default::default()
            },
            prices: Prices {
                gpu_hour: gpu_hour.into(),
                external: (0..config.providers.len().max(1))
                    .map(|i| ProviderPrice { name: format!("p{i}"), input_token: ext[i].0, output_token: ext[i].1 })
                    .collect(),
            },
            classes,
            traffic: if config.external.is_some() {
                TrafficWeights { self_hosted_weight: 100 - ext_w, external_weight: ext_w }
            } else {
                TrafficWeights::default()
            },
            provider_weights: Vec::new(),
            provider_signals: provider_seen
                .iter()
                .take(config.providers.len())
                .map(|&(error_ratio, latency_s)| ProviderSignal { error_ratio, latency_s })
                .collect(),
            spend: Spend { policy_month_to_date_usd: spend.0, other_pools_usd_per_hour: spend.1, seconds_left_in_month: spend.2 },
        };
        let mut recs: Vec<(f64, PerClass<u32>)> = recs
            .into_iter()
            .map(|(t, r)| (NOW - t, PerClass { reserved: r[0], spot: r[1], on_demand: r[2] }))
            .collect();
        recs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let memory = Memory {
            recommendations: recs,
            idle_since: idle_since.map(|s| NOW - s),
            spot_interruptions: { let mut v: Vec<f64> = interruptions.into_iter().map(|t| NOW - t).collect(); v.sort_by(f64::total_cmp); v },
            last_safe: last_safe.map(|r| (NOW - 600.0, PerClass { reserved: r[0], spot: r[1], on_demand: r[2] }, TrafficWeights::default())),
            capacity_factor: None,
            capacity_evidence: None,
            capacity_fell_at: None,
            capacity_ceiling: None,
            capacity_fell_mix: None,
            recent_mix_rps: Vec::new(),
            priced_mix: None,
            recent_load_per_replica: Vec::new(),
            interrupted_seen: 0,
            spot_pending_since: pending.map(|s| NOW - s),
            spot_scarce_until: scarce.map(|s| NOW + s),
            provider_health: Vec::new(),
        };
        (config, snapshot, memory)
    }
}

fn is_stale(config: &PoolConfig, s: &Snapshot) -> bool {
    s.load.request_rate.is_none_or(|r| NOW - r.at > config.signal_max_age_s)
}

fn check_limits(config: &PoolConfig, p: &Plan) -> Result<(), TestCaseError> {
    let r = p.replicas;
    for c in Class::ALL {
        let (min, max) = config.class(c).map_or((0, 0), |cc| (cc.min_replicas, cc.max_replicas));
        prop_assert!(r[c] >= min && r[c] <= max, "{c} {} outside {min}..={max}", r[c]);
    }
    let total = p.replicas.total();
    prop_assert!(total <= config.max_replicas, "total {total} > max {}", config.max_replicas);
    prop_assert!(total >= config.min_replicas, "total {total} < min {}", config.min_replicas);
    let class_room: u32 = config.classes.iter().flatten().map(|c| c.max_replicas).sum();
    if config.external_path().is_none() && config.max_replicas > 0 && class_room > 0 {
        prop_assert!(total >= 1, "no external API and no replica: no path for traffic");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold((config, snapshot, memory) in world_strategy()) {
        let p = plan(&config, &snapshot, &memory, NOW);
        prop_assert_eq!(p.traffic.self_hosted_weight + p.traffic.external_weight, 100);
        if !config.providers.is_empty() {
            prop_assert_eq!(p.providers.len(), config.providers.len());
            prop_assert_eq!(p.provider_weights().iter().sum::<u32>(), p.traffic.external_weight, "{:?}", p.providers);
            let ready = snapshot.classes.iter().any(|c| c.ready > c.interrupted.min(c.ready));
            for part in p.providers.iter().filter(|part| !part.healthy) {
                prop_assert!(part.weight == 0 || !ready, "unhealthy {} got {}% with replicas ready", part.name, part.weight);
            }
        }
        check_limits(&config, &p)?;
        if config.external_path().is_none() {
            prop_assert_eq!(p.traffic.external_weight, 0);
        }
        prop_assert!(p.usd_per_hour.is_finite() && p.usd_per_hour >= 0.0);
        prop_assert!(!p.summary.is_empty());
        for ch in &p.changes {
            prop_assert!(!ch.reason.is_empty());
        }
        let stale = is_stale(&config, &snapshot);
        prop_assert_eq!(p.signals_stale, stale);
        if stale {
            let desired = snapshot.classes.map(|c| c.desired);
            let r = p.replicas;
            for c in Class::ALL {
                prop_assert!(r[c] >= desired[c], "stale signals scaled class {c} down: {} -> {}", desired[c], r[c]);
            }
        }
    }

    #[test]
    fn budget_hold_and_degrade_add_only_within_budget((config, snapshot, memory) in world_strategy()) {
        let Some(b) = config.budget.clone() else { return Ok(()) };
        if b.on_exceeded == BudgetAction::Alert {
            return Ok(());
        }
        let p = plan(&config, &snapshot, &memory, NOW);
        let r = p.replicas;
        let added = Class::ALL.iter().any(|c| {
            r[*c] > snapshot.classes[*c].desired.max(config.class(*c).map_or(0, |cc| cc.min_replicas))
        });
        if !added {
            return Ok(());
        }
        let others = snapshot.spend.other_pools_usd_per_hour;
        let mut allow = f64::INFINITY;
        if let Some(h) = b.hourly_usd {
            allow = allow.min(h - others);
        }
        if let Some(m) = b.monthly_usd {
            let left_h = snapshot.spend.seconds_left_in_month / 3600.0;
            if left_h > 0.0 {
                allow = allow.min((m - snapshot.spend.policy_month_to_date_usd) / left_h - others);
            }
        }
        // Additions may only pass the allowance where each lowers the burn (taking load off a dearer
        // external API) or the configured minimum needs them: never above what the plan would cost
        // without them, unless at the pool floor.
        // The external path of this tick: the providers' shares and health may leave none.
        let health = external::observe(&config, &snapshot, &mut memory.clone(), NOW);
        let tick = config.for_tick(&snapshot.prices, &health, external::mix(&snapshot));
        let at_floor = p.replicas.total() <= config.min_replicas.max(u32::from(tick.external_path().is_none()));
        let floor = PerClass::from_fn(|c| {
            r[c].min(snapshot.classes[c].desired.max(config.class(c).map_or(0, |cc| cc.min_replicas)))
        });
        let without = usd_per_hour(&config, &snapshot, &memory, NOW, floor);
        prop_assert!(
            p.usd_per_hour <= allow.max(without) + 1e-6 || at_floor,
            "added replicas past the budget: {} $/h > {allow} (without additions {without}): {}", p.usd_per_hour, p.summary
        );
    }

    #[test]
    fn more_demand_never_less_capacity(
        (mut config, mut snapshot, memory) in world_strategy(),
        extra in 0.0f64..200.0,
    ) {
        // The budget is left out: a higher external bill may trip it, and Hold then rightly adds nothing.
        config.budget = None;
        // So is overload evidence: with an overload observed, the capacity per replica is inferred
        // from the load the replicas were given (`learn::overload_bound`), so more demand at the same
        // latency is evidence of more capacity and the belief moves with the demand. The property is
        // about a fixed belief.
        snapshot.load.latency_s = None;
        snapshot.load.waiting = None;
        let Some(r) = snapshot.load.request_rate.as_mut() else { return Ok(()) };
        r.at = NOW;
        let low = plan(&config, &snapshot, &memory, NOW);
        if let Some(r) = snapshot.load.request_rate.as_mut() {
            r.value += extra;
        }
        let high = plan(&config, &snapshot, &memory, NOW);
        prop_assert!(
            high.replicas.total() >= low.replicas.total(),
            "{:?} at +{extra} rps < {:?}\nlow: {}\nhigh: {}", high.replicas, low.replicas, low.summary, high.summary
        );
    }
}
