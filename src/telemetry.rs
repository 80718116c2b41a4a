//! Logs, metrics and health endpoints.
//!
//! - Logs: `tracing` with JSON output (one object per line, as log pipelines expect) or plain text for
//!   humans (`--log-format text`).
//! - `/metrics`: Prometheus text format from a `prometheus-client` registry. Reconcile counts, durations
//!   and errors by kind and error label; per pool replicas per class, external share, $/hour,
//!   believed capacity, and the FinOps series of [`pool`] (spend, tokens, tenants, unit costs, savings,
//!   SLO, idle GPUs, budgets); `hybridscale_build_info`.
//! - `/healthz`: the process is alive. `/readyz`: the controllers have started (leader or standby).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub mod pool;

pub use pool::{PoolInfoLabels, PoolMetrics, PoolRecord};

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Install the global tracing subscriber. `RUST_LOG` overrides the default `info` level.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: a second call (tests) is not an error worth failing for.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Labels of reconcile metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// InferencePool or CostPolicy.
    pub kind: String,
}

/// Labels of reconcile error metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// InferencePool or CostPolicy.
    pub kind: String,
    /// The error's metric label (every error type maps to one).
    pub error: String,
}

/// Labels of per-pool gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub namespace: String,
    pub pool: String,
}

/// Labels of per-pool, per-class gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolClassLabels {
    pub namespace: String,
    pub pool: String,
    /// reserved, spot, on_demand or external ([`class_label`]).
    pub class: String,
}

/// Labels of `hybridscale_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub commit: String,
}

/// The metric label of a capacity class (snake case, as Prometheus label values usually are).
pub fn class_label(c: crate::planner::Class) -> &'static str {
    use crate::planner::Class;
    match c {
        Class::Reserved => pool::CLASSES[0],
        Class::Spot => pool::CLASSES[1],
        Class::OnDemand => pool::CLASSES[2],
    }
}

/// All metrics the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Reconciles started, by kind.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconcile failures, by kind and error label.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration in seconds, by kind.
    pub reconcile_duration: Family<ReconcileLabels, Histogram>,
    /// Replicas per class the last plan asked for.
    pub replicas: Family<PoolClassLabels, Gauge>,
    /// Percent of traffic on the external API.
    pub external_share: Family<PoolLabels, Gauge>,
    /// Burn rate, USD per hour.
    pub usd_per_hour: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    /// Requests per second one replica is believed to serve within the SLO now.
    pub capacity_rps: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge,
    /// The FinOps series.
    pub pool: PoolMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Create and register every metric under the `hybridscale_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hybridscale");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Family::<ReconcileLabels, Histogram>::new_with_constructor(|| {
            // Fine below 1 s, where reconciles live, so p50/p99 can be read from the buckets.
            Histogram::new([
                0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
                1.0, 2.5, 5.0, 10.0,
            ])
        });
        let replicas = Family::<PoolClassLabels, Gauge>::default();
        let external_share = Family::<PoolLabels, Gauge>::default();
        let usd_per_hour = Family::<PoolLabels, Gauge<f64, AtomicU64>>::default();
        let capacity_rps = Family::<PoolLabels, Gauge<f64, AtomicU64>>::default();
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register("reconcile_errors", "Reconciles that failed, by error label", reconcile_errors.clone());
        registry.register("reconcile_duration_seconds", "Reconcile duration", reconcile_duration.clone());
        registry.register("pool_replicas", "Replicas per capacity class the last plan asked for", replicas.clone());
        registry.register(
            "pool_external_share_percent",
            "Percent of traffic on the external API",
            external_share.clone(),
        );
        registry.register("pool_usd_per_hour", "Burn rate in USD per hour", usd_per_hour.clone());
        registry.register(
            "pool_replica_capacity_requests_per_second",
            "Requests per second one replica is believed to serve within the SLO (configured, token mix or learned)",
            capacity_rps.clone(),
        );
        registry.register("leader", "1 while this replica holds the leader lease", leader.clone());
        let build = Family::<BuildLabels, Gauge>::default();
        let commit = env!("HYBRIDSCALE_GIT_COMMIT").to_string();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into(), commit }).set(1);
        registry.register("build_info", "The operator's version and commit (value 1)", build);
        let pool = PoolMetrics::register(&mut registry);
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            replicas,
            external_share,
            usd_per_hour,
            capacity_rps,
            leader,
            pool,
        }
    }

    /// Render the registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Shared state of the health server.
#[derive(Clone)]
pub struct Health {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
}

impl Health {
    /// A health state, not ready until [`Health::set_ready`].
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Health { metrics, ready: Arc::new(AtomicBool::new(false)) }
    }
    /// Mark the process ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

async fn metrics_handler(State(h): State<Health>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], h.metrics.encode())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(h): State<Health>) -> (StatusCode, &'static str) {
    if h.ready.load(Ordering::SeqCst) { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "starting") }
}

/// The /metrics, /healthz and /readyz routes.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health)
}

/// Serve the health routes on `addr` until `shutdown` resolves. Returns the bound address (port 0
/// picks a free one).
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(health)).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "health server failed");
        }
    });
    Ok((bound, task))
}

/// Record one reconcile's outcome.
pub fn observe_reconcile(metrics: &Metrics, kind: &str, elapsed: Duration, error_label: Option<&str>) {
    let labels = ReconcileLabels { kind: kind.to_string() };
    metrics.reconciles.get_or_create(&labels).inc();
    metrics.reconcile_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    if let Some(error) = error_label {
        metrics.reconcile_errors.get_or_create(&ErrorLabels { kind: kind.to_string(), error: error.to_string() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_prefix_and_labels() {
        let m = Metrics::new();
        observe_reconcile(&m, "InferencePool", Duration::from_millis(3), Some("signals"));
        m.usd_per_hour.get_or_create(&PoolLabels { namespace: "ns".into(), pool: "p".into() }).set(12.5);
        let text = m.encode();
        assert!(text.contains("hybridscale_reconciles_total{kind=\"InferencePool\"} 1"), "{text}");
        assert!(
            text.contains("hybridscale_reconcile_errors_total{kind=\"InferencePool\",error=\"signals\"} 1"),
            "{text}"
        );
        assert!(text.contains("hybridscale_pool_usd_per_hour{namespace=\"ns\",pool=\"p\"} 12.5"), "{text}");
    }
}
