//! What the planner needs from an InferencePool and its CostPolicy, flattened into plain numbers.
//! Built once per reconcile (or once per simulation) from the CRD types.

use crate::api::cost_policy::BudgetAction;

use super::Class;

/// Static configuration of one pool under its policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Capacity classes the pool may use, indexed by `Class as usize` (reserved, spot, on-demand).
    pub classes: [Option<ClassConfig>; 3],
    /// GPUs one replica needs.
    pub gpus_per_replica: u32,
    /// Requests per second one replica serves within the SLO (μ).
    pub replica_rps: f64,
    /// Output tokens per second one replica generates within the SLO, if known.
    pub replica_output_tokens_per_s: Option<f64>,
    /// Seconds from asking for a replica to it serving, when its node exists.
    pub startup_s: f64,
    /// Fewest replicas over all classes.
    pub min_replicas: u32,
    /// Most replicas over all classes.
    pub max_replicas: u32,
    /// The external API, if the pool has one and data may leave the cluster.
    pub external: Option<ExternalConfig>,
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
