//! hybridscale's domain core: what the operator decides and how it bills, as plain functions of plain
//! values. The planner turns a snapshot and a time into a plan with its reasons; the ledger turns what
//! ran, and for how long, into money. Nothing here knows Kubernetes, runs async or reads a clock: this
//! crate's dependency tree has no kube, k8s-openapi, tokio or reqwest, and the compiler keeps it so.
//!
//! - [`planner`]: one tick's decision (capacity per class, route weights, provider split) and its reasons.
//! - [`ledger`]: the cost ledger's accrual, FinOps figures and budget sums.
//! - [`status`]: the values both write into the resources' status, with their JSON schema.
//! - [`input`]: reading an outside file with one located error (traces, policy and price files).
#![forbid(unsafe_code)]

pub mod input;
pub mod ledger;
pub mod planner;
pub mod status;

#[cfg(test)]
mod architecture_tests;
