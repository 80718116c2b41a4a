//! One tick of the planner, [`plan`]: the pool's memory brought up to date, then the fresh path (the
//! outlook, the sizing stages, the budget, the route and the reasons) or, on stale signals, the hold
//! path. Each stage lives in its own module; this one only orders them. What a plan costs is
//! `cost.rs`.

use crate::status::BudgetAction;
use crate::status::PerClass;

use super::allocate::{self, Bounds};
use super::capacity::Capacity;
use super::cost::{self, burn, ext_usd_per_hour};
use super::economics::Economics;
use super::external;
use super::forecast;
use super::priced_mix::PricedMix;
use super::reasons::{self, Context};
use super::scale_down;
use super::sizing::Sizing;
use super::{Class, Memory, Plan, PoolConfig, Snapshot, TrafficWeights, budget, learn, overload, spot, traffic};

/// Decide one pool for one tick. Pure: the same inputs always give the same plan.
pub fn plan(config: &PoolConfig, snapshot: &Snapshot, memory: &Memory, now: f64) -> Plan {
    let mut mem = memory.clone();
    let health = external::observe(config, snapshot, &mut mem, now);
    let config = &config.for_tick(&snapshot.prices, &health, external::mix(snapshot));
    let new_interruptions = spot::record(&mut mem, snapshot, now);
    if let Ok(rate) = fresh_rate(config, snapshot, now) {
        let window = forecast::burst_window(config.stabilization_s, config.tick_s);
        Capacity::record(config, &snapshot.load, &mut mem, now, window);
        mem.priced_mix = PricedMix::update(mem.priced_mix, external::known_mix(snapshot), rate, now, window);
    }
    let econ = Economics::new(config, snapshot, &mem);
    if let Ok(rate) = fresh_rate(config, snapshot, now) {
        learn::record_load(config, &mut mem, snapshot, now, rate, econ.mu);
    }
    let obs = ClassCounts::new(snapshot);
    let (mut plan, rate) = match fresh_rate(config, snapshot, now) {
        Ok(rate) => (fresh(config, snapshot, mem, &econ, &obs, now, rate, new_interruptions), rate),
        Err(why) => (stale(config, snapshot, mem, &econ, &obs, why), 0.0),
    };
    external::route(config, snapshot, &health, rate, now, &mut plan);
    plan
}

/// What runs per class, as the snapshot shows it.
pub(crate) struct ClassCounts {
    pub desired: PerClass<u32>,
    pub ready: PerClass<u32>,
    /// Ready replicas with an interruption notice (never more than ready).
    pub interrupted: PerClass<u32>,
}

impl ClassCounts {
    pub(crate) fn new(s: &Snapshot) -> ClassCounts {
        let ready = s.classes.map(|c| c.ready);
        let interrupted = s.classes.map(|c| c.interrupted.min(c.ready));
        ClassCounts { desired: s.classes.map(|c| c.desired), ready, interrupted }
    }
    /// Ready replicas without an interruption notice.
    pub fn healthy(&self) -> u32 {
        self.ready.zip(&self.interrupted, |r, i| r - i).total()
    }
    pub fn interrupted_total(&self) -> u32 {
        self.interrupted.iter().sum()
    }
}

/// The request rate if it is fresh, else why not.
pub(crate) fn fresh_rate(config: &PoolConfig, s: &Snapshot, now: f64) -> Result<f64, String> {
    match s.load.request_rate {
        None => Err("request rate is missing".into()),
        Some(r) if !r.value.is_finite() || r.value < 0.0 => Err(format!("request rate {} is not a rate", r.value)),
        Some(r) if !r.at.is_finite() || now - r.at > config.signal_max_age_s => {
            Err(format!("request rate is {:.0} s old (max {:.0} s)", now - r.at, config.signal_max_age_s))
        }
        Some(r) => Ok(r.value),
    }
}

/// Load, as a multiple of break-even, down to which the forecast looks far enough back to judge whether
/// a replica would pay: a replica at 1.125 u* must see its load last 8 times as long as one at 2 u*.
const MARGINAL_LOAD: f64 = 1.125;

