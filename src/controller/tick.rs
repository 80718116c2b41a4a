//! One tick of one pool, pure: the validated pool, what was observed, the status the tick starts from and
//! the time go in; the plan, the commands that carry it out, the ledger and what the status will say come
//! out. No client and no clock: the reconcile ([`super::pool`]) reads the clock once, observes, calls
//! [`tick`], runs the commands and writes the status.
//!
//! Read top to bottom, a tick is:
//! 1. the planner's memory from the previous status (a memory that cannot be read restarts empty, and
//!    status says so);
//! 2. [`planner::plan()`] on the observed snapshot;
//! 3. in Enforce mode, the plan resolved against the pool's spec and turned into commands
//!    ([`crate::actuate::decide()`]); in Recommend mode, none;
//! 4. the ledger: what runs now (not what the plan asks for) billed since the last accrual, with the
//!    tokens, savings and tenants of the same interval;
//! 5. the conditions' inputs: problems, stale signals, budget, whether the cluster is still moving.
//!
//! A command that fails when run is not an error of the reconcile: the tick's other commands were
//! independent of it, the status is still written, and the failure becomes a Degraded condition
//! ([`TickOutput::status`]) and is retried next tick. Errors are for steps after which nothing sensible
//! can be written (the policy missing, the pool invalid, the cluster unreadable, the status write).

use jiff::Timestamp;

use super::cost::{self, CostStep};
use super::observe::{Observation, SignalConfig};
use super::status;
use crate::actuate::{Command, Desired, InterruptionSignals, decide};
use crate::api::cost_policy::{CostPolicy, Mode};
use crate::api::inference_pool::{ExternalProvider, InferencePool, InferencePoolStatus};
use crate::api::planner_config::providers_in_use;
use crate::api::{ConfigError, FromResources};
use crate::ledger::{self, BudgetState, Usage};
use crate::planner::{self, Class, Memory, Plan, PoolConfig};

/// Everything the steps after validation need from the pool and its policy; nothing after validation
/// reads the policy's spec again.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedPool {
    /// The planner's configuration (classes, limits, SLO, external path and providers, idle reclaim).
    pub config: PoolConfig,
    /// Enforce (apply the plan) or Recommend (only write it in status).
    pub mode: Mode,
    /// Seconds between ticks.
    pub tick_s: u64,
    /// The external providers in use (none when data may not leave the cluster), in the planner's order.
    pub providers: Vec<ExternalProvider>,
    /// Seconds below the idle threshold before GPUs count as idle (for the idle-GPU gauge).
    pub idle_s: f64,
    /// What observe builds the pool's signal sources from: the SLO quantile, the history window and
    /// the policy's prices.
    pub signals: SignalConfig,
}

impl ValidatedPool {
    /// Validate a pool under its policy (pure).
    pub fn new(policy: &CostPolicy, pool: &InferencePool) -> Result<ValidatedPool, ConfigError> {
        Ok(ValidatedPool {
            config: PoolConfig::from_resources(policy, pool)?,
            mode: policy.spec.mode,
            tick_s: u64::from(policy.spec.tick_seconds),
            providers: providers_in_use(policy, pool),
            idle_s: f64::from(policy.spec.idle_reclaim.idle_seconds),
            signals: SignalConfig::of(&policy.spec),
        })
    }
}

/// What one tick decided.
pub struct TickOutput {
    /// The plan (applied in Enforce mode, only recommended otherwise).
    pub plan: Plan,
    /// The commands that carry the plan out, in order; empty in Recommend mode.
    pub commands: Vec<Command>,
    /// The ledger step: the new cost status, what it added, an Event for time it could not bill.
    pub ledger: CostStep,
    /// What the pool uses now, as billed.
    pub usage: Usage,
    /// Problems found while observing, reading memory, deciding and billing.
    pub problems: Vec<String>,
    /// Why signals are stale, when they are.
    pub stale_reason: Option<String>,
    /// The policy's budget state.
    pub budget: BudgetState,
    /// Whether the cluster is still moving towards the plan.
    pub progressing: bool,
}

