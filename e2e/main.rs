//! End-to-end scenarios: each starts its own sandbox API server with the simulated cluster, the real
//! Prometheus, the synthetic model-server exporter behind a simulated gateway, and the operator (the
//! real binary, or in-process), applies a small pool's objects, drives load and asserts on the cluster
//! state. Scenarios are independent (own ports, own servers) and run in parallel.

mod support;

mod faults;
mod handover;
mod idle;
mod interruption;
mod outage;
mod ramp;
mod recommend;
mod spike;
