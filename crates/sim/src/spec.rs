//! The economics and limits of one pool under its policy, flattened for the cluster model, the
//! baselines and the oracle. Built from the same CRDs the operator reads (a CostPolicy and an
//! InferencePool), so a simulation prices exactly what `kubectl apply` would run.

use hybridscale_core::status::PerClass;
use std::path::Path;

use super::profile::World;
use super::providers::{self, ProviderSpec};
use super::queueing;
use hybridscale_api::cost_policy::CostPolicy;
use hybridscale_api::inference_pool::{CapacityClassName as Class, InferencePool};
use hybridscale_core::input::InputError;
use hybridscale_core::planner::capacity::TokenRates;

pub use super::providers::DEFAULT_EXTERNAL_LATENCY_S;

/// One capacity class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSpec {
    /// Fewest replicas.
    pub min: u32,
    /// Most replicas.
    pub max: u32,
    /// Seconds for a new node to join.
    pub node_provision_s: f64,
}

/// The external path, the providers taken together: what the oracle and the baselines price and limit.
/// With one provider it is that provider within the policy's limits; with several it is a relaxation
/// (the cheapest input and output prices, the fastest latency, their rate limits added up), so the
/// oracle stays a lower bound.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalSpec {
    /// USD per prompt token.
    pub usd_per_input_token: f64,
    /// USD per generated token.
    pub usd_per_output_token: f64,
    /// End-to-end latency, seconds.
    pub latency_s: f64,
    /// Rate limit, requests per second: the policy's, and the providers' own rate limits added up
    /// when each has one.
    pub max_rps: Option<f64>,
    /// The policy's rate limit on the providers together (`spec.external.maxRequestsPerSecond`).
    pub policy_max_rps: Option<f64>,
    /// Largest share of requests the policy lets go external.
    pub max_share: f64,
}

/// Everything the simulator needs to know about a pool and its policy.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSpec {
    /// Pool name (for reports).
    pub name: String,
    /// Classes.
    pub classes: PerClass<Option<ClassSpec>>,
    /// USD per GPU-hour.
    pub gpu_hour_usd: PerClass<f64>,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Seconds from a replica being asked for (on an existing node) to serving.
    pub startup_s: f64,
    /// Fewest replicas over all classes.
    pub min_replicas: u32,
    /// Most replicas over all classes.
    pub max_replicas: u32,
    /// Rated requests per second per replica within the SLO.
    pub replica_rps: f64,
    /// Rated prompt and output tokens per second per replica, where the pool states them.
    pub token_rates: TokenRates,
    /// The external path, if data may leave the cluster and the pool has a provider.
    pub external: Option<ExternalSpec>,
    /// The external providers, in the pool's order (`providers.rs`); empty without an external path.
    pub providers: Vec<ProviderSpec>,
    /// Latency SLO, seconds.
    pub slo_s: f64,
    /// Share of requests that must meet the SLO.
    pub target_attainment: f64,
    /// Largest share of replicas on spot.
    pub max_spot_fraction: f64,
    /// Spare spot replicas against interruptions.
    pub spare_spot_replicas: u32,
    /// Scale-down stabilisation, seconds.
    pub stabilization_s: f64,
    /// Saturation throughput of a replica over its rated throughput (see
    /// [`queueing::saturation_factor`]), for the rated world.
    pub saturation: f64,
    /// What a replica really serves: the rating, or a measured profile (`profile.rs`).
    pub world: World,
}

impl SimSpec {
    /// Flatten a policy and a pool. `path` names the policy file in errors.
    pub fn from_resources(path: &Path, policy: &CostPolicy, pool: &InferencePool) -> Result<Self, InputError> {
        let p = &policy.spec;
        let s = &pool.spec;
        let class = |c: Class| {
            s.capacity.get(c).map(|cc| ClassSpec {
                min: cc.min_replicas.unwrap_or(0),
                max: cc.max_replicas.unwrap_or(s.max_replicas).min(s.max_replicas),
                node_provision_s: cc.node_provision_seconds as f64,
            })
        };
        let providers = providers::from_resources(path, policy, pool)?;
        let external = together(&providers, p.external.max_requests_per_second, p.external.max_share.unwrap_or(1.0));
        let spec = SimSpec {
            name: pool.metadata.name.clone().unwrap_or_else(|| "pool".into()),
            classes: PerClass::from_fn(class),
            gpu_hour_usd: PerClass {
                reserved: p.gpu_prices.reserved.usd_per_gpu_hour,
                spot: p.gpu_prices.spot.usd_per_gpu_hour,
                on_demand: p.gpu_prices.on_demand.usd_per_gpu_hour,
            },
            gpus_per_replica: s.gpus_per_replica.max(1),
            startup_s: s.startup_seconds as f64,
            min_replicas: s.min_replicas,
            max_replicas: s.max_replicas,
            replica_rps: s.replica_capacity.requests_per_second,
            token_rates: TokenRates {
                prompt: s.replica_capacity.prompt_tokens_per_second,
                output: s.replica_capacity.output_tokens(),
            },
            external,
            providers,
            slo_s: p.slo.latency_seconds,
            target_attainment: p.slo.target_attainment,
            max_spot_fraction: p.spot.max_fraction,
            spare_spot_replicas: p.spot.spare_replicas,
            stabilization_s: p.scale_down.stabilization_seconds as f64,
            saturation: 1.0,
            world: World::Rated,
        };
        if !(spec.replica_rps > 0.0 && spec.slo_s > 0.0) {
            return Err(InputError::invalid(
                path,
                "replicaCapacity.requestsPerSecond and slo.latencySeconds must be > 0",
            ));
        }
        let mut spec = spec;
        spec.saturation = queueing::saturation_factor(
            spec.replica_rps,
            spec.service_s(),
            spec.slo_s - spec.service_s(),
            spec.target_attainment,
        );
        Ok(spec)
    }

