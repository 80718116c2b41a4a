//! Sizing the reserved commitment: the one cost decision that is the policy's, not the planner's.
//!
//! The planner fills whatever reservation the pool has first, but it cannot buy one: a commitment
//! is signed for a year, long before the load it serves is seen. The cheapest plan for a trace often
//! holds one (the oracle's does), so a platform team tuning spot against reserved capacity needs to
//! know how big it should be. This replays the planner itself at every candidate size, with
//! everything else in the policy unchanged, and recommends the cheapest that still meets the SLO
//! target. It is chosen with hindsight on the trace replayed: check it on a different period (last
//! month's trace for next month's commitment) before signing.

use std::path::Path;

use indicatif::ProgressBar;
use serde::Serialize;

use super::profile::World;
use super::run::StrategyResult;
use super::spot::SpotMarket;
use super::trace::Trace;
use super::{Scenario, run_one};
use hybridscale_api::cost_policy::CostPolicy;
use hybridscale_api::inference_pool::{CapacityClass, CapacityClassName, InferencePool, ScaleTargetRef};
use hybridscale_core::input::InputError;

/// One commitment size replayed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Reserved replicas committed (paid all the time).
    pub reserved: u32,
    /// hybridscale's total cost with it, USD.
    pub cost_usd: f64,
    /// hybridscale's SLO attainment with it.
    pub slo_attainment: f64,
}

/// The recommendation and every size it was chosen from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// The pool's own commitment.
    pub current: u32,
    /// The recommended commitment.
    pub recommended: u32,
    /// Why this one, in a sentence.
    pub reason: String,
    /// Every size replayed, smallest first.
    pub candidates: Vec<Candidate>,
}

impl Recommendation {
    /// The candidate for a size, if it was replayed.
    pub fn candidate(&self, reserved: u32) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.reserved == reserved)
    }
}

/// The pool with its reserved class committed to `reserved` replicas: the class is added when the
/// pool has none (targeting `<pool>-reserved`, nodes held so no provisioning delay) and removed at
/// zero.
pub fn with_reservation(pool: &InferencePool, reserved: u32) -> InferencePool {
    let mut pool = pool.clone();
    let classes = &mut pool.spec.capacity;
    if reserved == 0 {
        classes.reserved = None;
    } else {
        let name = format!("{}-reserved", pool.metadata.name.as_deref().unwrap_or("pool"));
        // A commitment is billed whether its replicas run or not, so a new reserved class keeps them
        // all running (minReplicas = maxReplicas, as the bench's reserved scenario does): with a minimum
        // of zero the idle rule released them at night and sent the trickle to the external API while
        // the commitment was still paid. An existing class keeps its own choice: always-on stays
        // always-on at the new size, any other minimum is kept (within the new size).
        let always_on =
            classes.reserved.as_ref().is_none_or(|c| c.min_replicas.is_some() && c.min_replicas == c.max_replicas);
        let class = classes.reserved.get_or_insert_with(|| CapacityClass {
            scale_target_ref: ScaleTargetRef { api_version: "apps/v1".into(), kind: "Deployment".into(), name },
            node_pool_ref: None,
            min_replicas: None,
            max_replicas: None,
            node_provision_seconds: 0,
        });
        class.max_replicas = Some(reserved);
        class.min_replicas = if always_on { Some(reserved) } else { class.min_replicas.map(|m| m.min(reserved)) };
        pool.spec.max_replicas = pool.spec.max_replicas.max(reserved);
    }
    pool
}

