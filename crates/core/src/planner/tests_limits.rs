//! Table tests of the limits around the plan: spot interruptions and the spot share, budget actions,
//! stale signals, and the external API's permission, share and rate limit. Same world as `tests.rs`.

use super::tests::{T0, config, reason, snapshot};
use super::*;
use crate::status::BudgetAction;
use crate::status::PerClass;

#[test]
fn spot_interruption_moves_traffic_and_starts_a_replacement() {
    // 30 rps on 2 reserved + 4 spot (30 rps ready); one spot node gets an interruption notice.
    let mut s = snapshot(|_| 30.0, [(2, 2), (4, 4), (0, 0)]);
    s.classes[Class::Spot].interrupted = 1;
    let p = plan(&config(), &s, &Memory::default(), T0);
    // 4 spot for the load + 1 spare + 1 replacement for the interrupted one.
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 6, on_demand: 0 });
    assert_eq!(p.traffic.external_weight, 17, "the interrupted replica's 5 rps of 30 moved at once");
    assert_eq!(p.memory.spot_interruptions, vec![T0]);
    assert!(
        reason(&p, Class::Spot).starts_with("spot 4->6: 1 replica has an interruption notice: starting 1 replacement"),
        "{}",
        reason(&p, Class::Spot)
    );
    // The same notice at the next tick is not counted again.
    let mut s2 = s.clone();
    s2.load.request_rate = Some(Sample { value: 30.0, at: T0 + 15.0 });
    let p2 = plan(&config(), &s2, &p.memory, T0 + 15.0);
    assert_eq!(p2.memory.spot_interruptions.len(), 1);

    // Three of four spot replicas interrupted: 3 healthy replicas serve 15 of 30 rps.
    s.classes[Class::Spot].interrupted = 3;
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 50);
    assert_eq!(p.memory.spot_interruptions.len(), 3);
}

#[test]
fn frequent_interruptions_halve_the_spot_share() {
    let s = snapshot(|_| 40.0, [(2, 2), (3, 3), (0, 0)]);
    let calm = plan(&config(), &s, &Memory::default(), T0);
    let memory = Memory { spot_interruptions: vec![T0 - 3000.0, T0 - 2000.0, T0 - 100.0], ..Default::default() };
    let stormy = plan(&config(), &s, &memory, T0);
    assert!(
        stormy.replicas.spot < calm.replicas.spot,
        "{:?} vs {:?}\n{:#?}\n{:#?}",
        stormy.replicas,
        calm.replicas,
        stormy.changes,
        calm.changes
    );
    assert!(stormy.summary.contains("spot share halved"), "{}", stormy.summary);
    // Interruptions older than an hour are forgotten.
    let old = Memory { spot_interruptions: vec![T0 - 7200.0, T0 - 5000.0, T0 - 4000.0], ..Default::default() };
    assert_eq!(plan(&config(), &s, &old, T0).replicas, calm.replicas);
}

fn with_budget(action: BudgetAction, hourly: f64) -> PoolConfig {
    PoolConfig {
        budget: Some(BudgetConfig { monthly_usd: None, hourly_usd: Some(hourly), on_exceeded: action }),
        ..config()
    }
}

#[test]
fn budget_actions() {
    // 40 rps for 30 min on 2 reserved + 1 on-demand: the plan wants several paid replicas more.
    let s = snapshot(|t| if t > T0 - 1800.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (1, 1)]);
    let free = plan(&config(), &s, &Memory::default(), T0);
    assert!(free.replicas.total() > 3 && !free.budget_exceeded);

    let alert = plan(&with_budget(BudgetAction::Alert, 1.0), &s, &Memory::default(), T0);
    assert!(alert.budget_exceeded);
    assert_eq!(alert.replicas, free.replicas, "Alert only flags");

    let hold = plan(&with_budget(BudgetAction::Hold, 1.0), &s, &Memory::default(), T0);
    assert!(hold.budget_exceeded);
    assert_eq!(hold.replicas, PerClass { reserved: 2, spot: 0, on_demand: 1 }, "Hold adds nothing");
    assert!(hold.summary.contains("budget exceeded (Hold)"), "{}", hold.summary);

    // Degrade: 40 rps on 2 reserved with 80% external ($4/h GPUs + $11.52/h external) against $12/h.
    // Unbudgeted, the plan adds spot within its 70% fraction and leaves 10 rps external (see
    // `lasting_step_is_bought_after_the_buy_time`); degraded, it puts the load on spot past the
    // fraction, which also lowers the bill to $11/h.
    let mut s = snapshot(|t| if t > T0 - 1800.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    s.traffic = TrafficWeights { self_hosted_weight: 20, external_weight: 80 };
    let free = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(free.replicas, PerClass { reserved: 2, spot: 5, on_demand: 0 });
    let degrade = plan(&with_budget(BudgetAction::Degrade, 12.0), &s, &Memory::default(), T0);
    assert!(degrade.budget_exceeded);
    assert_eq!(degrade.replicas, PerClass { reserved: 2, spot: 7, on_demand: 0 });
    assert!((degrade.usd_per_hour - 11.0).abs() < 1e-9, "{}", degrade.summary);
    assert!(reason(&degrade, Class::Spot).contains("budget exceeded (Degrade): cheapest tier only"));
    // A tighter budget: spot replicas that would not lower the bill are not added.
    let tight = plan(&with_budget(BudgetAction::Degrade, 5.0), &s, &Memory::default(), T0);
    assert_eq!(tight.replicas, PerClass { reserved: 2, spot: 6, on_demand: 0 }, "{}", tight.summary);
    assert!(tight.summary.contains("1 replica not added"), "{}", tight.summary);
}

