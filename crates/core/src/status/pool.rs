//! What the operator writes back: an InferencePool's status (replicas, route weights, capacity believed, the
//! cost ledger, the last decision, the planner's memory) and the per-class shapes it is built from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::conditions::Condition;
use crate::status::finops::{Counterfactuals, TenantCost, TokenTotals, UnitCosts};

use super::classes::{CapacityClassName, NodePoolKind};
use super::per_class::PerClass;

/// Spend per capacity class and the external API, in USD.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassCost {
    /// Reserved GPUs.
    #[serde(default)]
    pub reserved: f64,
    /// Spot GPUs.
    #[serde(default)]
    pub spot: f64,
    /// On-demand GPUs.
    #[serde(default)]
    pub on_demand: f64,
    /// External API tokens.
    #[serde(default)]
    pub external: f64,
}

impl ClassCost {
    /// Sum of all parts.
    pub fn total(&self) -> f64 {
        self.reserved + self.spot + self.on_demand + self.external
    }
}

/// Observed state of an InferencePool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing, Degraded, SignalsStale, BudgetExceeded, RecommendOnly.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    #[schemars(length(max = 16))]
    pub conditions: Vec<Condition>,
    /// Replicas the last applied (or, in Recommend mode, recommended) plan asked for, per class.
    #[serde(default)]
    pub replicas: PerClass<u32>,
    /// Ready replicas observed per class.
    #[serde(default)]
    pub ready: PerClass<u32>,
    /// Ready replicas over all classes.
    #[serde(default)]
    pub ready_replicas: u32,
    /// Replicas the last plan asked for over all classes.
    #[serde(default)]
    pub desired_replicas: u32,
    /// Node pool sizes set by the last plan.
    #[serde(default)]
    #[schemars(length(max = 3))]
    pub node_pools: Vec<NodePoolSize>,
    /// HTTPRoute weights set by the last plan.
    #[serde(default)]
    pub traffic: TrafficWeights,
    /// Each external provider's weight set by the last plan, its health and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[schemars(length(max = 8))]
    pub providers: Vec<super::ProviderStatus>,
    /// Cost now, this month and projected.
    #[serde(default)]
    pub cost: CostStatus,
    /// The capacity per replica the last plan was made with, where it comes from and its evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityStatus>,
    /// The last plan's decision and the reasons for each change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<Decision>,
    /// Planner memory that must survive restarts and leader changes (stabilisation windows, idle
    /// timers, interruption history, the last safe plan).
    #[serde(default)]
    pub planner_state: PlannerState,
}

/// The capacity per replica believed now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityStatus {
    /// Requests per second one replica is believed to serve within the SLO for the current token mix.
    pub requests_per_second_per_replica: f64,
    /// What the configuration alone gives for the current token mix, before learning.
    pub configured_requests_per_second: f64,
    /// Where the figure comes from: configured, token mix or learned.
    pub source: String,
    /// The last evidence behind a learned or observed figure, e.g. "observed latency 31 s exceeds
    /// the 20 s SLO at 1.80 rps per replica".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub evidence: Option<String>,
}

/// Size of one node pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSize {
    /// Capacity class the node pool backs.
    pub class: CapacityClassName,
    /// NodePool or MachineDeployment.
    pub kind: NodePoolKind,
    /// Node pool name.
    pub name: String,
    /// GPUs the pool may hold (Karpenter limit) or, for a MachineDeployment, GPUs of its replicas.
    pub gpus: u32,
    /// Nodes that many GPUs need.
    pub nodes: u32,
}

/// Route weights, percent; they always sum to 100.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    /// Weight of the self-hosted backend.
    #[schemars(range(min = 0, max = 100))]
    pub self_hosted_weight: u32,
    /// Weight of the external backend.
    #[schemars(range(min = 0, max = 100))]
    pub external_weight: u32,
}

impl Default for TrafficWeights {
    fn default() -> Self {
        TrafficWeights { self_hosted_weight: 100, external_weight: 0 }
    }
}

/// The cost ledger of one pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostStatus {
    /// Burn rate now, USD per hour (GPUs running plus external tokens at the current rate).
    #[serde(default)]
    pub usd_per_hour: f64,
    /// Spend since the start of `month`, USD.
    #[serde(default)]
    pub month_to_date_usd: f64,
    /// Month-to-date plus the current burn for the rest of the month, USD.
    #[serde(default)]
    pub projected_month_usd: f64,
    /// Month-to-date spend split by class.
    #[serde(default)]
    pub month_to_date_by_class: ClassCost,
    /// The month (YYYY-MM, UTC) the figures belong to; spend restarts at 0 when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// Time (RFC 3339) up to which spend has been integrated; accrual resumes from here after a
    /// restart or leader change, so nothing is counted twice or lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accrued_until: Option<String>,
    /// Tokens and requests served month to date, each way.
    #[serde(default)]
    pub tokens: TokenTotals,
    /// USD per million tokens month to date, self-hosted per class and external.
    #[serde(default)]
    pub cost_per_million_tokens: UnitCosts,
    /// What the month so far would have cost all on the external API, or all on on-demand GPUs.
    #[serde(default)]
    pub counterfactual: Counterfactuals,
    /// The tenants with the most spend this month (spec.metrics.attribution), largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub top_tenants: Vec<TenantCost>,
    /// Spend of every other tenant, and of ticks when the attribution query gave no shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_tenants: Option<TenantCost>,
    /// Month-to-date external spend per provider (adds up to monthToDateByClass.external).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub external_by_provider: Vec<super::ProviderCost>,
}