/// Replay hybridscale at commitments from none upwards and recommend the cheapest meeting the
/// policy's SLO target (or, when none does, the cheapest at least as good as the current one).
/// `path` names the policy file in errors; `world` is what a replica really serves (`profile.rs`);
/// `progress` grows by one replay per size tried.
#[allow(clippy::too_many_arguments)]
pub fn recommend(
    path: &Path,
    policy: &CostPolicy,
    pool: &InferencePool,
    world: &World,
    trace: &Trace,
    market: &SpotMarket,
    seed: u64,
    progress: Option<&ProgressBar>,
) -> Result<Recommendation, InputError> {
    let base = Scenario::from_resources(path, policy, pool)?.with_world(world.clone());
    let current = base.spec.reserved_commitment();
    let target = base.spec.target_attainment;
    // More than the trace's peak could ever use is never worth committing to.
    let peak = trace.stats().peak_rps;
    let slowest = (0..trace.len())
        .map(|i| base.spec.replica_rps_for(trace.mean_input[i], trace.mean_output[i]))
        .fold(base.spec.replica_rps, f64::min);
    let most = ((peak / slowest).ceil() as u32).clamp(current, base.spec.max_replicas.max(current));

    let replay = |reserved: u32| -> Result<Candidate, InputError> {
        let scenario =
            Scenario::from_resources(path, policy, &with_reservation(pool, reserved))?.with_world(world.clone());
        if let Some(p) = progress {
            p.inc_length(trace.len() as u64);
        }
        let r: Option<StrategyResult> = run_one("hybridscale", trace, &scenario, market, seed, progress);
        let r = r.ok_or_else(|| InputError::invalid(path, "hybridscale did not run"))?;
        Ok(Candidate { reserved, cost_usd: r.cost_usd, slo_attainment: r.slo_attainment })
    };
    // A commitment costs at least its own fee over the trace, so once the next size's fee alone is above
    // the cheapest cost that meets the target, no larger one can be cheaper. The cost is not convex in
    // the size (a small reservation changes which spot and on-demand replicas the planner buys and when),
    // so stopping after a few rises missed the cheapest: on the Mooncake trace it recommended none
    // ($172) where 9 reserved replicas cost $77.
    let duration_s = trace.stats().duration_s;
    let fee = |k: u32| f64::from(k) * base.spec.replica_usd_per_s(CapacityClassName::Reserved) * duration_s;
    let mut candidates: Vec<Candidate> = Vec::new();
    for reserved in 0..=most {
        candidates.push(replay(reserved)?);
        let cheapest =
            candidates.iter().filter(|c| c.slo_attainment >= target).map(|c| c.cost_usd).fold(f64::INFINITY, f64::min);
        // The current size is always replayed, so the comparison below has it.
        if fee(reserved + 1) >= cheapest && reserved >= current {
            break;
        }
    }
    let now = candidates.iter().find(|c| c.reserved == current).cloned();
    let now = now.ok_or_else(|| InputError::invalid(path, "the current commitment was not replayed"))?;
    let cheapest_of = |ok: &dyn Fn(&Candidate) -> bool| {
        candidates.iter().filter(|c| ok(c)).min_by(|a, b| a.cost_usd.total_cmp(&b.cost_usd)).cloned()
    };
    let (best, reason) = match cheapest_of(&|c| c.slo_attainment >= target) {
        Some(best) => {
            let reason = format!("the cheapest commitment meeting the {:.1}% SLO target on this trace", target * 100.0);
            (best, reason)
        }
        None => {
            let best = cheapest_of(&|c| c.slo_attainment >= now.slo_attainment).unwrap_or_else(|| now.clone());
            let reason = format!(
                "no commitment meets the {:.1}% SLO target on this trace; the cheapest at least as good as the current one ({:.3}%)",
                target * 100.0,
                now.slo_attainment * 100.0
            );
            (best, reason)
        }
    };
    Ok(Recommendation { current, recommended: best.reserved, reason, candidates })
}

