//! target-tracking: the HPA/KEDA way. Replicas follow the observed request rate at a 70%
//! utilisation target, scale up at once and scale down only after the policy's stabilisation
//! window; added capacity is on-demand only, no spot and no external API. The reserved replicas
//! the pool has already paid for run all the time under it (any sane setup uses them).

use super::{Observation, Stabilized, StepTargets, Strategy};
use crate::spec::SimSpec;
use hybridscale_api::inference_pool::CapacityClassName as Class;
use hybridscale_core::status::PerClass;

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
    fn decide(&mut self, obs: &Observation) -> StepTargets {
        let s = self.spec;
        let total = self.stable.utilization_target(s, obs);
        let reserved = s.reserved_commitment();
        let od_max = s.class(Class::OnDemand).map_or(0, |c| c.max);
        let on_demand = total.saturating_sub(reserved).min(od_max);
        StepTargets { replicas: PerClass { reserved, spot: 0, on_demand }, external_weight: 0, providers: Vec::new() }
    }
}
