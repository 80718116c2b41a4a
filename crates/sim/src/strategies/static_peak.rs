//! static-peak: a fixed fleet of reserved replicas sized, with hindsight, for the trace's busiest
//! step at the SLO target (the M/M/c tail included) by the pool's rating (a team sizes by what it
//! believes a replica serves), bought as a reservation and kept all the time.
//! This is how most teams run a model today.

use super::{Observation, StepTargets, Strategy};
use crate::queueing;
use crate::spec::SimSpec;
use crate::trace::Trace;
use hybridscale_core::status::PerClass;

/// The static-peak baseline.
pub struct StaticPeak {
    replicas: u32,
}

impl StaticPeak {
    /// Size the fleet for the trace's peak.
    pub fn new(spec: &SimSpec, trace: &Trace) -> Self {
        let mut peak = spec.reserved_commitment().max(1);
        for i in 0..trace.len() {
            let rate = trace.rps(i);
            let mu = spec.believed_saturation_rps(trace.mean_input[i], trace.mean_output[i]);
            peak = peak.max(replicas_for(spec, rate, mu, peak));
        }
        StaticPeak { replicas: peak }
    }

    /// Replicas in the fleet.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }
}

/// Fewest replicas (at least `from`) whose M/M/c late share at `rate` is within the SLO target,
/// `mu` being a replica's saturation throughput.
pub(crate) fn replicas_for(spec: &SimSpec, rate: f64, mu: f64, from: u32) -> u32 {
    let allowed = 1.0 - spec.target_attainment;
    let service_s = spec.service_s();
    let mut n = from.max((rate / mu).ceil() as u32).max(1);
    loop {
        let cap = n as f64 * mu;
        let servers = (cap * service_s).round().max(1.0) as u32;
        if rate < cap && queueing::late_share(servers, rate, cap, spec.slo_s - service_s) <= allowed {
            return n;
        }
        n += 1;
    }
}

impl Strategy for StaticPeak {
    fn name(&self) -> &str {
        "static-peak"
    }
    fn reserved_commitment(&self) -> u32 {
        self.replicas
    }
    fn decide(&mut self, _obs: &Observation) -> StepTargets {
        StepTargets {
            replicas: PerClass { reserved: self.replicas, ..PerClass::default() },
            external_weight: 0,
            providers: Vec::new(),
        }
    }
}
