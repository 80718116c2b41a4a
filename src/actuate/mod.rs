//! Actuation: make the cluster match a plan.
//!
//! Split in two so the decisions are testable without a cluster:
//! - pure: [`Desired::from_plan`] resolves a plan against the pool's spec, [`decide()`] compares it with the
//!   [`Observed`] cluster state and returns [`Command`]s (decisions as data), and
//!   [`find_interruptions`] turns node taints into the planner's interrupted-replica counts;
//! - async: the [`Executor`] reads what it needs ([`Executor::observe`]) and runs commands against a
//!   `kube::Client`. Every write is a server-side apply under the one field manager [`FIELD_MANAGER`], or a
//!   patch of the /scale subresource recorded under the same manager, and every command first reads
//!   the current state and skips when it already matches, so applying the same plan twice writes
//!   nothing.

pub mod command;
pub mod decide;
pub mod desired;
pub mod execute;
pub mod gie;
pub mod interrupt;
pub mod observed;
pub mod rbac;
pub mod resources;
pub mod route;

#[cfg(test)]
mod decide_tests;

pub use crate::selector::Selector;
pub use command::Command;
pub use decide::{Actuation, decide};
pub use desired::{Desired, NodePoolTarget, ObjectRef, RouteTarget, RouteWeights, WorkloadTarget};
pub use execute::{Executor, Outcome, Report};
pub use interrupt::{InterruptionSignals, Interruptions, find_interruptions};
pub use observed::{NodeInfo, NodePoolView, Observed, PodInfo, ScaleView};

/// The field manager of every write hybridscale makes. GitOps tools key their ignore rules on it
/// (see docs/gitops.md), so it must never change.
pub const FIELD_MANAGER: &str = "hybridscale";

/// Why an actuation step failed.
#[derive(Debug, thiserror::Error)]
pub enum ActuateError {
    /// The API server refused or could not be reached.
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The HTTPRoute does not have the shape the pool's spec.route describes.
    #[error("HTTPRoute {route}: {why}")]
    Route { route: String, why: String },
    /// A /scale status.selector could not be parsed.
    #[error(transparent)]
    Selector(#[from] crate::selector::ParseError),
    /// A scale target's apiVersion/kind is unknown to the API server.
    #[error("{api_version} {kind}: {why}")]
    UnknownKind { api_version: String, kind: String, why: String },
}