#[test]
fn stale_signals_hold_and_never_scale_down() {
    let mut s = snapshot(|_| 1.0, [(2, 2), (4, 4), (3, 3)]);
    s.load.request_rate = Some(Sample { value: 1.0, at: T0 - 300.0 });
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert!(p.signals_stale);
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 4, on_demand: 3 });
    assert!(p.changes.is_empty());
    assert!(p.summary.starts_with("signals stale (request rate is 300 s old (max 120 s)): holding 9 replicas"));

    // Missing altogether, with a larger last safe plan: back up to it.
    s.load.request_rate = None;
    let safe = PerClass { reserved: 2, spot: 6, on_demand: 1 };
    let memory = Memory { last_safe: Some((T0 - 600.0, safe, TrafficWeights::default())), ..Default::default() };
    let p = plan(&config(), &s, &memory, T0);
    assert_eq!(p.replicas, PerClass { reserved: 2, spot: 6, on_demand: 3 });
    assert_eq!(
        reason(&p, Class::Spot),
        "spot 4->6: back to the last safe plan (signals stale: request rate is missing)"
    );
    assert_eq!(p.memory.last_safe, memory.last_safe, "a stale tick is not a safe plan");

    // An interruption while stale: replacement started, its share moved external.
    s.classes[Class::Spot].interrupted = 2;
    let p = plan(&config(), &s, &Memory::default(), T0);
    assert_eq!(p.replicas.spot, 6);
    assert_eq!(p.traffic.external_weight, 23, "2 of 9 ready replicas");
}

#[test]
fn external_forbidden_keeps_everything_inside() {
    let mut c = config();
    c.external = None;
    let s = snapshot(|t| if t > T0 - 60.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&c, &s, &Memory::default(), T0);
    assert_eq!(p.traffic, TrafficWeights { self_hosted_weight: 100, external_weight: 0 });
    assert!(p.replicas.total() >= 8, "the spike must be served inside: {:?}", p.replicas);
    // Even with nothing ready, traffic stays on the only path it may take.
    let s = snapshot(|_| 10.0, [(0, 0), (2, 0), (0, 0)]);
    let p = plan(&c, &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 0);
}

#[test]
fn external_share_and_rate_limit_bound_the_overflow() {
    let mut c = config();
    c.external = Some(ExternalConfig { max_share: 0.5, max_rps: Some(8.0), latency_s: 2.0, priced_by: 0 });
    // A minute-old spike: the API takes what its limit allows at once, but no replica is started for a
    // burst that may be gone before it is ready (the lead time here is 6 minutes).
    let s = snapshot(|t| if t > T0 - 60.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&c, &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 20, "8 rps of 40");
    assert_eq!(p.replicas.total(), 2, "{:?}", p.replicas);
    let route = p.changes.iter().find(|c| matches!(c.kind, ChangeKind::Traffic { .. })).map(|c| c.reason.as_str());
    assert!(
        route.is_some_and(|r| r.contains("rate limit 8 rps") && r.contains("has not lasted the 6 min lead time")),
        "{route:?}"
    );
    // The same load once it has lasted the lead time: 40 - 8 = 32 rps must be on replicas, 7 replicas
    // (2 reserved + 5 paid) at least.
    let s = snapshot(|t| if t > T0 - 400.0 { 40.0 } else { 10.0 }, [(2, 2), (0, 0), (0, 0)]);
    let p = plan(&c, &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 20, "8 rps of 40");
    assert!(p.replicas.total() >= 7, "{:?}", p.replicas);
    assert!(reason(&p, Class::Spot).contains("the external API may take at most 8 rps"), "{:#?}", p.changes);
}
