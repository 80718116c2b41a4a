//! What the pool's status says about each external provider: its weight and why, its spend this month,
//! and its health as the planner remembers it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One external provider in the pool's status: its route weight now and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The provider's name.
    pub name: String,
    /// Its route weight set by the last plan, percent of the pool's traffic.
    #[schemars(range(min = 0, max = 100))]
    pub weight: u32,
    /// Whether it may take traffic (false while its errors or latency are bad, and until it has looked
    /// well for providerHealth.recoverAfterSeconds).
    pub healthy: bool,
    /// Why it got that weight, e.g. "gemini: 12% (cheapest, $0.0001/request, at its limit of 40 rps)".
    #[schemars(length(max = 512))]
    pub reason: String,
}

/// A provider's spend this month (status.cost.externalByProvider).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderCost {
    /// The provider's name.
    pub name: String,
    /// USD spent on it since the start of the month.
    pub month_to_date_usd: f64,
}

/// A provider's health as the planner remembers it (status.plannerState.providerHealth).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderHealthState {
    /// The provider's name.
    pub name: String,
    /// Since when (RFC 3339) it has been kept out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_since: Option<String>,
    /// Why it is kept out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub out_reason: Option<String>,
    /// Since when (RFC 3339) it has looked well again while out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub well_since: Option<String>,
}
