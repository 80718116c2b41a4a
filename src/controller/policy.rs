//! CostPolicy reconcile: validate, count the pools that follow it, and sum their spend into the
//! policy's status with the budget condition.
//!
//! Pipeline: dereference (list the pools following it; reads the cluster) → validate (pure) → build
//! status (pure, ledger) → write status (touches the cluster: the status subresource only).

use std::sync::Arc;
use std::time::Instant;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{Context, Error, error::Result, requeue};
use crate::actuate::FIELD_MANAGER;
use crate::api::conditions::{Condition, ConditionStatus, set_condition, types};
use crate::api::{CostPolicy, CostPolicyStatus, InferencePool};
use crate::ledger;
use crate::planner::BudgetConfig;
use crate::telemetry::observe_reconcile;

/// The policy a pool follows, for the policy controller's watch of pools.
pub fn policies_of_pool(pool: InferencePool) -> Option<ObjectRef<CostPolicy>> {
    let ns = pool.namespace()?;
    Some(ObjectRef::new(&pool.spec.cost_policy_ref.name).within(&ns))
}

/// Reconcile one CostPolicy.
pub async fn reconcile(policy: Arc<CostPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = reconcile_inner(&policy, &ctx).await;
    observe_reconcile(&ctx.metrics, "CostPolicy", started.elapsed(), result.as_ref().err().map(Error::metric_label));
    result
}

async fn reconcile_inner(policy: &CostPolicy, ctx: &Context) -> Result<Action> {
    let ns = policy.namespace().ok_or_else(|| Error::validate("CostPolicy has no namespace"))?;
    let name = policy.name_any();
    // Dereference (the pool controller's cache, else the cluster): the pools following this policy.
    let following: Vec<_> = ctx
        .pools_in(&ns)
        .await
        .map_err(|e| Error::observe(format!("InferencePools in {ns}"), e))?
        .into_iter()
        .filter(|p| p.spec.cost_policy_ref.name == name)
        .collect();

    // Build (pure).
    let now = (ctx.clock)();
    let now_s = now.to_string();
    let generation = policy.metadata.generation;
    let mut status = policy.status.clone().unwrap_or_default();
    let none = crate::api::inference_pool::CostStatus::default();
    let costs = following.iter().map(|p| p.status.as_ref().map_or(&none, |s| &s.cost));
    let totals =
        ledger::policy::sum_pools(costs, now).map_err(|e| Error::observe("the spend of the policy's pools", e))?;
    ledger::policy::apply_totals(&mut status, &totals);
    let budget = policy.spec.budget.as_ref().map(BudgetConfig::from);
    crate::telemetry::pool::record_policy(
        &ctx.metrics.pool,
        &ns,
        &name,
        [budget.as_ref().and_then(|b| b.monthly_usd), budget.as_ref().and_then(|b| b.hourly_usd)],
        totals.month_to_date_usd,
        totals.projected_month_usd,
    );
    status.observed_generation = generation;
    let budget = ledger::policy::budget_state(budget.as_ref(), &totals);
    set_condition(&mut status.conditions, budget.condition(generation, &now_s));
    set_condition(
        &mut status.conditions,
        Condition::new(
            types::VALID,
            ConditionStatus::True,
            "Accepted",
            format!("{} InferencePool(s) follow this policy", following.len()),
            generation,
            &now_s,
        ),
    );

    // Commitment advice (reads Prometheus, replays; at most daily).
    if super::advice::due(&status, now) {
        let mut advice = Vec::new();
        for pool in following.iter().take(64) {
            advice.push(super::advice::entry(pool, advise(ctx, policy, pool, now).await));
        }
        status.reservation_advice = advice;
        status.reservation_advice_at = Some(now_s.clone());
    }

    // Status (touches the cluster: status subresource, server-side apply).
    write_status(ctx, &ns, &name, &status).await?;
    Ok(requeue(u64::from(policy.spec.tick_seconds)))
}

/// One pool's advice from the Prometheus it reads (the operator-wide one, with its token, unless the
/// pool names its own).
async fn advise(
    ctx: &Context,
    policy: &CostPolicy,
    pool: &InferencePool,
    now: jiff::Timestamp,
) -> std::result::Result<crate::sim::advice::Advice, String> {
    let url = pool.spec.metrics.prometheus_url.clone().or_else(|| ctx.options.prometheus_url.clone());
    let url = url.ok_or("no Prometheus URL: set spec.metrics.prometheusUrl or --prometheus-url")?;
    if pool.spec.metrics.prometheus_url.is_some() && pool.spec.metrics.auth.is_some() {
        return Err("a pool's own Prometheus with spec.metrics.auth is not read for advice yet".into());
    }
    let mut config = crate::signals::PrometheusConfig::new(url);
    config.timeout = std::time::Duration::from_secs(u64::from(pool.spec.metrics.timeout_seconds).max(15));
    if pool.spec.metrics.prometheus_url.is_none()
        && let Some(token) = &ctx.options.prometheus_token
    {
        config.credentials.bearer_token = Some(token.clone());
        config.credentials.origin = "--prometheus-bearer-token".into();
    }
    let client = ctx.prometheus_client(&config).map_err(|e| e.to_string())?;
    let end = now.as_second() as f64;
    let (a, _) =
        super::advice::advise(&client, policy, pool, end, super::advice::HISTORY_DAYS, super::advice::STEP_S).await?;
    Ok(a)
}

async fn write_status(ctx: &Context, ns: &str, name: &str, status: &CostPolicyStatus) -> Result<()> {
    let api: Api<CostPolicy> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({
        "apiVersion": "hybridscale.dev/v1alpha1",
        "kind": "CostPolicy",
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// Retry failed policy reconciles with a short backoff.
pub fn error_policy(_policy: Arc<CostPolicy>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "CostPolicy reconcile failed");
    requeue(10)
}
