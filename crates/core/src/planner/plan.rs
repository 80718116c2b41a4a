//! The planner's output: targets and a readable reason for every change.

use super::{Class, Memory, PerClass, TrafficWeights};

/// What the pool should look like after this tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Target replicas per class.
    pub replicas: PerClass<u32>,
    /// Target GPUs per class node pool (replicas × GPUs per replica).
    pub node_pool_gpus: PerClass<u32>,
    /// Route weights; always sum to 100.
    pub traffic: TrafficWeights,
    /// Each external provider's route weight and why, in the config's order; the weights add up to
    /// the external weight (empty without providers).
    pub providers: Vec<super::providers::Part>,
    /// Every change from the observed state, with its reason.
    pub changes: Vec<Change>,
    /// One-line summary.
    pub summary: String,
    /// Signals were stale or missing and the last safe plan was held.
    pub signals_stale: bool,
    /// The budget is exceeded (projected month or hourly burn).
    pub budget_exceeded: bool,
    /// Estimated burn rate of this plan once applied and its replicas ready, USD/hour: GPUs of all
    /// classes (reserved at its price, as the ledger counts it) plus the external share the route will
    /// need at the current demand. Stale plans count GPUs only (the demand is unknown).
    pub usd_per_hour: f64,
    /// Memory to keep for the next tick.
    pub memory: Memory,
    /// The capacity per replica this plan was made with, where it comes from and its evidence.
    pub capacity: super::capacity::Capacity,
}

impl Plan {
    /// Each provider's route weight, in the config's order.
    pub fn provider_weights(&self) -> Vec<u32> {
        self.providers.iter().map(|p| p.weight).collect()
    }
}

/// One change and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// What changes.
    pub kind: ChangeKind,
    /// e.g. "spot 3->5: forecast 41 rps over the next 6 min exceeds ready capacity 30 rps".
    pub reason: String,
}

/// The kinds of change a plan makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Replicas of a class change.
    Replicas { class: Class, from: u32, to: u32 },
    /// Route weights change (external weight from, to).
    Traffic { from_external: u32, to_external: u32 },
}