/// Keep time of the cheapest paid class the pool has: the window the buy time is measured against.
fn buy_time(config: &PoolConfig, econ: &Economics, windows: PerClass<f64>) -> f64 {
    [Class::Spot, Class::OnDemand]
        .into_iter()
        .filter(|c| config.class(*c).is_some_and(|cc| cc.max_replicas > 0))
        .map(|c| econ.buy_after_s(c, windows[c]))
        .reduce(f64::min)
        .unwrap_or(0.0)
}

/// What the fresh path knows before it sizes: the economics (μ capped by an observed overload), the
/// overload itself, the stabilisation windows, the forecast and the spot outlook.
struct Outlook {
    /// The economics this tick sizes with: the believed ones, or μ capped by what an overload showed.
    econ: Economics,
    /// Whether an observed overload capped μ.
    capped: bool,
    overloaded: Option<overload::Overload>,
    spot_fraction: f64,
    spot_halved: bool,
    /// What replaces spot asked for and not arriving.
    shortage: spot::Shortage,
    windows: PerClass<f64>,
    fc: forecast::Forecast,
}

impl Outlook {
    fn new(
        config: &PoolConfig,
        snapshot: &Snapshot,
        mem: &mut Memory,
        believed: &Economics,
        obs: &ClassCounts,
        now: f64,
        rate: f64,
    ) -> Outlook {
        let (capped, overloaded) = overload_economics(config, snapshot, mem, believed, obs, now, rate);
        let is_capped = capped.is_some();
        let econ = capped.unwrap_or_else(|| believed.clone());
        let (spot_fraction, spot_halved) = spot::fraction(config, mem);
        let windows = scale_down::windows(config, &econ);
        let horizon =
            Class::ALL.into_iter().filter(|c| config.class(*c).is_some()).map(|c| econ.lead_s[c]).fold(0.0, f64::max);
        let persist = buy_time(config, &econ, windows);
        let burst = forecast::burst_window(config.stabilization_s, config.tick_s);
        // The longest a replica's load must last before it is bought (`allocate`): one that load would
        // keep just above break-even, at most what the forecast looks back over.
        let persist_max = [Class::Spot, Class::OnDemand]
            .into_iter()
            .filter(|c| config.class(*c).is_some_and(|cc| cc.max_replicas > 0))
            .map(|c| {
                let f = (econ.break_even(c) * MARGINAL_LOAD).min(1.0);
                econ.buy_after_load_s(c, windows[c], f)
            })
            .filter(|s| s.is_finite())
            .fold(persist, f64::max)
            .min(forecast::LONGEST_WINDOW_S);
        let fc = forecast::forecast(&snapshot.load.history, now, rate, horizon, persist, burst, persist_max)
            .with_recent_peak(forecast::recent_peak_of(&snapshot.load, now, rate, burst));
        let scarce = spot::scarcity(mem, snapshot, now, econ.lead_s[Class::Spot]);
        let shortage = spot::shortage(scarce, &econ, windows[Class::OnDemand]);
        Outlook { econ, capped: is_capped, overloaded, spot_fraction, spot_halved, shortage, windows, fc }
    }
}

/// Idle: demand below the threshold of what the healthy ready replicas serve (`util`), and not
/// overloaded. Returns how long the pool has been idle and whether it is released to its minimum.
fn idle(config: &PoolConfig, mem: &mut Memory, now: f64, util: f64, overloaded: bool) -> (f64, bool) {
    if util < config.idle_utilization && !overloaded {
        mem.idle_since.get_or_insert(now);
    } else {
        mem.idle_since = None;
    }
    let idle_for = mem.idle_since.map_or(0.0, |s| now - s);
    (idle_for, config.idle_reclaim && mem.idle_since.is_some() && idle_for >= config.idle_s)
}

