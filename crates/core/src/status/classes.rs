//! The names the planner, the ledger and both resources share: capacity classes, node pool kinds, the
//! budget's action and the most external providers a pool may list.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most providers one pool may list: each is a backend of the route rule and a series per metric.
pub const MAX_PROVIDERS: usize = 8;

/// Capacity class names, in the order the planner fills them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CapacityClassName {
    Reserved,
    Spot,
    OnDemand,
}

impl CapacityClassName {
    /// All classes in fill order.
    pub const ALL: [CapacityClassName; 3] = [Self::Reserved, Self::Spot, Self::OnDemand];

    /// The camelCase name used in the API and in reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Spot => "spot",
            Self::OnDemand => "onDemand",
        }
    }
}

impl std::fmt::Display for CapacityClassName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Supported node pool kinds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NodePoolKind {
    /// Karpenter NodePool (karpenter.sh/v1).
    NodePool,
    /// Cluster API MachineDeployment (cluster.x-k8s.io/v1beta1).
    MachineDeployment,
}

/// What the planner does past the budget.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum BudgetAction {
    /// Set the BudgetExceeded condition and an event; plan as usual.
    #[default]
    Alert,
    /// Move demand to the cheapest tier (reserved, then spot, then the external API if cheaper) and
    /// stop adding on-demand capacity, accepting a lower SLO attainment.
    Degrade,
    /// Add no capacity; keep what runs.
    Hold,
}
