//! The ledger step of a reconcile (pure): what the pool uses now, integrated into `status.cost`
//! (`docs/actuation-and-cost.md`, "Cost ledger").

use jiff::Timestamp;

use crate::actuate::Observed;
use crate::api::inference_pool::{ClassReplicas, CostStatus};
use crate::ledger::{self, LedgerConfig, Usage};
use crate::planner::{Class, LoadSignals, Prices, TrafficWeights};

/// What the ledger step gives the reconcile.
pub struct CostStep {
    /// The cost status to write (the previous one when the ledger could not be updated).
    pub status: CostStatus,
    /// Why the ledger could not be updated, for the pool's Degraded condition.
    pub problem: Option<String>,
}

/// What the pool is using now, as the ledger bills it: the replicas that exist per class (the
/// workload's status.replicas: ready or starting, both hold GPUs), not the replicas asked for; and the
/// external API's token rates from the pool's demand and the route's external weight.
pub fn usage(observed: &Observed, load: &LoadSignals, traffic: TrafficWeights, gpus_per_replica: u32) -> Usage {
    let mut replicas = ClassReplicas::default();
    for c in Class::ALL {
        if let Some(w) = &observed.workloads[c as usize] {
            *replicas.get_mut(c) = w.current;
        }
    }
    Usage::observed(replicas, gpus_per_replica, load, traffic.external_weight)
}

/// Integrate `usage` from `prev.accruedUntil` to `now`.
pub fn accrue(prev: &CostStatus, usage: &Usage, prices: &Prices, now: Timestamp) -> CostStep {
    match ledger::accrue(prev, usage, prices, now, &LedgerConfig::default()) {
        Ok(a) => CostStep { status: a.status, problem: None },
        Err(e) => CostStep { status: prev.clone(), problem: Some(format!("cost ledger: {e}")) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::ScaleView;

    const NOW: &str = "2026-03-10T12:00:00Z";

    fn prices() -> Prices {
        Prices { gpu_hour: [1.0, 2.0, 4.0], external_input_token: 0.0, external_output_token: 0.0 }
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
        observed.workloads[Class::Spot as usize] = Some(ScaleView { replicas: 4, current: 1, ..Default::default() });
        observed.workloads[Class::OnDemand as usize] =
            Some(ScaleView { replicas: 0, current: 2, ..Default::default() });
        let u = usage(&observed, &LoadSignals::default(), TrafficWeights::default(), 2);
        assert_eq!(u.replicas, ClassReplicas { reserved: 0, spot: 1, on_demand: 2 });
        // One spot replica and two on-demand ones of 2 GPUs each: 2 × $2 + 4 × $4 per hour.
        let step = accrue(&CostStatus::default(), &u, &prices(), now());
        assert_eq!(step.status.usd_per_hour, 20.0);
    }

    #[test]
    fn a_ledger_error_keeps_the_previous_status_and_says_why() {
        let prev = CostStatus { accrued_until: Some("yesterday".into()), ..Default::default() };
        let step = accrue(&prev, &Usage::default(), &prices(), now());
        assert_eq!(step.status, prev);
        assert!(step.problem.unwrap_or_default().contains("accruedUntil"));
    }
}