/// The budget stage before the route: judged on the burn now. Degrade sizes again on the cheapest tier
/// (no new on-demand, spot past its fraction within its class maximum); Hold keeps what runs (and the
/// configured minimums). Returns the replicas Hold trimmed and whether Degrade sized again.
#[allow(clippy::too_many_arguments)]
fn budget_stage(
    sizing: &Sizing,
    action: Option<BudgetAction>,
    over_now: bool,
    obs: &ClassCounts,
    bounds: &mut Bounds,
    alloc: &mut allocate::Allocation,
    target: &mut PerClass<u32>,
    damping: &mut PerClass<scale_down::Damping>,
) -> (u32, bool) {
    let config = sizing.config;
    let mut trimmed = 0;
    let mut degraded = false;
    if over_now && action == Some(BudgetAction::Degrade) {
        *bounds = Bounds { spot_fraction: 1.0, on_demand_max: obs.desired[Class::OnDemand], ..*bounds };
        *alloc = sizing.fill(bounds);
        (*target, *damping) = sizing.settle(alloc, bounds);
        degraded = true;
    }
    if over_now && action == Some(BudgetAction::Hold) {
        let mins = PerClass::from_fn(|c| allocate::class_min(config, c));
        for c in Class::ALL {
            let keep = obs.desired[c].max(mins[c]);
            trimmed += target[c].saturating_sub(keep);
            target[c] = target[c].min(keep);
        }
        // The configured minimums still hold.
        allocate::fit_limits(config, target, bounds);
    }
    (trimmed, degraded)
}

/// A tick on fresh signals: the outlook, then the stages in their order — sizing ([`Sizing`]: fill,
/// overload guard, idle release, stabilisation, limits), budget (Degrade sizes again on the cheapest
/// tier, Hold keeps what runs, neither lets additions pass the allowance), route ([`traffic::weights`]
/// from the target's ready capacity) — and the reasons.
#[allow(clippy::too_many_arguments)]
fn fresh(
    config: &PoolConfig,
    snapshot: &Snapshot,
    mut mem: Memory,
    believed: &Economics,
    obs: &ClassCounts,
    now: f64,
    rate: f64,
    new_interruptions: u32,
) -> Plan {
    let healthy = obs.healthy();
    let o = Outlook::new(config, snapshot, &mut mem, believed, obs, now, rate);
    let (econ, fc, windows) = (&o.econ, &o.fc, o.windows);
    let spot_max = if o.shortage == spot::Shortage::Replaced { obs.ready[Class::Spot] } else { u32::MAX };
    let scarce_spot_ready = (o.shortage == spot::Shortage::Bridged).then_some(obs.ready[Class::Spot]);
    let mut bounds = Bounds {
        spot_fraction: o.spot_fraction,
        on_demand_max: u32::MAX,
        interrupted: obs.interrupted,
        spot_max,
        scarce_spot_ready,
    };
    // Overload adds a replica only when the external API cannot take the load shed from the replicas:
    // where it can, shedding is enough and whether more replicas pay stays the rent-or-buy decision
    // (otherwise every short spike that lifts the observed latency would buy GPUs).
    // Where the overload lowered μ, `allocate` has already bought for what the replicas really serve;
    // the extra replica is for an overload that shows no figure to go by.
    let overload_add =
        o.overloaded.is_some() && !o.capped && !can_shed(config, econ, rate, f64::from(healthy) * econ.mu);
    let util = rate / (f64::from(healthy.max(1)) * econ.mu);
    let (idle_for, idle_release) = idle(config, &mut mem, now, util, o.overloaded.is_some());

    let sizing = Sizing {
        config,
        econ,
        fc,
        rent: forecast::Rent { history: &snapshot.load.history, now, now_rps: rate },
        obs,
        overloaded: o.overloaded.is_some(),
        overload_add,
        idle_release,
        shortage: o.shortage,
        wmax: PerClass::default(),
    };
    // Stages 1-3: fill, overload guard, idle release.
    let mut alloc = sizing.fill(&bounds);
    // The stabilisation window remembers what this tick wanted.
    let longest = windows.iter().copied().fold(0.0, f64::max);
    if mem.recommendations.is_empty() {
        // First tick (or state lost): what runs counts as wanted, so a window must pass before any
        // scale-down; a fresh start is no evidence that less is enough.
        scale_down::record(&mut mem, now, obs.desired, longest);
    }
    scale_down::record(&mut mem, now, alloc.replicas, longest);
    let sizing = Sizing { wmax: scale_down::window_max(&mem, now, windows), ..sizing };
    // Stages 4-5: stabilisation and limits.
    let (mut target, mut damping) = sizing.settle(&alloc, &bounds);

    // Stage 6, budget: judged on the burn now and on the burn the plan would have.
    let allowance = budget::allowance(config.budget.as_ref(), &snapshot.spend);
    let ext_now = rate * f64::from(snapshot.traffic.external_weight.min(100)) / 100.0;
    let burn_now = econ.gpu_usd_per_hour(obs.desired) + ext_usd_per_hour(econ, ext_now);
    let action = config.budget.as_ref().map(|b| b.on_exceeded);
    let over_now = budget::exceeds(allowance, burn_now);
    let (mut trimmed, degraded) =
        budget_stage(&sizing, action, over_now, obs, &mut bounds, &mut alloc, &mut target, &mut damping);
    // Stage 7, route. Weights are set for the recent peak: they hold until the next tick, and bursts
    // between ticks must not overload the replicas.
    let ready_rps_for = |t: &PerClass<u32>| {
        let usable = healthy.min(t.iter().sum::<u32>().saturating_sub(obs.interrupted_total()));
        f64::from(usable) * econ.mu
    };
    // Overloaded: the replicas keep at most part of what they receive now, the API takes the rest.
    let route_rps = match &o.overloaded {
        // Kept above zero: replicas are ready, so the no-endpoints rule (all external, past the
        // API's limits) does not apply.
        Some(ov) => overload::kept_rps(ov, ready_rps_for(&target), rate, config.tick_s).max(1e-9),
        None => ready_rps_for(&target),
    };
    let weights = traffic::weights(config, fc.recent_peak_rps.max(rate), rate, route_rps);
    // Hold and Degrade never let additions pass the allowance.
    let burn_of = |t: &PerClass<u32>| burn(config, econ, obs, Some((rate, fc.recent_peak_rps)), t);
    if let (Some(a), Some(BudgetAction::Hold | BudgetAction::Degrade)) = (allowance, action) {
        let floor = PerClass::from_fn(|c| obs.desired[c].max(allocate::class_min(config, c)));
        let total_floor = allocate::pool_floor(config);
        trimmed += budget::trim_additions(&mut target, floor, total_floor, econ.replica_hour, a.usd_per_hour, burn_of);
    }
    let usd_per_hour = burn_of(&target);
    let budget_exceeded = over_now || budget::exceeds(allowance, usd_per_hour);

    mem.last_safe = Some((now, target, weights));
    // What this tick showed of the replicas' capacity counts from the next tick on.
    learn::update(config, snapshot, &believed.capacity, o.overloaded.as_ref(), &mut mem, now, rate);
    let ctx = Context {
        config,
        econ,
        fc,
        obs,
        alloc: &alloc,
        target,
        damping,
        windows,
        weights,
        previous: snapshot.traffic,
        rate,
        ready_rps: ready_rps_for(&target),
        idle_release,
        idle_for,
        overload: o.overloaded.as_ref().map(|ov| ov.why.clone()),
        overload_backlog: o.overloaded.as_ref().map_or(0.0, |ov| ov.backlog),
        spot_halved: o.spot_halved,
        shortage: o.shortage,
        interruptions_per_hour: spot::per_hour(&mem),
        new_interruptions,
        trimmed,
        degraded,
        budget_exceeded,
        action,
        projected_month: budget::projected_month(&snapshot.spend, usd_per_hour),
    };
    let changes = reasons::changes(&ctx);
    let summary = reasons::summary(&ctx, usd_per_hour);
    finish(config, target, weights, changes, summary, false, budget_exceeded, usd_per_hour, mem, &econ.capacity)
}

