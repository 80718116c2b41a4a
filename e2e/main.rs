//! End-to-end scenarios: each starts its own sandbox API server with the simulated cluster, the real
//! Prometheus, the synthetic model-server exporter behind a simulated gateway, and the operator (the
//! real binary, or in-process), applies a small pool's objects, drives load and asserts on the cluster
//! state. Scenarios are independent (own ports, own servers) and run in parallel.
//!
//! With `HS_E2E_KUBECONFIG=<path>` they run on that kubeconfig's cluster instead, each in a fresh
//! namespace; scenarios that need the sandbox's powers are skipped there with the reason printed (see
//! `support::target` and docs/testing.md). `e2e/kubeconfig.sh` runs that mode against a standalone sandbox.

mod support;

mod capacity;
mod dashboard;
mod faults;
mod handover;
mod idle;
mod interruption;
mod outage;
mod providers;
mod ramp;
mod recommend;
mod spike;
