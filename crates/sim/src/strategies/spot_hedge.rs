//! spot-hedge: SkyServe's SpotHedge. The same request-rate autoscaler as target-tracking decides
//! how many replicas are needed; they run on spot with extra spare spot replicas over-provisioned,
//! and on-demand replicas fall back for whatever spot does not deliver ready (interrupted or not
//! obtainable), released again when spot recovers. The policy's spot-fraction cap and class limits
//! apply as they do to every strategy; no external API.

use super::{Observation, Stabilized, StepTargets, Strategy};
use crate::spec::SimSpec;
use hybridscale_api::inference_pool::CapacityClassName as Class;
use hybridscale_core::status::PerClass;

/// The spot-hedge baseline.
pub struct SpotHedge<'a> {
    spec: &'a SimSpec,
    stable: Stabilized,
}

impl<'a> SpotHedge<'a> {
    /// For a pool.
    pub fn new(spec: &'a SimSpec) -> Self {
        SpotHedge { spec, stable: Stabilized::default() }
    }
}

impl Strategy for SpotHedge<'_> {
    fn name(&self) -> &str {
        "spot-hedge"
    }
    fn reserved_commitment(&self) -> u32 {
        self.spec.reserved_commitment()
    }
    fn decide(&mut self, obs: &Observation) -> StepTargets {
        let s = self.spec;
        let needed = self.stable.utilization_target(s, obs);
        let reserved = s.reserved_commitment();
        let spot_max = s.class(Class::Spot).map_or(0, |c| c.max);
        let od_max = s.class(Class::OnDemand).map_or(0, |c| c.max);
        let rest = needed.saturating_sub(reserved);
        let total = reserved + rest + s.spare_spot_replicas;
        let spot =
            ((s.max_spot_fraction * total as f64).floor() as u32).min(rest + s.spare_spot_replicas).min(spot_max);
        // Fallback: on-demand covers what spot does not have ready and healthy right now, and at
        // least the share the spot cap leaves to other classes.
        let spot_healthy = obs.ready[Class::Spot].saturating_sub(obs.interrupted[Class::Spot]);
        let on_demand = rest.saturating_sub(spot.min(spot_healthy)).min(od_max);
        StepTargets { replicas: PerClass { reserved, spot, on_demand }, external_weight: 0, providers: Vec::new() }
    }
}
