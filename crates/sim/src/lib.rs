//! The trace-replay simulator behind `hybridscale simulate` and `make bench`: a trace (loaders/)
//! binned to fixed steps (trace.rs) is replayed against a model of the cluster (model.rs,
//! queueing.rs, spot.rs) under each strategy (strategies/), including the operator's own planner,
//! and compared with an offline lower bound (oracle.rs). The external side is a list of providers
//! with their own prices, limits and error bursts (providers.rs). Reports and plots: report.rs, svg.rs.
//!
//! Everything is deterministic for a given seed, so two runs of the same inputs print the same
//! figures.
#![forbid(unsafe_code)]

pub mod advice;
pub mod limits;
pub mod loaders;
pub mod model;
pub mod oracle;
mod oracle_integer;
mod oracle_startup;
pub mod policy;
pub mod profile;
pub mod providers;
pub mod queueing;
pub mod report;
pub mod reservation;
pub mod run;
pub mod spec;
pub mod spot;
pub mod strategies;
pub mod svg;
pub mod trace;

use std::path::Path;

use indicatif::ProgressBar;

use hybridscale_api::FromResources;
use hybridscale_api::cost_policy::CostPolicy;
use hybridscale_api::inference_pool::InferencePool;
use hybridscale_core::input::InputError;
use hybridscale_core::planner::{PoolConfig, Prices};
use profile::World;

pub use loaders::{LoadOptions, TokenSample, TraceFormat};
pub use report::Report;
pub use run::StrategyResult;
pub use spec::SimSpec;
pub use spot::SpotMarket;
pub use trace::Trace;

/// The embedded default trace: 30 minutes of the Azure LLM code trace 2023 (CC BY 4.0, see
/// data/README.md).
pub const DEFAULT_TRACE: &str = include_str!("../data/azure_code_excerpt.csv");

/// Name of the embedded default trace in reports and errors.
pub const DEFAULT_TRACE_NAME: &str = "azure_code_excerpt.csv (embedded)";

/// Token sizes of the embedded excerpt, the default for rate series.
pub fn default_tokens() -> Result<TokenSample, InputError> {
    let path = Path::new(DEFAULT_TRACE_NAME);
    let raw = loaders::parse(path, DEFAULT_TRACE, TraceFormat::Azure)?;
    TokenSample::from_raw(path, &raw)
}

/// The embedded default trace, binned.
pub fn default_trace(opts: &LoadOptions) -> Result<Trace, InputError> {
    let path = Path::new(DEFAULT_TRACE_NAME);
    let raw = loaders::parse(path, DEFAULT_TRACE, TraceFormat::Azure)?;
    loaders::bin(path, DEFAULT_TRACE_NAME.into(), &raw, opts)
}

/// A pool and its policy, ready to replay: the model's view and the planner's.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What the model, the oracle and the baselines use (the world is `spec.world`).
    pub spec: SimSpec,
    /// What the planner uses.
    pub config: PoolConfig,
    /// Static prices for the planner's snapshots.
    pub prices: Prices,
}

impl Scenario {
    /// From a CostPolicy and an InferencePool; `path` names their file in errors.
    pub fn from_resources(path: &Path, policy: &CostPolicy, pool: &InferencePool) -> Result<Self, InputError> {
        let mut spec = SimSpec::from_resources(path, policy, pool)?;
        spec.world = World::for_model(&pool.spec.model, pool.spec.gpus_per_replica);
        let mut config =
            PoolConfig::from_resources(policy, pool).map_err(|e| InputError::invalid(path, e.to_string()))?;
        // The simulated signals are each step's own: nothing lags behind a window.
        config.signal_window_s = 0.0;
        let prices = Prices::from_resources(policy, pool).map_err(|e| InputError::invalid(path, e.to_string()))?;
        Ok(Scenario { spec, config, prices })
    }

    /// The same pool in another world: what a replica really serves (`profile.rs`), whatever the
    /// pool believes.
    pub fn with_world(mut self, world: World) -> Self {
        self.spec.world = world;
        self
    }

    /// From a policy file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, InputError> {
        let (policy, pool) = policy::parse(path, text)?;
        Self::from_resources(path, &policy, &pool)
    }
}

/// Names of the strategies `run_all` replays, in order (all-external only when the pool may use
/// an external API; the oracle last).
pub fn strategy_names(spec: &SimSpec) -> Vec<&'static str> {
    let mut v = vec!["hybridscale", "static-peak", "target-tracking", "spot-hedge"];
    if spec.external.is_some() {
        v.push("all-external");
    }
    v.push("oracle");
    v
}

/// Replay one named strategy (see [`strategy_names`]).
pub fn run_one(
    name: &str,
    trace: &Trace,
    scenario: &Scenario,
    market: &SpotMarket,
    seed: u64,
    progress: Option<&ProgressBar>,
) -> Option<StrategyResult> {
    let spec = &scenario.spec;
    let mut strategy: Box<dyn strategies::Strategy + '_> = match name {
        "hybridscale" => Box::new(strategies::Hybridscale::new(
            scenario.config.clone(),
            scenario.prices.clone(),
            spec.reserved_commitment(),
            spec.providers.iter().map(|p| p.latency_s).collect(),
        )),
        "static-peak" => Box::new(strategies::StaticPeak::new(spec, trace)),
        "target-tracking" => Box::new(strategies::TargetTracking::new(spec)),
        "spot-hedge" => Box::new(strategies::SpotHedge::new(spec)),
        "all-external" if spec.external.is_some() => Box::new(strategies::AllExternal::new(spec)),
        "oracle" => {
            let r = oracle::oracle(trace, spec, market);
            if let Some(p) = progress {
                p.inc(trace.len() as u64);
            }
            return Some(r);
        }
        _ => return None,
    };
    Some(run::replay(trace, spec, market, strategy.as_mut(), seed, progress))
}

/// Replay every strategy on the same trace, prices and spot market.
pub fn run_all(
    trace: &Trace,
    scenario: &Scenario,
    market: &SpotMarket,
    seed: u64,
    progress: Option<&ProgressBar>,
) -> Report {
    let results = strategy_names(&scenario.spec)
        .into_iter()
        .filter_map(|n| run_one(n, trace, scenario, market, seed, progress))
        .collect();
    Report::new(trace.stats(), results, None, scenario.spec.target_attainment, scenario.spec.world.name())
}
