//! hybridscale: a Kubernetes operator that runs self-hosted LLM inference at the lowest cost that still
//! meets its latency SLO, overflowing to an external API when that is cheaper or faster.
//!
//! The workspace keeps the layers apart (see README.md, "Layout"); each arrow is a dependency the
//! compiler allows, and none points back:
//!
//! ```text
//! hybridscale-core (planner, ledger, status values; no Kubernetes, no async)
//!   <- hybridscale-api (the CRD types, their schema validation)
//!        <- hybridscale-sim (the trace-replay simulator)
//!        <- hybridscale-sandbox (API server emulator, simulated cluster)
//!             <- hybridscale (this crate: signals, actuate, controller, telemetry, cli, the binary)
//! ```
//!
//! The crates below are re-exported under their old module names, so `hybridscale::planner` is the
//! planner wherever it is used from.
#![forbid(unsafe_code)]

pub mod actuate;
pub mod cli;
pub mod controller;
pub mod demo;
pub mod modelserver;
pub mod report;
pub mod signals;
pub mod telemetry;
pub mod tls;

pub use hybridscale_api as api;
pub use hybridscale_api::selector;
pub use hybridscale_core::{input, ledger, planner};
pub use hybridscale_sandbox as sandbox;
pub use hybridscale_sim as sim;