impl Recommendation {
    /// Plain text for the table and Markdown reports.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "\nreserved commitment (hybridscale replayed at each size, everything else as in the policy):\n",
        );
        for c in &self.candidates {
            let mark = match (c.reserved == self.current, c.reserved == self.recommended) {
                (true, true) => "  <- current, recommended",
                (true, false) => "  <- current",
                (false, true) => "  <- recommended",
                _ => "",
            };
            out += &format!(
                "  {:>3} reserved: ${:.2}, {:.3}% within the SLO{mark}\n",
                c.reserved,
                c.cost_usd,
                c.slo_attainment * 100.0
            );
        }
        if let (Some(now), Some(best)) = (self.candidate(self.current), self.candidate(self.recommended)) {
            let saving = if now.cost_usd > 0.0 { 100.0 * (1.0 - best.cost_usd / now.cost_usd) } else { 0.0 };
            out += &format!(
                "recommended: {} reserved replicas ({}): ${:.2}, {saving:.1}% less than the current {}. Chosen with hindsight on this trace: check it on another period before committing.\n",
                self.recommended, self.reason, best.cost_usd, self.current
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy;

    fn resources() -> (CostPolicy, InferencePool) {
        policy::parse(Path::new(policy::DEFAULT_POLICY_NAME), policy::DEFAULT_POLICY).unwrap()
    }

    fn steady(rps: f64, hours: f64) -> Trace {
        Trace::flat(rps, (hours * 60.0) as usize, 60.0)
    }

    #[test]
    fn a_reserved_class_is_added_resized_and_removed() {
        let (_, pool) = resources();
        let mut none = pool.clone();
        none.spec.capacity.reserved = None;
        let three = with_reservation(&none, 3);
        let class = three.spec.capacity.reserved.as_ref().unwrap();
        assert_eq!((class.max_replicas, class.scale_target_ref.name.as_str()), (Some(3), "llama-70b-reserved"));
        assert_eq!(with_reservation(&pool, 5).spec.capacity.reserved.unwrap().max_replicas, Some(5));
        assert!(with_reservation(&pool, 0).spec.capacity.reserved.is_none());
        assert_eq!(with_reservation(&none, 40).spec.max_replicas, 40);
    }

    #[test]
    fn a_new_commitment_is_kept_running_and_an_existing_minimum_is_kept() {
        let (_, pool) = resources();
        let mut none = pool.clone();
        none.spec.capacity.reserved = None;
        // Added: always on (it is billed whether its replicas run or not).
        assert_eq!(with_reservation(&none, 3).spec.capacity.reserved.unwrap().min_replicas, Some(3));
        // Existing and always on: stays always on at the new size.
        let mut always = pool.clone();
        if let Some(r) = always.spec.capacity.reserved.as_mut() {
            (r.min_replicas, r.max_replicas) = (Some(2), Some(2));
        }
        assert_eq!(with_reservation(&always, 5).spec.capacity.reserved.unwrap().min_replicas, Some(5));
        // Existing with a lower minimum (the reserved nodes are shared): that minimum is kept.
        let mut shared = pool.clone();
        if let Some(r) = shared.spec.capacity.reserved.as_mut() {
            (r.min_replicas, r.max_replicas) = (Some(1), Some(4));
        }
        assert_eq!(with_reservation(&shared, 6).spec.capacity.reserved.unwrap().min_replicas, Some(1));
        assert_eq!(with_reservation(&shared, 0).spec.capacity.reserved, None);
    }

    #[test]
    fn steady_load_is_worth_a_reservation_and_the_recommendation_is_the_cheapest_meeting_the_slo() {
        // On-demand only besides the reservation: spot and the external API would undercut it.
        let (policy, mut pool) = resources();
        pool.spec.capacity.spot = None;
        pool.spec.external = None;
        let trace = steady(10.0, 24.0);
        let r = recommend(Path::new("p.yaml"), &policy, &pool, &World::Rated, &trace, &SpotMarket::Steady, 1, None)
            .unwrap();
        assert_eq!(r.current, 1);
        assert!(r.candidates.iter().all(|c| c.cost_usd.is_finite()), "{r:?}");
        let sizes: Vec<u32> = r.candidates.iter().map(|c| c.reserved).collect();
        assert_eq!(sizes, (0..sizes.len() as u32).collect::<Vec<_>>(), "every size from none upwards");
        let best = r.candidate(r.recommended).unwrap();
        assert!(best.slo_attainment >= 0.999, "{r:?}");
        for c in r.candidates.iter().filter(|c| c.slo_attainment >= 0.999) {
            assert!(best.cost_usd <= c.cost_usd, "{r:?}");
        }
        // The search stops only where the next size's fee alone is above the cheapest cost found, or at
        // the most the trace's peak could use: no size that could have been cheaper is skipped.
        let spec = Scenario::from_resources(Path::new("p"), &policy, &pool).unwrap().spec;
        let fee = |k: u32| f64::from(k) * spec.replica_usd_per_s(CapacityClassName::Reserved) * 24.0 * 3600.0;
        let most = (10.0 / spec.replica_rps_for(trace.mean_input[0], trace.mean_output[0])).ceil() as u32;
        let last = *sizes.last().unwrap();
        assert!(last >= most.min(spec.max_replicas) || fee(last + 1) >= best.cost_usd, "{r:?}");
        // A day of steady load at several replicas' worth, against on-demand at 1.67x the reserved
        // price: every replica the load keeps busy is worth reserving.
        let mu = spec.replica_rps_for(1000.0, 200.0);
        assert!(r.recommended >= (10.0 / mu) as u32, "{r:?}");
        assert!(r.to_text().contains("<- current"), "{}", r.to_text());
    }
}
