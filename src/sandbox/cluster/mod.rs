//! Simulated cluster behaviour for the sandbox.

pub mod predicates;
pub mod well_known;
pub mod sizing;
