//! Status conditions in the shape of `metav1.Condition`, and the condition types this operator sets.
//!
//! We keep our own struct rather than `k8s_openapi`'s so the CRD schema carries the bounds a real API
//! server wants (maxLength, enums) and so the helpers below stay independent of the cluster client.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One observation of the resource's state, following the Kubernetes `metav1.Condition` convention.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition in CamelCase, e.g. Ready, SignalsStale, BudgetExceeded.
    #[schemars(length(min = 1, max = 316))]
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the condition's last transition.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Human-readable explanation of the condition.
    #[schemars(length(max = 32768))]
    #[serde(default)]
    pub message: String,
    /// Last time the condition changed status (RFC 3339).
    pub last_transition_time: String,
    /// The metadata.generation the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

/// Tri-state condition status, as in metav1.Condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// Condition types set on an InferencePool.
pub mod types {
    /// The pool is serving traffic and the last plan was applied (or recorded in Recommend mode).
    pub const READY: &str = "Ready";
    /// Replicas or node pools are moving towards the planned size.
    pub const PROGRESSING: &str = "Progressing";
    /// Something referenced by the pool is missing or an apply step failed.
    pub const DEGRADED: &str = "Degraded";
    /// Load or price signals are missing or older than allowed; the last safe plan is held.
    pub const SIGNALS_STALE: &str = "SignalsStale";
    /// Month-to-date or hourly spend has passed the policy's budget.
    pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
    /// The policy is in Recommend mode: the plan is shown in status and nothing is changed.
    pub const RECOMMEND_ONLY: &str = "RecommendOnly";
    /// The spec is internally consistent and every reference resolves (CostPolicy uses this too).
    pub const VALID: &str = "Valid";
}

impl Condition {
    /// Build a condition stamped with `now` (RFC 3339) as its transition time.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
        now: &str,
    ) -> Self {
        Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            last_transition_time: now.to_string(),
            observed_generation: generation,
        }
    }
}

/// Insert or replace `new` in `conditions`, keeping the old `lastTransitionTime` when the status did not
/// change (the Kubernetes convention: the time records the last *transition*, not the last write).
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            let keep_time = existing.status == new.status;
            let time = existing.last_transition_time.clone();
            *existing = new;
            if keep_time {
                existing.last_transition_time = time;
            }
        }
        None => conditions.push(new),
    }
}

/// Look up a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut cs = vec![];
        set_condition(&mut cs, Condition::new("Ready", ConditionStatus::True, "A", "", Some(1), "t1"));
        set_condition(&mut cs, Condition::new("Ready", ConditionStatus::True, "B", "m", Some(2), "t2"));
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, "t1");
        assert_eq!(cs[0].reason, "B");
        set_condition(&mut cs, Condition::new("Ready", ConditionStatus::False, "C", "", Some(2), "t3"));
        assert_eq!(cs[0].last_transition_time, "t3");
    }
}
