//! Human-readable reasons: one per change, and a one-line summary. Written for the platform engineer
//! reading `kubectl describe`, so they state the numbers the decision was made on.

use crate::status::BudgetAction;
use crate::status::PerClass;

use super::allocate::{self, Allocation};
use super::economics::Economics;
use super::forecast::Forecast;
use super::scale_down::Damping;
use super::tick::ClassCounts;
use super::{Change, ChangeKind, Class, PoolConfig, TrafficWeights, spot};

/// Everything a fresh tick's reasons are written from.
pub(crate) struct Context<'a> {
    pub config: &'a PoolConfig,
    pub econ: &'a Economics,
    pub fc: &'a Forecast,
    pub obs: &'a ClassCounts,
    pub alloc: &'a Allocation,
    pub target: PerClass<u32>,
    pub damping: PerClass<Damping>,
    pub windows: PerClass<f64>,
    pub weights: TrafficWeights,
    pub previous: TrafficWeights,
    pub rate: f64,
    pub ready_rps: f64,
    pub idle_release: bool,
    pub idle_for: f64,
    /// What showed an overload, when the safety net is in force.
    pub overload: Option<String>,
    /// Requests queued beyond what the ready replicas clear within the SLO, while overloaded.
    pub overload_backlog: f64,
    pub spot_halved: bool,
    /// What replaces spot asked for and not arriving.
    pub shortage: spot::Shortage,
    pub interruptions_per_hour: f64,
    pub new_interruptions: u32,
    pub trimmed: u32,
    pub degraded: bool,
    pub budget_exceeded: bool,
    pub action: Option<BudgetAction>,
    pub projected_month: f64,
}

/// A number as a person writes it: whole numbers without decimals, others with one.
pub fn num(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 { format!("{:.0}", x.round()) } else { format!("{x:.1}") }
}

