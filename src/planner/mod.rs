//! The pure decision engine: a [`PoolConfig`], a [`Snapshot`] of what was observed, the planner's
//! [`Memory`] and the time go in; a [`Plan`] with a reason for every change comes out.
//!
//! No I/O, no async, no clock of its own, no Kubernetes client. The same function drives the
//! controller, Recommend mode, the simulator, the tests and the benchmarks. Times are seconds since the
//! Unix epoch as `f64` so the simulator can step through weeks of trace quickly.

pub mod allocate;
pub mod budget;
pub mod config;
mod decide;
pub mod economics;
pub mod forecast;
pub mod memory;
pub mod plan;
mod reasons;
pub mod scale_down;
pub mod snapshot;
pub mod spot;
pub mod traffic;

#[cfg(test)]
mod tests;

pub use config::{BudgetConfig, ClassConfig, ConfigError, ExternalConfig, PoolConfig};
pub use decide::{node_pool_gpus, plan};
pub use memory::MemoryError;
pub use plan::{Change, ChangeKind, Plan};
pub use snapshot::{ClassObservation, LoadSignals, Memory, Prices, Sample, Snapshot, Spend};

pub use crate::api::inference_pool::{CapacityClassName as Class, ClassReplicas, TrafficWeights};
