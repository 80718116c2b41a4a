//! Helpers shared by integration tests (a test binary that needs them declares `mod support;`).

pub mod chart;
