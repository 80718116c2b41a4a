//! What the operator writes back on a CostPolicy: the summed spend of the pools following it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// Observed state of a CostPolicy: validity and the summed spend of the pools following it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostPolicyStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Valid, BudgetExceeded.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    #[schemars(length(max = 16))]
    pub conditions: Vec<Condition>,
    /// Number of InferencePools following this policy.
    #[serde(default)]
    pub pools: u32,
    /// Current burn rate of all pools, USD per hour.
    #[serde(default)]
    pub usd_per_hour: f64,
    /// Spend of all pools since the start of the month (UTC), USD.
    #[serde(default)]
    pub month_to_date_usd: f64,
    /// Month-to-date spend plus the current burn for the rest of the month, USD.
    #[serde(default)]
    pub projected_month_usd: f64,
    /// The month (YYYY-MM, UTC) the figures above belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// Reserved commitment advice per pool from the demand of the last weeks (refreshed at most daily,
    /// never acted on by the operator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub reservation_advice: Vec<super::finops::ReservationAdvice>,
    /// When (RFC 3339) the advice was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_advice_at: Option<String>,
}
