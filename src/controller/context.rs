//! What every reconcile shares: the client, metrics, the event recorder, options, the clock and the
//! per-pool signal sources (kept so their last good values and ages survive between ticks).

use std::collections::HashMap;
use std::sync::Arc;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::Mutex;

use crate::telemetry::Metrics;

/// Operator-wide settings, from flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// Prometheus URL used when a pool does not name its own.
    pub prometheus_url: Option<String>,
    /// Bearer token for that default Prometheus (pools with spec.metrics.auth use their own Secret).
    pub prometheus_token: Option<crate::signals::BearerToken>,
    /// LiteLLM-format price file for external API prices, if any.
    pub price_file: Option<std::path::PathBuf>,
    /// Only watch this namespace (all namespaces when unset).
    pub namespace: Option<String>,
    /// This replica's identity for events and the lease.
    pub identity: String,
}

/// The clock: injected so tests and the simulator can drive time.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(jiff::Timestamp::now)
}

/// Shared reconcile state.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Exported metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder (events.k8s.io/v1).
    pub recorder: Recorder,
    /// Settings.
    pub options: Options,
    /// Time source.
    pub clock: Clock,
    /// Per-pool signal state, keyed by namespace/name.
    pub pool_signals: Mutex<HashMap<String, Arc<super::observe::PoolSignals>>>,
}

impl Context {
    /// Build a context.
    pub fn new(client: Client, metrics: Arc<Metrics>, options: Options, clock: Clock) -> Self {
        let reporter = Reporter { controller: "hybridscale".into(), instance: Some(options.identity.clone()) };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            options,
            clock,
            pool_signals: Mutex::new(HashMap::new()),
        }
    }

    /// Now, as Unix seconds (the planner's time unit).
    pub fn now_unix(&self) -> f64 {
        (self.clock)().as_millisecond() as f64 / 1000.0
    }
}
