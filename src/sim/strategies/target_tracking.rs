//! target-tracking: the HPA/KEDA way. Replicas follow the observed request rate at a 70%
//! utilisation target, scale up at once and scale down only after the policy's stabilisation
//! window; added capacity is on-demand only, no spot and no external API. The reserved replicas
//! the pool has already paid for run all the time under it (any sane setup uses them).

use super::{BASELINE_TARGET_UTILIZATION, Decision, Observation, Stabilized, Strategy};
use crate::api::inference_pool::CapacityClassName as Class;
use crate::sim::spec::SimSpec;

/// The target-tracking baseline.
pub struct TargetTracking<'a> {
    spec: &'a SimSpec,
    stable: Stabilized,
}

impl<'a> TargetTracking<'a> {
    /// For a pool.
    pub fn new(spec: &'a SimSpec) -> Self {
        TargetTracking { spec, stable: Stabilized::default() }
    }
}

impl Strategy for TargetTracking<'_> {
    fn name(&self) -> &str {
        "target-tracking"
    }
    fn reserved_commitment(&self) -> u32 {
        self.spec.reserved_commitment()
    }
    fn decide(&mut self, obs: &Observation) -> Decision {
        let s = self.spec;
        let mu = s.replica_rps_for(obs.mean_input, obs.mean_output);
        let want = (obs.rps / (mu * BASELINE_TARGET_UTILIZATION)).ceil() as u32;
        let want = want.clamp(s.min_replicas.max(1), s.max_replicas.max(1));
        let total = self.stable.push(obs.now, s.stabilization_s, want);
        let reserved = s.reserved_commitment();
        let od_max = s.class(Class::OnDemand).map_or(0, |c| c.max);
        let on_demand = total.saturating_sub(reserved).min(od_max);
        Decision { replicas: [reserved, 0, on_demand], external_weight: 0 }
    }
}