/// A duration as seconds or minutes.
pub fn dur(s: f64) -> String {
    if s >= 90.0 { format!("{} min", num(s / 60.0)) } else { format!("{} s", num(s)) }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn external_note(w: TrafficWeights, cold: bool) -> String {
    if cold && w.external_weight == 100 {
        "; all traffic external while cold".into()
    } else if w.external_weight > 0 {
        format!("; external {}% until they are ready", w.external_weight)
    } else {
        String::new()
    }
}

fn up_reason(ctx: &Context, c: Class) -> String {
    let fc = ctx.fc;
    let mut parts = Vec::new();
    if ctx.obs.interrupted[c] > 0 {
        parts.push(format!(
            "{} an interruption notice: starting {}",
            plural(ctx.obs.interrupted[c], "replica has", "replicas have"),
            plural(ctx.obs.interrupted[c], "replacement", "replacements")
        ));
    }
    if let Some(why) = &ctx.overload {
        if ctx.econ.capacity.source == super::CapacitySource::Learned && ctx.econ.capacity.evidence.is_some() {
            parts.push(format!("overload: {}", ctx.econ.capacity.describe()));
        } else {
            parts.push(format!("overload: {why}, so the ready replicas serve less than their rating"));
        }
    }
    let horizon = dur(fc.horizon_s);
    if fc.peak_rps > ctx.ready_rps + 1e-9 {
        parts.push(format!(
            "forecast {} rps over the next {horizon} exceeds ready capacity {} rps",
            num(fc.peak_rps),
            num(ctx.ready_rps)
        ));
    } else if ctx.obs.interrupted[c] == 0 {
        parts.push(format!("forecast {} rps over the next {horizon}", num(fc.peak_rps)));
    }
    if c != Class::Reserved && fc.base_rps + 1e-9 < fc.peak_rps && ctx.econ.external_substitutes() {
        parts.push(format!(
            "{} rps of it has lasted the {} buy time (break-even utilisation {}%)",
            num(fc.base_rps),
            dur(fc.persist_s),
            num(ctx.econ.break_even(c) * 100.0)
        ));
    }
    if let Some(rb) = ctx.alloc.rented.filter(|rb| rb.class == c) {
        parts.push(format!(
            "the load between {} and {} rps kept a replica {}% busy over the last {}, which repays its start-up",
            num(rb.from_rps),
            num(rb.to_rps),
            num(rb.busy * 100.0),
            dur(rb.over_s)
        ));
    }
    if ctx.alloc.must_rps > 0.0 && ctx.config.external_path().is_some() {
        let cap = allocate::external_capacity(ctx.config, ctx.econ, fc.peak_rps);
        if ctx.econ.external_substitutes() {
            parts.push(format!("the external API may take at most {} rps", num(cap)));
        } else {
            parts.push(format!(
                "external latency {} s misses the SLO {} s",
                num(ctx.config.external_path().map_or(0.0, |e| e.latency_s)),
                num(ctx.config.slo_latency_s)
            ));
        }
    }
    if c == Class::Spot && ctx.config.spare_spot_replicas > 0 && ctx.target[c] > 0 {
        parts
            .push(format!("incl. {} against interruptions", plural(ctx.config.spare_spot_replicas, "spare", "spares")));
    }
    if c == Class::Spot && ctx.alloc.spot_over_fraction {
        parts.push("past the spot fraction: no other class has room".into());
    }
    if c == Class::OnDemand && ctx.shortage == spot::Shortage::Replaced {
        parts.push("spot capacity unavailable (asked-for spot replicas never became ready)".into());
    }
    if c == Class::OnDemand && ctx.shortage == spot::Shortage::Bridged {
        parts.push(
            "spot capacity unavailable: on-demand for the load it pays, the external API carries the rest of the \
             pending spot's share"
                .into(),
        );
    }
    if c == Class::OnDemand && ctx.spot_halved {
        parts.push(format!(
            "spot share halved after {} interruptions in the last hour",
            num(ctx.interruptions_per_hour)
        ));
    }
    if ctx.target[c] == allocate::class_min(ctx.config, c) && ctx.alloc.replicas[c] <= ctx.obs.desired[c] {
        parts.push("raised to the class minimum".into());
    }
    if ctx.degraded {
        parts.push("budget exceeded (Degrade): cheapest tier only".into());
    }
    format!("{}{}", parts.join("; "), external_note(ctx.weights, false))
}

fn down_reason(ctx: &Context, c: Class) -> String {
    let total: u32 = ctx.target.iter().sum();
    if ctx.idle_release {
        return format!(
            "idle for {} below {}% utilisation: released{}",
            dur(ctx.idle_for),
            num(ctx.config.idle_utilization * 100.0),
            external_note(ctx.weights, total == 0)
        );
    }
    let mut s = format!(
        "forecast {} rps (demand {} rps) needs {} here",
        num(ctx.fc.peak_rps),
        num(ctx.rate),
        ctx.alloc.replicas[c]
    );
    match ctx.damping[c] {
        Damping::Window => s.push_str(&format!(
            "; keeping {} for the {} rent-or-buy window (restarting would cost more than keeping)",
            ctx.target[c],
            dur(ctx.windows[c])
        )),
        Damping::Step => s.push_str(&format!("; at most {} removed per tick", ctx.config.max_scale_down_step)),
        Damping::Bridge => {
            s.push_str(&format!("; keeping {} ready until the replicas taking over are ready", ctx.target[c]))
        }
        Damping::None => s.push_str(&format!(" and has for the whole {} rent-or-buy window", dur(ctx.windows[c]))),
    }
    if ctx.degraded {
        s.push_str("; budget exceeded (Degrade): moving to the cheapest tier");
    }
    if c == Class::Spot && ctx.shortage == spot::Shortage::Replaced {
        s.push_str("; spot capacity unavailable: pending spot replicas cancelled, on-demand instead for now");
    }
    s
}

/// One change per class whose count changes, and one for the route weights.
pub(crate) fn changes(ctx: &Context) -> Vec<Change> {
    let mut out = Vec::new();
    for c in Class::ALL {
        let (from, to) = (ctx.obs.desired[c], ctx.target[c]);
        if from == to {
            continue;
        }
        let why = if to > from { up_reason(ctx, c) } else { down_reason(ctx, c) };
        out.push(Change {
            kind: ChangeKind::Replicas { class: c, from, to },
            reason: format!("{c} {from}->{to}: {why}"),
        });
    }
    if ctx.weights != ctx.previous {
        out.push(traffic_change(ctx));
    }
    out
}

fn traffic_change(ctx: &Context) -> Change {
    let (a, b) = (ctx.previous.external_weight, ctx.weights.external_weight);
    let peak = ctx.fc.recent_peak_rps;
    let mut why = if peak > ctx.rate + 0.05 {
        format!(
            "demand {} rps (peak {} rps in the last {}), ready capacity {} rps",
            num(ctx.rate),
            num(peak),
            dur(ctx.fc.burst_window_s),
            num(ctx.ready_rps)
        )
    } else {
        format!("demand {} rps, ready capacity {} rps", num(ctx.rate), num(ctx.ready_rps))
    };
    if ctx.config.external_path().is_none() {
        why = "no external API (none configured, data may not leave the cluster, or its share is 0)".into();
    } else if ctx.ready_rps <= 0.0 {
        why.push_str(": no ready replicas, all traffic external");
    } else if let Some(e) = ctx.config.external_path()
        && b > 0
        && f64::from(b) + 0.5 < 100.0 * (peak - ctx.ready_rps) / peak.max(1e-9)
    {
        why.push_str(&format!(
            ": external capped by its max share {}%{}",
            num(e.max_share * 100.0),
            e.max_rps.map_or(String::new(), |r| format!(" and rate limit {} rps", num(r)))
        ));
        // Replicas for what the API cannot take are bought for the demand that has lasted a lead time
        // (`allocate`): say so when that is why none start for this overflow.
        let over_peak = peak - allocate::external_capacity(ctx.config, ctx.econ, peak);
        if ctx.alloc.must_rps + 1e-9 < over_peak {
            why.push_str(&format!(
                "; the demand over it has not lasted the {} lead time, so no replica is started for it",
                dur(ctx.fc.horizon_s)
            ));
        }
    }
    if let Some(o) = &ctx.overload {
        why.push_str(&format!("; overload: {o}, shedding a quarter of the self-hosted load"));
        if ctx.overload_backlog >= 0.5 {
            why.push_str(&format!(
                " and what lets the {} requests queued beyond that drain within a tick",
                num(ctx.overload_backlog)
            ));
        }
    }
    let n = ctx.obs.interrupted_total();
    if n > 0 {
        why.push_str(&format!("; {} with an interruption notice no longer counted", plural(n, "replica", "replicas")));
    }
    if ctx.new_interruptions > 0 {
        why.push_str(" (new notice)");
    }
    Change {
        kind: ChangeKind::Traffic { from_external: a, to_external: b },
        reason: format!("external {a}%->{b}%: {why}"),
    }
}

/// The one-line summary of a fresh plan.
pub(crate) fn summary(ctx: &Context, usd_per_hour: f64) -> String {
    let t = ctx.target;
    let mut s = format!(
        "{} replicas (reserved {}, spot {}, onDemand {}), external {}%, ${:.2}/h; demand {} rps, forecast {} rps",
        t.iter().sum::<u32>(),
        t[Class::Reserved],
        t[Class::Spot],
        t[Class::OnDemand],
        ctx.weights.external_weight,
        usd_per_hour,
        num(ctx.rate),
        num(ctx.fc.peak_rps)
    );
    if ctx.budget_exceeded {
        let action = ctx.action.map_or("Alert", |a| match a {
            BudgetAction::Alert => "Alert",
            BudgetAction::Degrade => "Degrade",
            BudgetAction::Hold => "Hold",
        });
        s.push_str(&format!("; budget exceeded ({action}), projected month ${:.0}", ctx.projected_month));
        if ctx.trimmed > 0 {
            s.push_str(&format!(", {} not added", plural(ctx.trimmed, "replica", "replicas")));
        }
    }
    if ctx.spot_halved {
        s.push_str("; spot share halved (frequent interruptions)");
    }
    if ctx.econ.capacity.source != super::CapacitySource::Configured {
        s.push_str(&format!("; {}", ctx.econ.capacity.describe()));
    }
    if ctx.shortage == spot::Shortage::Replaced {
        s.push_str("; spot unavailable, retrying later");
    }
    if let Some(o) = &ctx.overload {
        s.push_str(&format!("; overload: {o}"));
    }
    s
}

/// Changes and summary of a plan held on stale signals.
pub(crate) fn stale(
    config: &PoolConfig,
    obs: &ClassCounts,
    target: &PerClass<u32>,
    previous: TrafficWeights,
    weights: TrafficWeights,
    why: &str,
    usd_per_hour: f64,
) -> (Vec<Change>, String) {
    let mut out = Vec::new();
    for c in Class::ALL {
        let (from, to) = (obs.desired[c], target[c]);
        if from == to {
            continue;
        }
        let what = if obs.interrupted[c] > 0 {
            format!(
                "{} an interruption notice: starting {}",
                plural(obs.interrupted[c], "replica has", "replicas have"),
                plural(obs.interrupted[c], "replacement", "replacements")
            )
        } else {
            "back to the last safe plan".into()
        };
        out.push(Change {
            kind: ChangeKind::Replicas { class: c, from, to },
            reason: format!("{c} {from}->{to}: {what} (signals stale: {why})"),
        });
    }
    if weights != previous {
        let (a, b) = (previous.external_weight, weights.external_weight);
        let what = if config.external_path().is_none() {
            "no external API (none configured, data may not leave the cluster, or its share is 0)".to_string()
        } else if obs.healthy() == 0 {
            "no ready replicas, all traffic external".to_string()
        } else {
            format!(
                "{}' share moved external at once",
                plural(obs.interrupted_total(), "interrupted replica", "interrupted replicas")
            )
        };
        out.push(Change {
            kind: ChangeKind::Traffic { from_external: a, to_external: b },
            reason: format!("external {a}%->{b}%: {what} (signals stale: {why})"),
        });
    }
    let summary = format!(
        "signals stale ({why}): holding {} replicas (reserved {}, spot {}, onDemand {}), external {}%, ${:.2}/h; \
         never scaling down on unknown data",
        target.iter().sum::<u32>(),
        target[Class::Reserved],
        target[Class::Spot],
        target[Class::OnDemand],
        weights.external_weight,
        usd_per_hour
    );
    (out, summary)
}