/// Safety net: observed overload is a shortfall whatever the model says (`overload.rs`). With
/// `learnFromMetrics`, what it shows a replica to serve caps μ for this whole tick
/// (`learn::overload_bound`; learning keeps it for the next), so the replicas bought, where they are the
/// cheaper way or the API cannot take the excess, the share shed, the burn and the reasons all follow
/// what the replicas really do. Without learning the configured capacity is trusted: the overload
/// sheds load and adds a replica only where the API cannot take it (`raise_for_overload`). Returns
/// the capped economics (`None` when nothing capped μ) and the overload.
pub(crate) fn overload_economics(
    config: &PoolConfig,
    snapshot: &Snapshot,
    memory: &Memory,
    econ: &Economics,
    obs: &ClassCounts,
    now: f64,
    rate: f64,
) -> (Option<Economics>, Option<overload::Overload>) {
    let healthy = obs.healthy();
    let overloaded = overload::detect(config, snapshot, now, rate, f64::from(healthy) * econ.mu);
    let capped = overloaded
        .as_ref()
        .filter(|_| config.learn_from_metrics)
        .and_then(|o| learn::overload_bound(config, snapshot, memory, now, o, healthy, econ.mu))
        .map(|b| econ.capped(b.rps, b.why));
    (capped, overloaded)
}

