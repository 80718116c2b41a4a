//! `CostPolicy`: the prices, budgets, SLOs and limits that InferencePools following it are planned under.
//!
//! Every field's doc comment becomes `kubectl explain` text, so they are written for the platform
//! engineer reading them, not for us. Durations are integer seconds (as in the HPA's
//! `stabilizationWindowSeconds`) so the schema can bound them and CEL rules can compare them.

// kube's `printcolumn(...)` attributes repeat keys such as `type_`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hybridscale_core::status::{BudgetAction, CostPolicyStatus};

/// Prices, budgets, latency SLO, spot and external-API limits, idle-reclaim rules and the mode
/// (Enforce or Recommend) for the InferencePools that reference this policy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "hybridscale.dev",
    version = "v1alpha1",
    kind = "CostPolicy",
    namespaced,
    shortname = "cpol",
    category = "hybridscale",
    status = "CostPolicyStatus",
    doc = "CostPolicy sets the prices, budgets, latency SLO and limits that InferencePools are planned under.",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Budget",
        type_ = "number",
        json_path = ".spec.budget.monthlyUsd",
        description = "Monthly budget in USD"
    ),
    printcolumn(
        name = "MTD",
        type_ = "number",
        json_path = ".status.monthToDateUsd",
        description = "Month-to-date spend in USD"
    ),
    printcolumn(
        name = "Projected",
        type_ = "number",
        json_path = ".status.projectedMonthUsd",
        description = "Projected spend for the month in USD"
    ),
    printcolumn(
        name = "$/Hour",
        type_ = "number",
        json_path = ".status.usdPerHour",
        description = "Current burn rate of all pools in USD per hour"
    ),
    printcolumn(
        name = "Pools",
        type_ = "integer",
        json_path = ".status.pools",
        description = "InferencePools following this policy"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.tickSeconds <= self.scaleDown.stabilizationSeconds").message("scaleDown.stabilizationSeconds must be at least one tick (tickSeconds)"))]
#[x_kube(validation = Rule::new("self.tickSeconds <= self.idleReclaim.idleSeconds").message("idleReclaim.idleSeconds must be at least one tick (tickSeconds)"))]
pub struct CostPolicySpec {
    /// Enforce applies every plan to the cluster; Recommend only writes the plan to status and
    /// changes nothing (use it to see what hybridscale would do before trusting it).
    #[serde(default)]
    pub mode: Mode,
    /// Price of one GPU-hour per capacity class.
    pub gpu_prices: GpuPrices,
    /// Prices of the external LLM API that takes overflow traffic, in USD per million tokens.
    /// An InferencePool's spec.external prices override these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_prices: Option<ExternalPrices>,
    /// Latency objective the planner sizes self-hosted capacity for.
    pub slo: Slo,
    /// Spending limits and what happens when they are passed. No budget means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// How much of the self-hosted capacity may run on interruptible spot GPUs.
    #[serde(default)]
    pub spot: SpotPolicy,
    /// Whether and how much traffic may go to the external API.
    #[serde(default)]
    pub external: ExternalPolicy,
    /// How fast replicas are removed when load falls.
    #[serde(default)]
    pub scale_down: ScaleDownPolicy,
    /// When idle GPUs are handed back.
    #[serde(default)]
    pub idle_reclaim: IdleReclaim,
    /// Seconds between two planning ticks of each pool (the pool is also planned on every watched change).
    #[serde(default = "default_tick_seconds")]
    #[schemars(range(min = 5, max = 3600))]
    pub tick_seconds: u32,
}

fn default_tick_seconds() -> u32 {
    15
}

/// Enforce or Recommend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Mode {
    /// Apply every plan to the cluster.
    #[default]
    Enforce,
    /// Write the plan to status only; change nothing in the cluster.
    Recommend,
}

/// GPU prices per capacity class.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.spot.usdPerGpuHour <= self.onDemand.usdPerGpuHour").message("gpuPrices.spot.usdPerGpuHour must not exceed gpuPrices.onDemand.usdPerGpuHour (spot is never dearer than on-demand; are the two swapped?)"))]
pub struct GpuPrices {
    /// Price of reserved (committed, already paid for) GPUs. Used for cost reporting; the planner
    /// treats reserved capacity as free at the margin because it is paid whether used or not.
    pub reserved: GpuPrice,
    /// Price of spot (interruptible) GPUs.
    pub spot: GpuPrice,
    /// Price of on-demand GPUs.
    pub on_demand: GpuPrice,
}

/// A GPU price: static, or read from Prometheus with the static value as fallback.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuPrice {
    /// USD per GPU-hour. The price itself when no query is set, and the fallback when the query fails
    /// or its result is older than maxAgeSeconds.
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub usd_per_gpu_hour: f64,
    /// Optional PromQL query returning the current USD per GPU-hour (e.g. an exported spot price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub query: Option<String>,
    /// Oldest acceptable age of the query's sample before the fallback price is used.
    #[serde(default = "default_price_max_age")]
    #[schemars(range(min = 10, max = 86400))]
    pub max_age_seconds: u32,
}

fn default_price_max_age() -> u32 {
    900
}

/// External API prices, in USD per million tokens, given directly or read from a price file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalPrices {
    /// USD per million input (prompt) tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub input_usd_per_million_tokens: f64,
    /// USD per million output (generated) tokens.
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub output_usd_per_million_tokens: f64,
    /// Optional ConfigMap holding a price file in LiteLLM's model_prices_and_context_window.json
    /// format; when set and the model is found in it, its prices replace the two above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_file: Option<PriceFileRef>,
}

