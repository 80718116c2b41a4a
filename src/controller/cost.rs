//! The ledger step of a reconcile (pure): what the pool uses now, integrated into `status.cost`, and
//! the Event for time that could not be billed (`docs/actuation-and-cost.md`, "Cost ledger").

use jiff::Timestamp;
use kube::runtime::events::{Event, EventType};

use crate::actuate::Observed;
use crate::api::inference_pool::{CostStatus, ExternalProvider, PerClass};
use crate::ledger::{self, Accrual, FinopsInput, FinopsTick, LedgerConfig, Usage};
use crate::planner::{Class, LoadSignals, Prices, TrafficWeights};

/// Reason of the Event raised when part of an interval was not billed.
pub const UNBILLED_REASON: &str = "CostNotCounted";

/// What the ledger step gives the reconcile.
pub struct CostStep {
    /// The cost status to write (the previous one when the ledger could not be updated).
    pub status: CostStatus,
    /// Why the ledger could not be updated, for the pool's Degraded condition.
    pub problem: Option<String>,
    /// An Event to publish: time that could not be billed.
    pub event: Option<Event>,
    /// What this accrual added (tokens, requests, spend per class and tenant), for the counters.
    pub tick: FinopsTick,
    /// Seconds integrated.
    pub accrued_seconds: f64,
}

/// What the pool is using now, as the ledger bills it: the replicas that exist per class (the
/// workload's status.replicas: ready or starting, both hold GPUs), not the replicas asked for; and the
/// external API's token rates from the pool's demand and the route's external weight, split across the
/// providers by their route weights.
pub fn usage(
    observed: &Observed,
    load: &LoadSignals,
    traffic: TrafficWeights,
    provider_weights: &[u32],
    gpus_per_replica: u32,
) -> Usage {
    let mut replicas = PerClass::<u32>::default();
    for c in Class::ALL {
        if let Some(w) = &observed.workloads[c] {
            replicas[c] = w.current;
        }
    }
    Usage::observed(replicas, gpus_per_replica, load, traffic.external_weight, provider_weights)
}

/// The latency of the external requests as the ledger counts them against the SLO: the slowest
/// provider the route sends any to (a provider without a stated latency is taken to meet the SLO).
pub fn external_latency(providers: &[ExternalProvider], provider_weights: &[u32]) -> Option<f64> {
    providers
        .iter()
        .zip(provider_weights)
        .filter(|(_, w)| **w > 0)
        .filter_map(|(p, _)| p.api.latency_seconds)
        .reduce(f64::max)
}

/// Integrate `usage` from `prev.accruedUntil` to `now`: spend, then tokens, unit costs, savings and
/// tenants over the same interval.
pub fn accrue(prev: &CostStatus, usage: &Usage, prices: &Prices, now: Timestamp, finops: &FinopsInput) -> CostStep {
    let failed = |e: ledger::LedgerError| CostStep {
        status: prev.clone(),
        problem: Some(format!("cost ledger: {e}")),
        event: None,
        tick: FinopsTick::default(),
        accrued_seconds: 0.0,
    };
    let mut a = match ledger::accrue(prev, usage, prices, now, &LedgerConfig::default()) {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let tick = match ledger::accrue_finops(prev, &mut a, usage, prices, finops) {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    CostStep {
        event: unbilled_event(prev, &a),
        accrued_seconds: a.accrued_seconds,
        status: a.status,
        problem: None,
        tick,
    }
}

/// The Warning Event for the part of a gap the ledger did not bill, if any.
pub fn unbilled_event(prev: &CostStatus, accrual: &Accrual) -> Option<Event> {
    if accrual.uncounted_seconds <= 0.0 {
        return None;
    }
    let since = prev.accrued_until.as_deref().unwrap_or("the last accrual");
    let cap = LedgerConfig::default().max_gap_seconds;
    let note = format!(
        "{:.0} s since status.cost.accruedUntil {since} were not billed: the ledger counts at most the last \
         {cap:.0} s of a gap (no leader for that long, or a status restored from an old backup); \
         month-to-date spend is low by that time's cost",
        accrual.uncounted_seconds
    );
    Some(Event {
        type_: EventType::Warning,
        reason: UNBILLED_REASON.into(),
        note: Some(note),
        action: "AccrueCost".into(),
        secondary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::ScaleView;

    const NOW: &str = "2026-03-10T12:00:00Z";

    fn prices() -> Prices {
        Prices { gpu_hour: [1.0, 2.0, 4.0].into(), external: vec![] }
    }

    fn now() -> Timestamp {
        NOW.parse().expect("time")
    }

    /// Bug: the ledger billed the replicas asked for (spec.replicas) instead of the ones that exist.
    #[test]
    fn the_ledger_bills_the_replicas_that_exist_not_the_ones_asked_for() {
        // Spot was just scaled from 1 to 4: the workload asks for 4, one pod exists so far. On-demand
        // was scaled from 3 to 0 and two pods are still terminating.
        let mut observed = Observed::default();
        observed.workloads[Class::Spot] = Some(ScaleView { replicas: 4, current: 1, ..Default::default() });
        observed.workloads[Class::OnDemand] = Some(ScaleView { replicas: 0, current: 2, ..Default::default() });
        let u = usage(&observed, &LoadSignals::default(), TrafficWeights::default(), &[], 2);
        assert_eq!(u.replicas, PerClass { reserved: 0, spot: 1, on_demand: 2 });
        // One spot replica and two on-demand ones of 2 GPUs each: 2 × $2 + 4 × $4 per hour.
        let step = accrue(&CostStatus::default(), &u, &prices(), now(), &FinopsInput::default());
        assert_eq!(step.status.usd_per_hour, 20.0);
    }

    /// Bug: time a gap longer than the ledger's cap left unbilled was dropped silently; the docs
    /// promise an Event.
    #[test]
    fn a_gap_longer_than_the_cap_raises_a_warning_event_naming_the_unbilled_time() {
        let prev = CostStatus { accrued_until: Some("2026-03-10T09:00:00Z".into()), ..Default::default() };
        let u = Usage {
            replicas: PerClass { reserved: 1, spot: 0, on_demand: 0 },
            gpus_per_replica: 1,
            ..Default::default()
        };
        let step = accrue(&prev, &u, &prices(), now(), &FinopsInput::default());
        assert!(step.problem.is_none());
        let event = step.event.expect("an Event for the two uncounted hours");
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.reason, UNBILLED_REASON);
        let note = event.note.unwrap_or_default();
        assert!(note.contains("7200 s") && note.contains("2026-03-10T09:00:00Z"), "{note}");
        // Only the last hour was billed.
        assert_eq!(step.status.month_to_date_usd, 1.0);

        // A normal tick, and a second accrual at the same instant: no Event.
        let tick = CostStatus { accrued_until: Some("2026-03-10T11:59:45Z".into()), ..Default::default() };
        assert!(accrue(&tick, &u, &prices(), now(), &FinopsInput::default()).event.is_none());
        assert!(accrue(&step.status, &u, &prices(), now(), &FinopsInput::default()).event.is_none());
    }

    #[test]
    fn a_ledger_error_keeps_the_previous_status_and_says_why() {
        let prev = CostStatus { accrued_until: Some("yesterday".into()), ..Default::default() };
        let step = accrue(&prev, &Usage::default(), &prices(), now(), &FinopsInput::default());
        assert_eq!(step.status, prev);
        assert!(step.problem.unwrap_or_default().contains("accruedUntil"));
        assert!(step.event.is_none());
    }
}
