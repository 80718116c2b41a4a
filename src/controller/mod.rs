//! The running operator: one kube-runtime controller per kind, leader election, health and metrics,
//! clean shutdown on SIGTERM.
//!
//! Each InferencePool reconciles as a fixed pipeline (see [`pool`]):
//! dereference (policy) → validate ([`tick::ValidatedPool`]) → observe (cluster + signals) →
//! [`tick::tick`] (pure: plan, commands, ledger) → execute → status. Each step has its own error variant
//! ([`Error`]) and says whether it touches the cluster.

pub mod advice;
pub mod context;
pub mod cost;
pub mod error;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod policy;
pub mod pool;
pub mod retry;
pub mod status;
pub mod tick;
pub mod written;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

pub use context::{Context, DEFAULT_MAX_CONCURRENT_RECONCILES, Options, Tuning};
pub use error::Error;

use crate::api::{CostPolicy, InferencePool};
use crate::telemetry::{self, Health, Metrics};

/// How long the metrics server may finish in-flight requests after the controllers stopped.
const SERVER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Flags of the whole operator process.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Settings shared by reconciles.
    pub options: Options,
    /// Where /metrics, /healthz and /readyz listen.
    pub metrics_addr: SocketAddr,
    /// Run only while holding the lease (two replicas in production).
    pub leader_election: Option<leader::LeaderOptions>,
}

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connecting to Kubernetes: {0}")]
    Client(#[source] kube::Error),
    #[error("metrics server on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("leader election: {0}")]
    Leader(#[from] kube_lease_manager::LeaseManagerError),
}

/// A signal that fires once on SIGTERM or Ctrl-C.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

async fn fired(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Run the operator until SIGTERM.
pub async fn run(opts: RunOptions) -> Result<(), RunError> {
    run_tuned(opts, Tuning::default()).await
}

/// Run the operator until SIGTERM, with `tuning`.
pub async fn run_tuned(opts: RunOptions, tuning: Tuning) -> Result<(), RunError> {
    let config = kube::Config::infer().await.map_err(|e| RunError::Client(kube::Error::InferConfig(e)))?;
    let client = retry::client_with_retries(config).map_err(RunError::Client)?;
    run_with_client_tuned(client, opts, tuning, context::system_clock(), shutdown_signal()).await
}

/// Run the operator with a given client, clock and shutdown trigger (tests use this).
pub async fn run_with_client(
    client: Client,
    opts: RunOptions,
    clock: context::Clock,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    run_with_client_tuned(client, opts, Tuning::default(), clock, shutdown).await
}

/// [`run_with_client`] with `tuning`.
pub async fn run_with_client_tuned(
    client: Client,
    opts: RunOptions,
    tuning: Tuning,
    clock: context::Clock,
    shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let health = Health::new(metrics.clone());
    let (addr, server) = telemetry::serve(opts.metrics_addr, health.clone(), fired(shutdown.clone()))
        .await
        .map_err(|source| RunError::Listen { addr: opts.metrics_addr, source })?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");

    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), opts.options.clone(), clock).with_tuning(tuning));
    // Ready once we can serve: a standby replica is ready too, so rollouts are not blocked by election.
    health.set_ready(true);

    match &opts.leader_election {
        None => {
            metrics.leader.set(1);
            run_controllers(ctx, fired(shutdown.clone())).await;
        }
        Some(lease) => {
            let mut election = leader::elect(client.clone(), lease).await?;
            loop {
                tracing::info!(identity = %lease.identity, "waiting for the leader lease");
                tokio::select! {
                    _ = fired(shutdown.clone()) => break,
                    got = leader::wait_for(&mut election.leading, true) => if !got { break },
                }
                tracing::info!(identity = %lease.identity, "leading: starting controllers");
                metrics.leader.set(1);
                let mut leading = election.leading.clone();
                let lost = async move {
                    leader::wait_for(&mut leading, false).await;
                };
                let stop = fired(shutdown.clone());
                let trigger = async move {
                    tokio::select! { _ = lost => {}, _ = stop => {} }
                };
                run_controllers(ctx.clone(), trigger).await;
                metrics.leader.set(0);
                if *shutdown.borrow() {
                    break;
                }
                tracing::warn!("lost the leader lease: controllers stopped, standing by");
            }
            election.resign().await;
        }
    }
    tracing::debug!("controllers stopped; stopping the metrics server");
    health.set_ready(false);
    // axum's graceful shutdown waits for every open connection, and an idle keep-alive connection (any
    // Prometheus scraping /metrics) can hold it open for ever: SIGTERM then never ends the process.
    // In-flight scrapes get a moment to finish; then the server stops.
    let abort = server.abort_handle();
    if tokio::time::timeout(SERVER_DRAIN, server).await.is_err() {
        tracing::info!("closing the metrics server's remaining connections");
        abort.abort();
    }
    Ok(())
}

/// Both controllers until `trigger` fires. Only the leader runs this, so only the leader writes.
async fn run_controllers(ctx: Arc<Context>, trigger: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let (tx, rx) = watch::channel(false);
    let trigger = async move {
        trigger.await;
        let _ = tx.send(true);
    };
    tokio::spawn(trigger);
    let client = ctx.client.clone();
    let (pools, policies): (Api<InferencePool>, Api<CostPolicy>) = match &ctx.options.namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let pool_controller = pool::controller(ctx.clone(), pools.clone(), policies.clone(), fired(rx.clone()));
    // A policy sums its pools' spend every tick; a pool only needs to wake it at once when it appears or
    // its spec (its policy reference) changes, not on each of the pools' status writes.
    let pool_specs = watcher(pools, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .predicate_filter(predicates::generation, Default::default());
    // The policy's own status writes (one per tick) must not wake it again either.
    let (policy_store, policy_writer) = reflector::store();
    let policy_stream = watcher(policies, watcher::Config::default())
        .default_backoff()
        .reflect(policy_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let policy_controller = Controller::for_stream(policy_stream, policy_store)
        .watches_stream(pool_specs, policy::policies_of_pool)
        .graceful_shutdown_on(fired(rx))
        .run(policy::reconcile, policy::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    futures::join!(
        async {
            pool_controller.await;
            tracing::debug!("InferencePool controller stopped");
        },
        async {
            policy_controller.await;
            tracing::debug!("CostPolicy controller stopped");
        }
    );
}

/// Requeue after `seconds`.
pub(crate) fn requeue(seconds: u64) -> Action {
    Action::requeue(std::time::Duration::from_secs(seconds.max(1)))
}
