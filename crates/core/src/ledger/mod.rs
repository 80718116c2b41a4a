//! Cost accounting: spend integration per pool and class, month-to-date and projected spend, the summed
//! spend of a policy's pools and its budget state.
//!
//! Pure: no I/O, no clock (time is passed in), no Kubernetes client. The state lives in
//! `InferencePool.status.cost` ([`CostStatus`](crate::status::CostStatus)): accrual resumes from
//! its `accruedUntil`, so a restart or a leader change loses nothing and counts nothing twice.
//!
//! Wiring (per pool, per tick): `accrue(&status.cost, &usage, &snapshot.prices, now, &cfg)` and write
//! `Accrual::status` back into `status.cost` in the same status patch as the rest; per policy:
//! `sum_pools`, `apply_totals`, `budget_state(..).condition(..)`; the planner's `Spend` comes from
//! `planner_spend`. Then `accrue_finops` over the same interval: tokens, unit costs, counterfactual
//! spend and tenants ([`finops`], [`tenants`]).

pub mod accrual;
pub mod finops;
pub mod month;
pub mod policy;
pub mod tenants;

pub use accrual::{Accrual, LedgerConfig, Usage, accrue, burn_rate};
pub use finops::{FinopsInput, FinopsTick, accrue_finops, idle_gpus};
pub use month::{month_key, seconds_left_in_month};
pub use policy::{BudgetState, PolicyTotals, apply_totals, budget_state, planner_spend, sum_pools};
pub use tenants::TenantShare;

/// Why the ledger could not be updated. The caller keeps the previous status and reports the error.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LedgerError {
    /// `status.cost.accruedUntil` is not an RFC 3339 time.
    #[error("status.cost.accruedUntil {value:?} is not an RFC 3339 time: {reason}")]
    AccruedUntil { value: String, reason: String },
    /// A price or token rate is negative or not a number.
    #[error("{what} rate must be a finite number >= 0, got {value}")]
    InvalidRate { what: &'static str, value: f64 },
    /// A calendar computation overflowed (a time outside jiff's range).
    #[error("calendar computation failed: {0}")]
    Calendar(String),
}
