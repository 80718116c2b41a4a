//! What the planner needs from an InferencePool and its CostPolicy, flattened into plain numbers.
//! Built once per reconcile (or once per simulation) from the CRD types by `hybridscale-api`
//! (`FromResources`), which knows the resources; the planner only knows these numbers.

use crate::status::BudgetAction;
use crate::status::PerClass;

use super::providers::{self, Health, HealthRules, Mix, Provider};
use super::{Class, Prices};

/// Seconds of the window over which the default queries read rates and the latency histogram (a
/// PromQL `[60s]`, the `1m` of the queries): what a signal shows now reflects the load over this window.
pub const SIGNAL_WINDOW_S: u32 = 60;

/// Static configuration of one pool under its policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Capacity classes the pool may use (reserved, spot, on-demand).
    pub classes: PerClass<Option<ClassConfig>>,
    /// GPUs one replica needs.
    pub gpus_per_replica: u32,
    /// Requests per second one replica serves within the SLO (μ).
    pub replica_rps: f64,
    /// Output tokens per second one replica generates within the SLO, if known.
    pub replica_output_tokens_per_s: Option<f64>,
    /// Prompt tokens per second one replica processes within the SLO, if known.
    pub replica_prompt_tokens_per_s: Option<f64>,
    /// Seconds from asking for a replica to it serving, when its node exists.
    pub startup_s: f64,
    /// Fewest replicas over all classes.
    pub min_replicas: u32,
    /// Most replicas over all classes.
    pub max_replicas: u32,
    /// The external path (the providers together), if the pool has one and data may leave the
    /// cluster. The policy's caps at configuration; each tick narrows it to the healthy providers
    /// ([`PoolConfig::for_tick`]).
    pub external: Option<ExternalConfig>,
    /// The external providers (the single `external` form is a list of one); empty when data may not
    /// leave the cluster.
    pub providers: Vec<Provider>,
    /// When a provider counts as unhealthy.
    pub provider_health: HealthRules,
    /// End-to-end latency SLO, seconds.
    pub slo_latency_s: f64,
    /// Share of requests that must meet the SLO.
    pub target_attainment: f64,
    /// Budget, if any.
    pub budget: Option<BudgetConfig>,
    /// Largest share of replicas on spot.
    pub max_spot_fraction: f64,
    /// Extra spot replicas kept against interruptions.
    pub spare_spot_replicas: u32,
    /// Interruptions per hour above which the spot share is lowered.
    pub interruptions_per_hour_threshold: f64,
    /// Seconds a lower replica count must be justified before scaling down.
    pub stabilization_s: f64,
    /// Most replicas removed per class per tick.
    pub max_scale_down_step: u32,
    /// Whether idle replicas are released.
    pub idle_reclaim: bool,
    /// Utilisation below which the pool counts as idle.
    pub idle_utilization: f64,
    /// Seconds below the idle threshold before releasing.
    pub idle_s: f64,
    /// Seconds between ticks.
    pub tick_s: f64,
    /// Signals older than this are stale.
    pub signal_max_age_s: f64,
    /// Seconds over which the signals average what they show ([`SIGNAL_WINDOW_S`] for the
    /// operator's queries, 0 in the simulator, whose signals are the step's own): an overload seen
    /// now may come from any load within it (`learn.rs`).
    pub signal_window_s: f64,
    /// Correct the replica capacity from the replicas' observed latency and queue (`learn.rs`).
    pub learn_from_metrics: bool,
}

/// One capacity class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassConfig {
    /// Which class.
    pub class: Class,
    /// Fewest replicas on this class.
    pub min_replicas: u32,
    /// Most replicas on this class.
    pub max_replicas: u32,
    /// Seconds for a new node of this class to join.
    pub node_provision_s: f64,
    /// GPUs per node, when the class has a node pool.
    pub gpus_per_node: Option<u32>,
}

/// The external API.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalConfig {
    /// Largest share of requests that may go external (0..1).
    pub max_share: f64,
    /// Rate limit, requests per second.
    pub max_rps: Option<f64>,
    /// Typical latency, seconds.
    pub latency_s: f64,
    /// Index of the provider whose price the external path is costed at (the one filled first).
    pub priced_by: usize,
}

/// Budget limits summed over the pools of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Monthly budget, USD.
    pub monthly_usd: Option<f64>,
    /// Hourly burn limit, USD.
    pub hourly_usd: Option<f64>,
    /// What happens when exceeded.
    pub on_exceeded: BudgetAction,
}

impl PoolConfig {
    /// The external API if it can take any traffic: configured, with a share and a rate limit above 0.
    /// An external API allowed 0% is no path for traffic, so the pool then keeps a replica like a pool
    /// without one.
    pub fn external_path(&self) -> Option<&ExternalConfig> {
        self.external.as_ref().filter(|e| e.max_share > 0.0 && e.max_rps.is_none_or(|r| r > 0.0))
    }

    /// The configuration for one tick: the external path narrowed to the providers that are healthy now
    /// (their shares and limits added up, within the policy's caps) and priced at the one filled first.
    /// No healthy provider: no external path this tick.
    /// A configuration that lists no providers (built by hand) keeps its external path as written.
    pub fn for_tick(&self, prices: &Prices, health: &[Health], mix: Mix) -> PoolConfig {
        let mut c = self.clone();
        if self.providers.is_empty() {
            return c;
        }
        c.external = self.external.as_ref().and_then(|caps| {
            let t = providers::together(&self.providers, &prices.external, health, mix, self.slo_latency_s)?;
            let max_rps = match (caps.max_rps, t.max_rps) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Some(ExternalConfig {
                max_share: caps.max_share.min(t.max_share),
                max_rps,
                latency_s: t.latency_s,
                priced_by: t.priced_by,
            })
        });
        c
    }

    /// The configuration of one class, if the pool may use it.
    pub fn class(&self, c: Class) -> Option<&ClassConfig> {
        self.classes[c].as_ref()
    }
}
