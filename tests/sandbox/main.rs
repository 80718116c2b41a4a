//! The sandbox, end to end, in one test binary (one link instead of three on a two-core machine):
//!
//! - `client`: the API server driven by the real `kube::Client` over HTTP (CRUD, watch, apply, CRDs,
//!   eviction, faults, a kube-runtime Controller).
//! - `cluster`: the simulated cluster's controllers against the server (node pools, Cluster API, spot
//!   interruptions, faults, workloads being deleted, `hybridscale sandbox apiserver --simulate-cluster`).
//! - `kubectl`: the API server driven by the real `kubectl` (samples, explain, invalid samples, apply
//!   conflicts, drain, bundled CRDs).
//!
//! Run one part with `cargo test --test sandbox client::` (or `cluster::`, `kubectl::`).

mod client;
mod cluster;
mod kubectl;