/// One tick (pure). `prev` is the newest status this replica knows of the pool (`written.rs`).
pub fn tick(
    valid: &ValidatedPool,
    pool: &InferencePool,
    obs: &Observation,
    prev: &InferencePoolStatus,
    now: Timestamp,
) -> TickOutput {
    let mut problems = obs.problems.clone();
    let now_s = now.as_millisecond() as f64 / 1000.0;

    // 1-2. Memory and plan.
    let memory = Memory::try_from(&prev.planner_state).unwrap_or_else(|e| {
        problems.push(format!("status.plannerState unreadable, starting afresh: {e}"));
        Memory::default()
    });
    let plan = planner::plan(&valid.config, &obs.snapshot, &memory, now_s);

    // 3. Commands (Enforce only). The policy's idleReclaim.enabled decides whether idle nodes go back.
    let commands = match valid.mode {
        Mode::Enforce => {
            let ns = pool.metadata.namespace.as_deref().unwrap_or_default();
            let desired = Desired::from_plan(ns, &pool.spec, &plan, valid.config.idle_reclaim);
            let decision = decide(&desired, &obs.observed, &InterruptionSignals::default());
            problems.extend(decision.problems.iter().cloned());
            decision.commands
        }
        Mode::Recommend => Vec::new(),
    };

    // 4. Ledger: what runs, over the route's weights as they are now.
    let s = &obs.snapshot;
    let usage = cost::usage(&obs.observed, &s.load, s.traffic, &s.provider_weights, pool.spec.gpus_per_replica);
    let finops = ledger::FinopsInput {
        replica_rps: plan.capacity.rps.max(0.0),
        latency_s: s.load.latency_s.map(|l| l.value),
        slo_latency_s: valid.config.slo_latency_s,
        external_latency_s: cost::external_latency(&valid.providers, &s.provider_weights),
        shares: obs.tenants.as_ref().map(|t| t.shares.clone()),
    };
    let ledger = cost::accrue(&prev.cost, &usage, &obs.prices.prices, now, &finops);
    problems.extend(ledger.problem.clone());

    // 5. The conditions' inputs.
    let stale_reason = match (&obs.load, &obs.load_problem) {
        (_, Some(p)) => Some(p.clone()),
        (Some(l), None) if l.is_unavailable() => Some(l.summary()),
        _ if plan.signals_stale => Some("load signals missing or stale: holding the last safe plan".into()),
        _ => None,
    };
    let budget = ledger::budget_state(valid.config.budget.as_ref(), &obs.policy_totals);
    let progressing = Class::ALL.iter().any(|c| plan.replicas.get(*c) != obs.ready.get(*c));
    TickOutput { plan, commands, ledger, usage, problems, stale_reason, budget, progressing }
}

impl TickOutput {
    /// The status to write once the commands ran: `failed` is the command that failed (described) and
    /// why, which makes the pool Degraded without failing the reconcile.
    pub fn status(
        &self,
        valid: &ValidatedPool,
        pool: &InferencePool,
        obs: &Observation,
        failed: Option<String>,
        now: Timestamp,
    ) -> InferencePoolStatus {
        let mut problems = self.problems.clone();
        problems.extend(failed);
        let inputs = status::Inputs {
            plan: &self.plan,
            mode: valid.mode,
            ready: obs.ready,
            problems,
            stale_reason: self.stale_reason.clone(),
            price_notes: obs.prices.notes(),
            budget: self.budget.clone(),
            cost: self.ledger.status.clone(),
            progressing: self.progressing,
        };
        status::build(pool, &inputs, &now.to_string())
    }

    /// GPUs idle longer than the policy's idle period, for the idle-GPU gauge.
    pub fn idle_gpus(&self, valid: &ValidatedPool, now: Timestamp) -> u32 {
        let now_s = now.as_millisecond() as f64 / 1000.0;
        let idle_for = self.plan.memory.idle_since.map(|t| now_s - t);
        ledger::idle_gpus(&self.usage, idle_for, valid.idle_s, self.plan.capacity.rps)
    }
}

#[cfg(test)]
#[path = "tick_tests.rs"]
mod tests;
