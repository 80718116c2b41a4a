//! The values the planner and the ledger read and write that the resources carry: the InferencePool's and
//! the CostPolicy's status (replicas, weights, the cost ledger, FinOps figures, the planner's memory,
//! conditions) and the names both specs share. Plain serde and schemars types with no Kubernetes in them:
//! `hybridscale-api` puts them into the custom resources, so the CRD schema is generated from these.

pub mod classes;
pub mod conditions;
pub mod finops;
pub mod per_class;
pub mod policy;
pub mod pool;
pub mod providers;

pub use classes::{BudgetAction, CapacityClassName, MAX_PROVIDERS, NodePoolKind};
pub use conditions::{Condition, ConditionStatus};
pub use per_class::PerClass;
pub use policy::CostPolicyStatus;
pub use pool::*;
pub use providers::{ProviderCost, ProviderHealthState, ProviderStatus};
