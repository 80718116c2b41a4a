//! hybridscale: a Kubernetes operator that runs self-hosted LLM inference at the lowest cost that still
//! meets its latency SLO, overflowing to an external API when that is cheaper or faster.
//!
//! Module boundaries (see DESIGN.md): `api` and `planner` never import `controller`, `actuate` or
//! `signals`; the planner sees plain snapshots, never clients or traits.
#![forbid(unsafe_code)]

pub mod actuate;
pub mod api;
pub mod cli;
pub mod controller;
pub mod demo;
pub mod input;
pub mod ledger;
pub mod modelserver;
pub mod planner;
pub mod report;
pub mod sandbox;
pub mod selector;
pub mod signals;
pub mod sim;
pub mod telemetry;
pub mod tls;