/// A key of a ConfigMap in the policy's namespace holding a LiteLLM-format price file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceFileRef {
    /// ConfigMap name.
    #[schemars(length(min = 1, max = 253))]
    pub config_map: String,
    /// Key within the ConfigMap.
    #[serde(default = "default_price_file_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_price_file_key() -> String {
    "model_prices_and_context_window.json".into()
}

/// Latency objective.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Slo {
    /// End-to-end request latency, in seconds, that a request must stay within.
    #[schemars(range(min = 0.01, max = 3600.0))]
    pub latency_seconds: f64,
    /// Share of requests that must meet latencySeconds, e.g. 0.999.
    #[serde(default = "default_attainment")]
    #[schemars(range(min = 0.5, max = 1.0))]
    pub target_attainment: f64,
}

fn default_attainment() -> f64 {
    0.999
}

/// Spending limits.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.monthlyUsd) || has(self.hourlyUsd)").message("budget needs monthlyUsd, hourlyUsd or both"))]
#[x_kube(validation = Rule::new("!has(self.monthlyUsd) || !has(self.hourlyUsd) || self.hourlyUsd <= self.monthlyUsd").message("budget.hourlyUsd cannot be larger than budget.monthlyUsd"))]
pub struct Budget {
    /// Budget for the calendar month (UTC), in USD, summed over all pools following this policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub monthly_usd: Option<f64>,
    /// Limit on the burn rate, in USD per hour, summed over all pools following this policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub hourly_usd: Option<f64>,
    /// What happens when the projected month or the current hour exceeds the budget.
    #[serde(default)]
    pub on_exceeded: BudgetAction,
}

/// Spot capacity limits.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SpotPolicy {
    /// Largest share (0..1) of the self-hosted replicas that may run on spot capacity.
    #[serde(default = "default_max_spot_fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_fraction: f64,
    /// Extra spot replicas kept as a hedge against interruptions.
    #[serde(default = "default_spare_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub spare_replicas: u32,
    /// Interruptions per hour (across the pool) above which the planner halves the spot share until
    /// the rate falls again.
    #[serde(default = "default_interruption_threshold")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub interruptions_per_hour_threshold: f64,
}

fn default_max_spot_fraction() -> f64 {
    0.7
}
fn default_spare_replicas() -> u32 {
    1
}
fn default_interruption_threshold() -> f64 {
    2.0
}

impl Default for SpotPolicy {
    fn default() -> Self {
        SpotPolicy {
            max_fraction: default_max_spot_fraction(),
            spare_replicas: default_spare_replicas(),
            interruptions_per_hour_threshold: default_interruption_threshold(),
        }
    }
}

/// External API limits.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.allowed || !has(self.maxShare) || self.maxShare == 0.0").message("external.maxShare must be 0 when external.allowed is false (data may not leave the cluster)"))]
pub struct ExternalPolicy {
    /// Whether request data may leave the cluster at all. When false the external share is always 0.
    #[serde(default = "default_true")]
    pub allowed: bool,
    /// Largest share (0..1) of requests that may go to the external API (all of a pool's providers
    /// together; each provider may have its own maxShare too). Unset means no limit (1) when allowed, and
    /// 0 when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_share: Option<f64>,
    /// Rate limit of the external API, in requests per second (its quota; all of a pool's providers
    /// together, each within its own maxRequestsPerSecond too). Unset means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_requests_per_second: Option<f64>,
}

fn default_true() -> bool {
    true
}

impl Default for ExternalPolicy {
    fn default() -> Self {
        ExternalPolicy { allowed: true, max_share: None, max_requests_per_second: None }
    }
}

impl ExternalPolicy {
    /// The share (0..1) of requests that may go external: 0 when data may not leave the cluster.
    pub fn effective_max_share(&self) -> f64 {
        if self.allowed { self.max_share.unwrap_or(1.0).clamp(0.0, 1.0) } else { 0.0 }
    }
}

/// Scale-down damping.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleDownPolicy {
    /// Seconds the lower replica count must be justified before replicas are removed.
    #[serde(default = "default_stabilization")]
    #[schemars(range(min = 0, max = 86400))]
    pub stabilization_seconds: u32,
    /// Most replicas removed per class in one tick.
    #[serde(default = "default_max_step")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_step_replicas: u32,
}

fn default_stabilization() -> u32 {
    300
}
fn default_max_step() -> u32 {
    2
}

impl Default for ScaleDownPolicy {
    fn default() -> Self {
        ScaleDownPolicy { stabilization_seconds: default_stabilization(), max_step_replicas: default_max_step() }
    }
}

/// Idle GPU reclaim.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdleReclaim {
    /// Whether idle replicas are released and empty GPU nodes handed back.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Utilisation (0..1) below which a replica counts as idle.
    #[serde(default = "default_idle_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub utilization_threshold: f64,
    /// Seconds a replica must stay below the threshold before it is released.
    #[serde(default = "default_idle_seconds")]
    #[schemars(range(min = 0, max = 604800))]
    pub idle_seconds: u32,
}

fn default_idle_threshold() -> f64 {
    0.1
}
fn default_idle_seconds() -> u32 {
    900
}

impl Default for IdleReclaim {
    fn default() -> Self {
        IdleReclaim {
            enabled: true,
            utilization_threshold: default_idle_threshold(),
            idle_seconds: default_idle_seconds(),
        }
    }
}
