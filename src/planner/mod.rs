//! The pure decision engine: a [`PoolConfig`], a [`Snapshot`] of what was observed, the planner's
//! [`Memory`] and the time go in; a [`Plan`] with a reason for every change comes out.
//!
//! No I/O, no async, no clock of its own, no Kubernetes client. The same function drives the
//! controller, Recommend mode, the simulator, the tests and the benchmarks. Times are seconds since the
//! Unix epoch as `f64` so the simulator can step through weeks of trace quickly.

pub mod config;
pub mod plan;
pub mod snapshot;

pub use config::{BudgetConfig, ClassConfig, ExternalConfig, PoolConfig};
pub use plan::{Change, ChangeKind, Plan};
pub use snapshot::{ClassObservation, LoadSignals, Memory, Prices, Sample, Snapshot, Spend};

pub use crate::api::inference_pool::{CapacityClassName as Class, ClassReplicas, TrafficWeights};
