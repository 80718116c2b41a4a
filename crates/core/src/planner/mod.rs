//! The pure decision engine: a [`PoolConfig`], a [`Snapshot`] of what was observed, the planner's
//! [`Memory`] and the time go in; a [`Plan`] with a reason for every change comes out.
//!
//! No I/O, no async, no clock of its own, no Kubernetes client. The same function drives the
//! controller, Recommend mode, the simulator, the tests and the benchmarks. Times are seconds since the
//! Unix epoch as `f64` so the simulator can step through weeks of trace quickly.
//!
//! One tick of [`plan()`], step by step (each step is its own module):
//! 1. [`economics`]: μ for the live token mix ([`capacity`]: configured, token rates, learned), the external cost per request, the break-even
//!    utilisation u* = P_c / (3600 · μ · c_ext) per class, the lead time per class, and the two
//!    ski-rental horizons: buy a replica that the load would keep at a fraction f of its capacity once
//!    that load has lasted u* × (lead + window) / (f − u*); keep an unneeded one for lead × (1 + 1/u*).
//! 2. [`forecast`]: the rate at the end of the lead time (peak: the external API bridges up to it) and
//!    the level that has lasted the buy time, carried forward by its trend (base: worth GPUs).
//! 3. [`allocate`]: reserved for all demand (free at the margin); spot (within the spot fraction, halved
//!    by [`spot`] under frequent interruptions) then on-demand, one replica at a time while each pays
//!    back by that rule (an on-demand replica that makes room for spot, together with that spot); whatever the external API cannot take (share, rate limit, SLO) regardless;
//!    spares, replacements for interrupted replicas, limits. Running replicas are kept while the
//!    current demand keeps them above u*.
//! 4. [`scale_down`]: only to the highest recommendation within the keep window, a few per tick;
//!    idle pools released to their minimum.
//! 5. [`budget`]: past the allowance, Alert flags, Degrade moves to the cheapest tier and Hold adds
//!    nothing; neither lets additions raise the burn past the allowance.
//! 6. [`traffic`]: route weights from READY capacity, so the external API covers replicas still
//!    starting and replicas with an interruption notice at once.
//!
//! Stale or missing signals skip steps 1–5: the last safe plan (or what runs) is held, never lower.

pub mod allocate;
pub mod budget;
pub mod capacity;
pub mod config;
mod cost;
pub mod economics;
pub mod external;
pub mod forecast;
pub mod history;
pub mod learn;
pub mod memory;
pub mod overload;
pub mod plan;
pub mod priced_mix;
pub mod providers;
mod reasons;
pub mod scale_down;
mod sizing;
pub mod snapshot;
pub mod spot;
mod tick;
pub mod traffic;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_overload;

pub use capacity::{Capacity, CapacitySource};
pub use config::{BudgetConfig, ClassConfig, ExternalConfig, PoolConfig, SIGNAL_WINDOW_S};
pub use cost::{node_pool_gpus, usd_per_hour};
pub use history::History;
pub use memory::MemoryError;
pub use plan::{Change, ChangeKind, Plan};
pub use snapshot::{ClassObservation, LoadSignals, Memory, Prices, Sample, Snapshot, Spend};
pub use tick::plan;

pub use crate::status::{CapacityClassName as Class, PerClass, TrafficWeights};
