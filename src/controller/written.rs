//! The status this replica last wrote for each pool. The reconcile reads its pool from the controller's
//! watch cache, and a reconcile can start (woken by a Deployment or Node event, say) before the watch
//! has delivered this replica's own last status write. Planning from that older status and writing it
//! back would lose a tick of planner memory (a stabilisation entry, an interruption just counted) and
//! move the ledger's accrual point back. So the reconcile starts from whichever is newer, by the
//! decision time each carries: the cached object's status or the one written last.
//!
//! Keyed by uid, so a pool deleted and created again starts from its own status. A new leader starts
//! empty and trusts the cluster, which has had the lease hand-over (seconds) to settle. No cluster
//! access here.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::InferencePoolStatus;

/// The last status written per pool uid.
#[derive(Default)]
pub struct LastWritten(Mutex<HashMap<String, InferencePoolStatus>>);

/// When a status's decision was made; `None` without a decision or with an unreadable time.
fn decided_at(s: &InferencePoolStatus) -> Option<jiff::Timestamp> {
    s.last_decision.as_ref().and_then(|d| d.time.parse().ok())
}

impl LastWritten {
    /// Remember a status just written.
    pub fn remember(&self, uid: &str, status: &InferencePoolStatus) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(uid.to_string(), status.clone());
    }

    /// Forget a pool (it is being deleted).
    pub fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }

    /// The status to start from: the cached object's, unless the one written last is newer.
    pub fn newest(&self, uid: Option<&str>, cached: Option<&InferencePoolStatus>) -> InferencePoolStatus {
        let cached = cached.cloned().unwrap_or_default();
        let Some(uid) = uid else { return cached };
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(uid) {
            Some(ours) if decided_at(ours) > decided_at(&cached) => ours.clone(),
            _ => cached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::inference_pool::Decision;

    fn at(time: &str, mtd: f64) -> InferencePoolStatus {
        let mut s = InferencePoolStatus {
            last_decision: Some(Decision {
                time: time.into(),
                summary: String::new(),
                reasons: vec![],
                recommended_only: false,
            }),
            ..Default::default()
        };
        s.cost.month_to_date_usd = mtd;
        s
    }

    #[test]
    fn a_cache_behind_this_replicas_last_write_is_not_trusted() {
        let w = LastWritten::default();
        let older = at("2026-11-22T10:00:00Z", 1.0);
        let newer = at("2026-11-22T10:00:15Z", 2.0);
        // Nothing written yet: the cache.
        assert_eq!(w.newest(Some("u1"), Some(&older)), older);
        w.remember("u1", &newer);
        // The cache lags our write: ours.
        assert_eq!(w.newest(Some("u1"), Some(&older)), newer);
        assert_eq!(w.newest(Some("u1"), None), newer);
        // The cache caught up or moved on (another leader wrote later): the cache.
        let later = at("2026-11-22T10:00:30Z", 3.0);
        assert_eq!(w.newest(Some("u1"), Some(&later)), later);
        assert_eq!(w.newest(Some("u1"), Some(&newer)), newer);
        // Another pool, or one without a uid: its own status.
        assert_eq!(w.newest(Some("u2"), Some(&older)), older);
        assert_eq!(w.newest(None, Some(&older)), older);
        w.forget("u1");
        assert_eq!(w.newest(Some("u1"), Some(&older)), older);
    }
}
