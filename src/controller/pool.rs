//! InferencePool reconcile: one fixed pipeline per pool per tick and on every watched change.
//!
//! 1. dereference — read the CostPolicy (reads the cluster, or the controller's cache)
//! 2. validate    — [`ValidatedPool`]: the planner config, the signal sources' config and everything later
//!    steps need; nothing after it reads the policy (pure)
//! 3. observe     — workloads, node pools, route, nodes and signals into an Observation (reads the cluster
//!    and Prometheus); the clock is read once, here
//! 4. tick        — [`tick::tick`]: plan, commands, ledger, conditions' inputs (pure)
//! 5. execute     — run the commands, an Event per applied change (writes the cluster; none in Recommend)
//! 6. status      — one status write (writes the status subresource), the ledger's Event, the metrics

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};

use super::context::Caches;
use super::error::{DereferenceError, Result};
use super::{Context, Error, metrics, observe, requeue, status, tick};
use crate::actuate::{Command, Executor, InterruptionSignals, Outcome, RouteWeights};
use crate::api::{CostPolicy, InferencePool};
use crate::planner::{ChangeKind, Class, Plan};
use crate::telemetry::observe_reconcile;
use tick::ValidatedPool;

/// Finalizer that returns the HTTPRoute to a safe state when the pool is deleted.
pub const FINALIZER: &str = "hybridscale.dev/route-cleanup";

/// Run the InferencePool controller until `shutdown` resolves.
pub async fn controller(
    ctx: Arc<Context>,
    pools: Api<InferencePool>,
    policies: Api<CostPolicy>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let cfg = watcher::Config::default();
    // The pools and their policies are cached (reflectors) for the reconciles to read, and both trigger
    // streams drop status-only updates: every reconcile writes its pool's status and every policy
    // reconcile its policy's, and reacting to those would reconcile each pool again at once, forever,
    // instead of once per tick.
    // Each cache counts as filled once its first full list has been applied (`listed`). A flag, not
    // `Store::wait_until_ready`: its signal wakes only the last of several concurrent waiters, and the
    // controller's own runner already waits on the pool store.
    let (store, pool_writer) = reflector::store();
    let pools_listed = Arc::new(AtomicBool::new(false));
    let flag = pools_listed.clone();
    let pool_stream = watcher(pools, cfg.clone())
        .default_backoff()
        .reflect(pool_writer)
        .inspect(move |e| mark_listed(e, &flag))
        .applied_objects()
        .predicate_filter(pool_changes, Default::default());
    let (policy_store, policy_writer) = reflector::store();
    let policies_listed = Arc::new(AtomicBool::new(false));
    let flag = policies_listed.clone();
    let policy_stream = watcher(policies, cfg.clone())
        .default_backoff()
        .reflect(policy_writer)
        .inspect(move |e| mark_listed(e, &flag))
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    ctx.set_caches(Some(Caches {
        pools: store.clone(),
        policies: policy_store,
        listed: [pools_listed, policies_listed],
    }));
    let config = controller::Config::default().concurrency(ctx.tuning.max_concurrent_reconciles);
    let mut c = Controller::for_stream(pool_stream, store.clone()).with_config(config);
    let s = store.clone();
    c = c.watches_stream(policy_stream, move |p: CostPolicy| following(&s, &p));
    let s = store.clone();
    c = c.watches(Api::<Deployment>::all(client.clone()), cfg.clone(), move |d: Deployment| {
        targeting(&s, "Deployment", &d.namespace().unwrap_or_default(), &d.name_any())
    });
    let s = store.clone();
    c = c.watches(Api::<StatefulSet>::all(client.clone()), cfg.clone(), move |d: StatefulSet| {
        targeting(&s, "StatefulSet", &d.namespace().unwrap_or_default(), &d.name_any())
    });
    // Nodes matter when they are interrupted: react at once instead of at the next tick.
    let s = store.clone();
    c = c.watches(Api::<Node>::all(client.clone()), cfg.clone(), move |n: Node| {
        let interrupted =
            InterruptionSignals::default().reason(&crate::actuate::NodeInfo::from_node(&n, &[])).is_some();
        if interrupted { s.state().iter().map(|p| ObjectRef::from_obj(p.as_ref())).collect() } else { vec![] }
    });
    // Optional third-party kinds: watch them only when the cluster serves them.
    for (group, version, kind, field) in [
        ("gateway.networking.k8s.io", "v1", "HTTPRoute", Field::Route),
        ("karpenter.sh", "v1", "NodePool", Field::NodePool),
        ("cluster.x-k8s.io", "v1beta1", "MachineDeployment", Field::NodePool),
    ] {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok((ar, _caps)) => {
                // All namespaces (or, for cluster-scoped NodePools, the whole cluster).
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                let s = store.clone();
                let kind = kind.to_string();
                c = c.watches_with(api, ar, cfg.clone(), move |o: DynamicObject| {
                    referencing(&s, field, &kind, &o.namespace().unwrap_or_default(), &o.name_any())
                });
            }
            Err(e) => tracing::info!(%group, %kind, error = %e, "not served by this cluster; not watching it"),
        }
    }
    c.graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "reconcile loop");
            }
            futures::future::ready(())
        })
        .await;
    ctx.set_caches(None);
}