/// One planning decision.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// When the plan was made (RFC 3339).
    pub time: String,
    /// One-line summary.
    #[schemars(length(max = 1024))]
    pub summary: String,
    /// Why each change was made, one line per change.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub reasons: Vec<String>,
    /// True when the plan was only recommended (Recommend mode or budget Hold) and not applied.
    #[serde(default)]
    pub recommended_only: bool,
}

/// Planner memory persisted in status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannerState {
    /// Highest replica count per class wanted within the scale-down stabilisation window, with the
    /// time each was wanted; scale-down only goes below the window's maximum.
    #[serde(default)]
    #[schemars(length(max = 512))]
    pub recommendations: Vec<TimedReplicas>,
    /// Since when (RFC 3339) the pool has been below the idle threshold; unset when busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_since: Option<String>,
    /// Times (RFC 3339) of recent spot interruptions, newest last, for the interruption rate.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub spot_interruptions: Vec<String>,
    /// The last plan made on fresh signals; held while signals are stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_safe: Option<SafePlan>,
    /// Learned correction of the configured replica capacity (learnFromMetrics): the believed
    /// requests per second per replica are the configuration's figure for the live token mix times
    /// this factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_capacity_factor: Option<f64>,
    /// The last evidence that moved the learned factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub capacity_evidence: Option<String>,
    /// The replica capacity the configuration gave for each recent tick's token mix, over the
    /// route's burst window: the planner sizes by the heaviest mix of that window.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub recent_mix_capacity: Vec<TimedRate>,
    /// The token mix an external request is priced at when a replica is weighed against the external
    /// API: the recent mean request weighted by requests, fading over the burst window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_mix: Option<PricedMixState>,
    /// Self-hosted requests per second per healthy replica at each recent tick, with the capacity
    /// believed then: an overload seen now is judged against the last three minutes of them.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub recent_load_per_replica: Vec<TimedLoad>,
    /// When (RFC 3339) an observed overload last lowered the learned factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_fell_at: Option<String>,
    /// The learned factor that overload showed a replica to serve: the belief probes back up no
    /// further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_capacity_ceiling: Option<f64>,
    /// The mean request at that overload: where the capacity is not configured in prompt and output
    /// tokens both, only ticks with requests at least this long show more than the ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_fell_mix: Option<RequestMix>,
    /// Replicas with an interruption notice at the last tick, so a notice is counted once as an
    /// interruption even across a restart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interrupted_seen: u32,
    /// Since when (RFC 3339) spot replicas have been asked for and not become ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_pending_since: Option<String>,
    /// Until when (RFC 3339) spot capacity counts as unavailable: no more spot is asked for before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_scarce_until: Option<String>,
    /// Each external provider's health: kept out since when and why, looking well since when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub provider_health: Vec<super::ProviderHealthState>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A rate at a time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimedRate {
    /// When (RFC 3339).
    pub time: String,
    /// Requests per second per replica.
    pub requests_per_second: f64,
}

/// A mean request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestMix {
    /// Mean prompt tokens per request.
    pub prompt_tokens: f64,
    /// Mean output tokens per request.
    pub output_tokens: f64,
}

/// The mean request external requests are priced at, and the requests behind it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricedMixState {
    /// When it was last brought up to date (RFC 3339).
    pub time: String,
    /// Mean prompt tokens per request.
    pub prompt_tokens: f64,
    /// Mean output tokens per request.
    pub output_tokens: f64,
    /// The requests behind the mean, faded with age.
    pub requests: f64,
}

/// The load per replica at a time and the capacity believed for it then.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimedLoad {
    /// When (RFC 3339).
    pub time: String,
    /// Self-hosted requests per second per healthy replica.
    pub requests_per_second: f64,
    /// Requests per second per replica believed then.
    pub believed_requests_per_second: f64,
}

/// Replica counts wanted at a time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimedReplicas {
    /// When (RFC 3339).
    pub time: String,
    /// What was wanted.
    pub replicas: PerClass<u32>,
}

/// A plan known to be safe, kept to hold while signals are stale.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SafePlan {
    /// When it was made (RFC 3339).
    pub time: String,
    /// Replicas per class.
    pub replicas: PerClass<u32>,
    /// Route weights.
    pub traffic: TrafficWeights,
}