    /// Seconds one request takes in service at full batch: half the SLO, the other half being the
    /// queueing slack (see `queueing.rs`).
    pub fn service_s(&self) -> f64 {
        self.slo_s / 2.0
    }

    /// Requests per second one replica really completes at saturation for a token mix: the world.
    pub fn replica_saturation_rps(&self, mean_input: f64, mean_output: f64) -> f64 {
        match &self.world {
            World::Rated => self.saturation * self.rated_rps_for(mean_input, mean_output),
            World::Profile(p) => p.saturation_rps(mean_input, mean_output),
        }
    }

    /// Requests per second one replica saturates at by the pool's own rating, whatever the world: what
    /// a team sizing its fleet from `replicaCapacity` would count on.
    pub fn believed_saturation_rps(&self, mean_input: f64, mean_output: f64) -> f64 {
        self.saturation * self.replica_rps_for(mean_input, mean_output)
    }

    /// Reserved replicas committed (and paid for) all the time: the reserved class's maximum.
    pub fn reserved_commitment(&self) -> u32 {
        self.classes[Class::Reserved].as_ref().map_or(0, |c| c.max)
    }

    /// USD per second of one replica on `class`.
    pub fn replica_usd_per_s(&self, class: Class) -> f64 {
        self.gpu_hour_usd[class] * self.gpus_per_replica as f64 / 3600.0
    }

    /// Requests per second one replica serves within the SLO for a token mix by the pool's rating: the
    /// planner's own formula (`planner::capacity::TokenRates`), the configured figure where the
    /// rates or the mix say nothing. What the baselines size by.
    pub fn replica_rps_for(&self, mean_input: f64, mean_output: f64) -> f64 {
        self.token_rates.rps(self.replica_rps, Some(mean_input), Some(mean_output)).unwrap_or(self.replica_rps)
    }

    /// The rated world's requests per second within the SLO for a token mix. As the rating where the
    /// pool states both token rates or none; with an output rate alone, a request costs its output at
    /// that rate plus its prompt at ten times that rate: this simulator's assumption for a world with
    /// no measurement (prefill is compute-bound and processes a whole prompt per batch step, decode
    /// one token per sequence per step), so long prompts cost real capacity even when outputs are
    /// short. A measured profile (`profile.rs`) replaces it.
    fn rated_rps_for(&self, mean_input: f64, mean_output: f64) -> f64 {
        let rates = match self.token_rates {
            TokenRates { prompt: None, output: Some(o) } => TokenRates { prompt: Some(10.0 * o), output: Some(o) },
            r => r,
        };
        rates.rps(self.replica_rps, Some(mean_input), Some(mean_output)).unwrap_or(self.replica_rps)
    }

    /// USD of one external request of the given size.
    pub fn external_usd_per_request(&self, mean_input: f64, mean_output: f64) -> f64 {
        self.external
            .as_ref()
            .map_or(f64::INFINITY, |e| mean_input * e.usd_per_input_token + mean_output * e.usd_per_output_token)
    }

    /// Whether an external request meets the SLO at all.
    pub fn external_meets_slo(&self) -> bool {
        self.external.as_ref().is_some_and(|e| e.latency_s <= self.slo_s)
    }

    /// Spec of a class, if the pool has it.
    pub fn class(&self, c: Class) -> Option<&ClassSpec> {
        self.classes[c].as_ref()
    }
}

/// The providers taken together ([`ExternalSpec`]), within the policy's rate limit and share; `None`
/// without a provider.
fn together(providers: &[ProviderSpec], policy_max_rps: Option<f64>, max_share: f64) -> Option<ExternalSpec> {
    let min = |f: fn(&ProviderSpec) -> f64| providers.iter().map(f).fold(f64::INFINITY, f64::min);
    let own: Option<f64> = providers.iter().map(|p| p.max_rps).sum();
    let max_rps = match (policy_max_rps, own) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (!providers.is_empty()).then(|| ExternalSpec {
        usd_per_input_token: min(|p| p.usd_per_input_token),
        usd_per_output_token: min(|p| p.usd_per_output_token),
        latency_s: min(|p| p.latency_s),
        max_rps,
        policy_max_rps,
        max_share,
    })
}

/// The embedded default policy's spec, for the simulator's unit tests.
#[cfg(test)]
pub(crate) fn default_spec() -> SimSpec {
    let (c, p) = super::policy::parse(Path::new("d"), super::policy::DEFAULT_POLICY).expect("embedded policy");
    SimSpec::from_resources(Path::new("d"), &c, &p).expect("embedded policy")
}