/// Set `flag` once the reflector has applied its first full list.
fn mark_listed<K>(event: &std::result::Result<watcher::Event<K>, watcher::Error>, flag: &AtomicBool) {
    if matches!(event, Ok(watcher::Event::InitDone)) {
        flag.store(true, Ordering::Release);
    }
}

/// What of a pool deserves a reconcile when it changes: its spec (generation), its finalizers and its
/// deletion. Status writes, the operator's own, do not; the tick's requeue covers time passing.
pub fn pool_changes(pool: &InferencePool) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pool.metadata.generation.hash(&mut h);
    pool.metadata.finalizers.hash(&mut h);
    pool.metadata.deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

#[derive(Clone, Copy)]
enum Field {
    Route,
    NodePool,
}

fn following(store: &Store<InferencePool>, policy: &CostPolicy) -> Vec<ObjectRef<InferencePool>> {
    let ns = policy.namespace();
    store
        .state()
        .iter()
        .filter(|p| p.namespace() == ns && p.spec.cost_policy_ref.name == policy.name_any())
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

fn targeting(store: &Store<InferencePool>, kind: &str, ns: &str, name: &str) -> Vec<ObjectRef<InferencePool>> {
    store
        .state()
        .iter()
        .filter(|p| {
            p.namespace().as_deref() == Some(ns)
                && Class::ALL
                    .iter()
                    .filter_map(|c| p.spec.capacity.get(*c))
                    .any(|cc| cc.scale_target_ref.kind == kind && cc.scale_target_ref.name == name)
        })
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

fn referencing(
    store: &Store<InferencePool>,
    field: Field,
    kind: &str,
    ns: &str,
    name: &str,
) -> Vec<ObjectRef<InferencePool>> {
    store
        .state()
        .iter()
        .filter(|p| match field {
            Field::Route => p.namespace().as_deref() == Some(ns) && p.spec.route.http_route == name,
            Field::NodePool => {
                Class::ALL.iter().filter_map(|c| p.spec.capacity.get(*c)?.node_pool_ref.as_ref()).any(|np| {
                    let np_kind = format!("{:?}", np.kind);
                    np_kind == kind && np.name == name
                })
            }
        })
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// Reconcile one pool (with the finalizer around it).
pub async fn reconcile(pool: Arc<InferencePool>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let ns = pool.namespace().unwrap_or_default();
    let api: Api<InferencePool> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, pool, |event| async {
        match event {
            Finalizer::Apply(p) => apply(&p, &ctx).await,
            Finalizer::Cleanup(p) => cleanup(&p, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(Box::new(other)),
    });
    observe_reconcile(&ctx.metrics, "InferencePool", started.elapsed(), result.as_ref().err().map(Error::metric_label));
    result
}

/// Retry failed reconciles with a short backoff; the error is already in status and metrics.
pub fn error_policy(pool: Arc<InferencePool>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(pool = %pool.name_any(), error = %error, "InferencePool reconcile failed");
    requeue(5)
}

async fn apply(pool: &InferencePool, ctx: &Context) -> Result<Action> {
    let ns = pool.namespace().ok_or_else(|| Error::validate("InferencePool has no namespace"))?;
    let name = pool.name_any();

    // 1. Dereference the CostPolicy (the controller's cache; the cluster when the cache does not have it).
    let policy_name = &pool.spec.cost_policy_ref.name;
    let dereference =
        |source: DereferenceError| Error::Dereference { namespace: ns.clone(), name: policy_name.clone(), source };
    let policy = match ctx.cost_policy(&ns, policy_name).await.map_err(|e| dereference(e.into()))? {
        Some(p) => p,
        None => {
            let err = dereference(DereferenceError::NotFound);
            status::write_failure(ctx, pool, &ns, &err).await?;
            return Err(err);
        }
    };

    // 2. Validate (pure): nothing after this step reads the policy's spec.
    let valid = match ValidatedPool::new(&policy, pool) {
        Ok(v) => v,
        Err(e) => {
            let err = Error::validate(e);
            status::write_failure(ctx, pool, &ns, &err).await?;
            return Err(err);
        }
    };

    // 3. Observe (reads the cluster and Prometheus), at the one time this reconcile runs at.
    let now = (ctx.clock)();
    let obs = observe::observe(ctx, &ns, pool, &valid, now).await?;

    // 4. Tick (pure). The cached object may not have this replica's last status write yet (`written.rs`).
    let uid = pool.metadata.uid.as_deref();
    let prev = ctx.written.newest(uid, pool.status.as_ref());
    let mut out = tick::tick(&valid, pool, &obs, &prev, now);

    // 5. Execute (writes the cluster): the commands in order, an Event for each applied change.
    let failed = execute(ctx, pool, &out, now).await;

    // 6. Status (writes the status subresource), the ledger's Event and the metrics.
    if let Some(e) = obs.tenants.as_ref().and_then(|t| t.error.as_ref()) {
        tracing::warn!(pool = %name, error = %e, "attribution query failed; this tick's spend goes to tenant other");
    }
    if let Some(event) = out.ledger.event.take() {
        send(ctx, pool, event, now).await;
    }
    let new_status = out.status(&valid, pool, &obs, failed, now);
    let facts = metrics::TickFacts {
        slo_latency_s: valid.config.slo_latency_s,
        slo_target_attainment: valid.config.target_attainment,
        tick: &out.ledger.tick,
        idle_gpus: out.idle_gpus(&valid, now),
        accrued_seconds: out.ledger.accrued_seconds,
        spot_interruptions: metrics::new_interruptions(
            &prev.planner_state.spot_interruptions,
            &new_status.planner_state.spot_interruptions,
        ),
        signals_stale: out.stale_reason.is_some() || out.plan.signals_stale,
    };
    metrics::record(ctx, pool, &out.plan, &new_status, &facts);
    status::write(ctx, &ns, &name, &new_status).await?;
    if let Some(uid) = uid {
        ctx.written.remember(uid, &new_status);
    }
    Ok(requeue(valid.tick_s))
}

/// Run the tick's commands; an Event for each applied change, carrying the planner's reason. Returns the
/// command that failed and why (the rest of the list is not run: each step may depend on the one before).
async fn execute(ctx: &Context, pool: &InferencePool, out: &tick::TickOutput, now: jiff::Timestamp) -> Option<String> {
    let report = Executor::new(ctx.client.clone()).run_all(&out.commands).await;
    for (cmd, outcome) in &report.done {
        match outcome {
            Outcome::Applied => publish(ctx, pool, cmd, &out.plan, now).await,
            Outcome::RetryLater(why) => {
                tracing::info!(pool = %pool.name_any(), command = %cmd.describe(), %why, "retry later")
            }
            Outcome::Unchanged => {}
        }
    }
    report.failed.as_ref().map(|(cmd, err)| format!("{}: {err}", cmd.describe()))
}

/// The planner's reason for the change a command carries out.
fn reason_for(cmd: &Command, plan: &Plan) -> Option<String> {
    plan.changes
        .iter()
        .find(|ch| match (ch.kind, cmd) {
            (ChangeKind::Replicas { class, .. }, Command::ScaleWorkload { class: c, .. }) => class == *c,
            (ChangeKind::Traffic { .. }, Command::SetRouteWeights { .. }) => true,
            _ => false,
        })
        .map(|ch| ch.reason.clone())
}

/// An Event for an applied change, carrying the planner's reason.
async fn publish(ctx: &Context, pool: &InferencePool, cmd: &Command, plan: &Plan, now: jiff::Timestamp) {
    let (reason, action) = match cmd {
        Command::SetRouteWeights { .. } => ("TrafficShifted", "SetRouteWeights"),
        Command::ScaleWorkload { .. } => ("Scaled", "Scale"),
        Command::SetNodePoolGpuLimit { .. } | Command::ScaleMachineDeployment { .. } => {
            ("NodePoolResized", "ResizeNodePool")
        }
        Command::Cordon { .. } | Command::Evict { .. } | Command::DeleteNode { .. } => ("GpuReclaimed", "Reclaim"),
        Command::Uncordon { .. } => ("GpuReturned", "Uncordon"),
    };
    let note = match reason_for(cmd, plan) {
        Some(why) => format!("{}: {why}", cmd.describe()),
        None => cmd.describe(),
    };
    let event = KubeEvent {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: None,
    };
    send(ctx, pool, event, now).await;
}

/// Publish an Event about the pool; a failure is logged, never fails the reconcile.
async fn send(ctx: &Context, pool: &InferencePool, event: KubeEvent, now: jiff::Timestamp) {
    if let Err(e) = ctx.events.publish(&event, &pool.object_ref(&()), now).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

/// The weights the finalizer leaves on the route (`route::safe_weights`): traffic may only be left on
/// the external backend when the policy lets data leave the cluster and gives the API a share. Without
/// the policy (deleted first) nobody can say whether data may leave, and the route keeps the weights
/// hybridscale set under it (`None`).
fn final_weights(ready: u32, policy: Option<&CostPolicy>, pool: &InferencePool) -> Option<RouteWeights> {
    let policy = policy?;
    let external_allowed = policy.spec.external.effective_max_share() > 0.0;
    let providers = pool.spec.providers().len();
    Some(crate::actuate::route::safe_weights(ready, external_allowed, providers))
}

/// On deletion: leave the route with every request going somewhere that serves. If self-hosted replicas
/// are ready, or the policy does not let data leave the cluster, all traffic goes to them (the route's
/// state before hybridscale managed it); otherwise it stays on the external backend. Replicas and node pools are left as they are: deleting a pool must
/// never take capacity away under live traffic.
async fn cleanup(pool: &InferencePool, ctx: &Context) -> Result<Action> {
    let ns = pool.namespace().unwrap_or_default();
    observe::forget(ctx, &ns, &pool.name_any()).await;
    if let Some(uid) = pool.metadata.uid.as_deref() {
        ctx.written.forget(uid);
    }
    let refs = observe::references(&ns, pool);
    let executor = Executor::new(ctx.client.clone());
    let Some(route) =
        executor.get_route(&ns, &pool.spec.route.http_route).await.map_err(|e| Error::observe("the HTTPRoute", e))?
    else {
        return Ok(Action::await_change());
    };
    let ready = pool.status.as_ref().map_or(0, |s| s.ready_replicas);
    let policy_name = &pool.spec.cost_policy_ref.name;
    let policy = ctx.cost_policy(&ns, policy_name).await.map_err(|e| Error::Dereference {
        namespace: ns.clone(),
        name: policy_name.clone(),
        source: e.into(),
    })?;
    let Some(weights) = final_weights(ready, policy.as_ref(), pool) else {
        return Ok(Action::await_change());
    };
    let mut target = refs.route.clone();
    target.weights = weights;
    if let Ok(Some(rules)) = crate::actuate::route::rules_with_weights(&route, &target) {
        let cmd = Command::SetRouteWeights {
            namespace: ns.clone(),
            route: pool.spec.route.http_route.clone(),
            rules,
            resource_version: route.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).map(String::from),
            backends: target.backend_names(),
            from: crate::actuate::route::current_weights(&route, &target).ok(),
            to: target.weights.clone(),
        };
        executor.run(&cmd).await.map_err(|source| Error::Apply { what: cmd.describe(), source })?;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
