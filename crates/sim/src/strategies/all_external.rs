//! all-external: no GPUs of our own; every request goes to the external API, and with several
//! providers to the cheapest one at the step's token mix (the one a team would pick), whatever its
//! limits and health. It ignores the policy's maxShare on purpose (it is the "just use the API"
//! answer); the reserved commitment, if the pool has one, is still paid because it was signed.

use super::{Observation, StepTargets, Strategy};
use crate::spec::SimSpec;
use hybridscale_core::status::PerClass;

/// The all-external baseline.
pub struct AllExternal {
    commitment: u32,
}

impl AllExternal {
    /// For a pool.
    pub fn new(spec: &SimSpec) -> Self {
        AllExternal { commitment: spec.reserved_commitment() }
    }
}

impl Strategy for AllExternal {
    fn name(&self) -> &str {
        "all-external"
    }
    fn reserved_commitment(&self) -> u32 {
        self.commitment
    }
    fn decide(&mut self, _obs: &Observation) -> StepTargets {
        StepTargets { replicas: PerClass::default(), external_weight: 100, providers: Vec::new() }
    }
}