/// Whether the external API can take what the overload net sheds: everything above the replicas' kept
/// share of the demand (within its max share and rate limit).
fn can_shed(config: &PoolConfig, econ: &Economics, rate: f64, ready_rps: f64) -> bool {
    let kept = ready_rps.min(rate) * overload::KEEP_SHARE;
    allocate::external_capacity(config, econ, rate) + 1e-9 >= rate - kept
}

/// Signals are stale or missing: hold the last safe plan (or what runs), never scale down. The only
/// additions are replacements for interrupted replicas, whose share moves to the external API.
fn stale(
    config: &PoolConfig,
    snapshot: &Snapshot,
    mut mem: Memory,
    econ: &Economics,
    obs: &ClassCounts,
    why: String,
) -> Plan {
    mem.idle_since = None;
    let safe = mem.last_safe.map(|(_, r, _)| r).unwrap_or(obs.desired);
    // The external bill is unknown without a rate: the budget is judged on the GPUs.
    let allowance = budget::allowance(config.budget.as_ref(), &snapshot.spend);
    let burn_now = econ.gpu_usd_per_hour(obs.desired);
    let over = budget::exceeds(allowance, burn_now);
    let action = config.budget.as_ref().map(|b| b.on_exceeded);
    let hold_budget = over && action == Some(BudgetAction::Hold);
    let mut target = obs.desired;
    for c in Class::ALL {
        let max = allocate::class_max(config, c);
        let mut want = safe[c].max(obs.desired[c]).max(allocate::class_min(config, c));
        if !hold_budget {
            want += obs.interrupted[c];
        }
        target[c] = obs.desired[c].max(want.min(max));
    }
    // Additions (never what runs) give way to the pool maximum, dearest first.
    for c in [Class::OnDemand, Class::Spot, Class::Reserved] {
        let excess = target.iter().sum::<u32>().saturating_sub(config.max_replicas);
        target[c] -= excess.min(target[c] - obs.desired[c]);
    }
    // The pool minimum still holds (this only adds, unless what runs is above a lowered maximum).
    let (spot_fraction, _) = spot::fraction(config, &mem);
    let bounds = Bounds {
        spot_fraction,
        on_demand_max: u32::MAX,
        interrupted: obs.interrupted,
        spot_max: u32::MAX,
        scarce_spot_ready: None,
    };
    allocate::fit_limits(config, &mut target, &bounds);
    if let (Some(a), Some(BudgetAction::Hold | BudgetAction::Degrade)) = (allowance, action) {
        let floor = PerClass::from_fn(|c| obs.desired[c].max(allocate::class_min(config, c)));
        let total_floor = allocate::pool_floor(config);
        budget::trim_additions(&mut target, floor, total_floor, econ.replica_hour, a.usd_per_hour, |t| {
            burn(config, econ, obs, None, t)
        });
    }
    let weights = traffic::held(config, snapshot.traffic, obs.ready.iter().sum(), obs.healthy());
    let usd_per_hour = econ.gpu_usd_per_hour(target);
    let budget_exceeded = over || budget::exceeds(allowance, usd_per_hour);
    let (changes, summary) = reasons::stale(config, obs, &target, snapshot.traffic, weights, &why, usd_per_hour);
    finish(config, target, weights, changes, summary, true, budget_exceeded, usd_per_hour, mem, &econ.capacity)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    config: &PoolConfig,
    target: PerClass<u32>,
    traffic: TrafficWeights,
    changes: Vec<super::Change>,
    summary: String,
    signals_stale: bool,
    budget_exceeded: bool,
    usd_per_hour: f64,
    memory: Memory,
    capacity: &super::capacity::Capacity,
) -> Plan {
    Plan {
        capacity: capacity.clone(),
        replicas: target,
        node_pool_gpus: cost::node_pool_gpus(config, target),
        traffic,
        providers: Vec::new(),
        changes,
        summary,
        signals_stale,
        budget_exceeded,
        usd_per_hour,
        memory,
    }
}
