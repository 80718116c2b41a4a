//! What every reconcile shares: the client, metrics, the event recorder, options, the clock, the
//! per-pool signal sources (kept so their last good values and ages survive between ticks), one
//! Prometheus client per (URL, credentials, timeout), and the controllers' caches of pools and policies.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Mutex;

use crate::api::{CostPolicy, InferencePool};
use crate::signals::{BearerToken, ClientError, PrometheusClient, PrometheusConfig};
use crate::telemetry::Metrics;

/// Reconciles of InferencePools that may run at once when no flag says otherwise. Each reconcile waits
/// on the API server and Prometheus most of its time, so a few dozen in flight keep a small machine busy;
/// unbounded (kube-runtime's default), every due pool starts at once and all of them finish late.
pub const DEFAULT_MAX_CONCURRENT_RECONCILES: u16 = 16;

/// Tuning of the controllers that tests and older callers may leave at its defaults.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Bound on InferencePool reconciles running at once (0: unbounded).
    pub max_concurrent_reconciles: u16,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { max_concurrent_reconciles: DEFAULT_MAX_CONCURRENT_RECONCILES }
    }
}

/// What makes two Prometheus clients interchangeable.
type ClientKey = (String, Duration, Option<BearerToken>, Option<Vec<u8>>);

/// The controllers' reflector caches, read instead of listing the cluster on every reconcile.
#[derive(Clone)]
pub struct Caches {
    /// InferencePools the pool controller watches.
    pub pools: Store<InferencePool>,
    /// CostPolicies the pool controller watches.
    pub policies: Store<CostPolicy>,
    /// Whether each store (pools, policies) has applied its first full list.
    pub listed: [Arc<AtomicBool>; 2],
}

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

/// A shared Prometheus client not asked for this long is dropped: its URL, token or CA changed, or
/// the pools using it are gone. Ten minutes is forty ticks at the default 15 s, far longer than a pool
/// with a normal tick goes without a reconcile; a pool with a longer tick only rebuilds its client.
pub const PROMETHEUS_CLIENT_IDLE_S: f64 = 600.0;

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
    /// Event publisher (events.k8s.io/v1), one note per event (`events.rs`).
    pub events: super::events::EventPublisher,
    /// Settings.
    pub options: Options,
    /// Time source.
    pub clock: Clock,
    /// Per-pool signal state, keyed by namespace/name.
    pub pool_signals: Mutex<HashMap<String, Arc<super::observe::PoolSignals>>>,
    /// Controller tuning.
    pub tuning: Tuning,
    /// The status last written per pool, for reconciles that start before the cache has it.
    pub written: super::written::LastWritten,
    /// Prometheus clients shared by the pools that use the same URL, credentials and timeout: each client
    /// holds a TLS configuration and a connection pool, too much to build per pool. With the Unix time
    /// each was last handed out, so that clients nobody asks for any more are dropped.
    prometheus_clients: std::sync::Mutex<HashMap<ClientKey, (PrometheusClient, f64)>>,
    /// Set while the controllers run (they are restarted on a leader change).
    caches: std::sync::RwLock<Option<Caches>>,
}

impl Context {
    /// Build a context.
    pub fn new(client: Client, metrics: Arc<Metrics>, options: Options, clock: Clock) -> Self {
        let reporter = Reporter { controller: "hybridscale".into(), instance: Some(options.identity.clone()) };
        Context {
            events: super::events::EventPublisher::new(client.clone(), reporter),
            client,
            metrics,
            options,
            clock,
            pool_signals: Mutex::new(HashMap::new()),
            tuning: Tuning::default(),
            written: Default::default(),
            prometheus_clients: std::sync::Mutex::new(HashMap::new()),
            caches: std::sync::RwLock::new(None),
        }
    }

    /// The same context with other tuning.
    pub fn with_tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// The shared Prometheus client for `config`, built on first use. Clients not asked for within
    /// [`PROMETHEUS_CLIENT_IDLE_S`] are dropped on the way.
    pub fn prometheus_client(&self, config: &PrometheusConfig) -> Result<PrometheusClient, ClientError> {
        let now = self.now_unix();
        let key = (
            config.url.clone(),
            config.timeout,
            config.credentials.bearer_token.clone(),
            config.credentials.ca_pem.clone(),
        );
        let mut clients = self.prometheus_clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|_, (_, used)| now - *used <= PROMETHEUS_CLIENT_IDLE_S);
        if let Some((c, used)) = clients.get_mut(&key) {
            *used = now;
            return Ok(c.clone());
        }
        let client = PrometheusClient::new(config)?;
        clients.insert(key, (client.clone(), now));
        Ok(client)
    }

    /// How many distinct Prometheus clients exist (for tests).
    pub fn prometheus_client_count(&self) -> usize {
        self.prometheus_clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Publish the running controllers' caches (`None` when they stop).
    pub fn set_caches(&self, caches: Option<Caches>) {
        *self.caches.write().unwrap_or_else(|e| e.into_inner()) = caches;
    }

    /// The caches, once both have applied their first full list (before that a lookup would miss objects
    /// that exist); `None` before, and when no controller runs.
    pub fn caches(&self) -> Option<Caches> {
        let caches = self.caches.read().unwrap_or_else(|e| e.into_inner()).clone()?;
        caches.listed.iter().all(|l| l.load(Ordering::Acquire)).then_some(caches)
    }

    /// A CostPolicy from the cache, or from the API server when the cache does not have it (yet).
    pub async fn cost_policy(&self, ns: &str, name: &str) -> Result<Option<CostPolicy>, kube::Error> {
        if let Some(c) = self.caches()
            && let Some(p) = c.policies.get(&ObjectRef::new(name).within(ns))
        {
            return Ok(Some(p.as_ref().clone()));
        }
        // A policy created a moment ago may not have reached the cache: ask the API server before
        // reporting it missing.
        kube::Api::<CostPolicy>::namespaced(self.client.clone(), ns).get_opt(name).await
    }

    /// The InferencePools of namespace `ns`, from the cache, else listed from the API server.
    pub async fn pools_in(&self, ns: &str) -> Result<Vec<Arc<InferencePool>>, kube::Error> {
        if let Some(c) = self.caches() {
            return Ok(c.pools.state().into_iter().filter(|p| p.metadata.namespace.as_deref() == Some(ns)).collect());
        }
        let api = kube::Api::<InferencePool>::namespaced(self.client.clone(), ns);
        Ok(api.list(&Default::default()).await?.items.into_iter().map(Arc::new).collect())
    }

    /// Now, as Unix seconds (the planner's time unit).
    pub fn now_unix(&self) -> f64 {
        (self.clock)().as_millisecond() as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        context_at(system_clock())
    }

    fn context_at(clock: Clock) -> Context {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("uri"));
        let client = Client::try_from(config).expect("client");
        let options = Options {
            prometheus_url: None,
            prometheus_token: None,
            price_file: None,
            namespace: None,
            identity: "test".into(),
        };
        Context::new(client, Arc::new(Metrics::new()), options, clock)
    }

    #[tokio::test]
    async fn prometheus_clients_nobody_asks_for_are_dropped() {
        let seconds = Arc::new(std::sync::atomic::AtomicI64::new(1_767_225_600));
        let now = seconds.clone();
        let clock: Clock = Arc::new(move || {
            jiff::Timestamp::from_second(now.load(Ordering::SeqCst)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        });
        let ctx = context_at(clock);
        let kept = PrometheusConfig::new("http://prometheus:9090");
        ctx.prometheus_client(&kept).expect("client");
        ctx.prometheus_client(&PrometheusConfig::new("http://old:9090")).expect("client");
        assert_eq!(ctx.prometheus_client_count(), 2);
        // The first keeps being asked for; the second, whose pools moved away, is not.
        for _ in 0..3 {
            seconds.fetch_add(300, Ordering::SeqCst);
            ctx.prometheus_client(&kept).expect("client");
        }
        assert_eq!(ctx.prometheus_client_count(), 1, "idle for 900 s > {PROMETHEUS_CLIENT_IDLE_S} s");
    }

    #[tokio::test]
    async fn pools_share_a_prometheus_client_per_url_credentials_and_timeout() {
        let ctx = context();
        let a = PrometheusConfig::new("http://prometheus:9090");
        for _ in 0..3 {
            ctx.prometheus_client(&a).expect("client");
        }
        assert_eq!(ctx.prometheus_client_count(), 1);
        let mut token = a.clone();
        token.credentials.bearer_token = Some(BearerToken::new("t"));
        ctx.prometheus_client(&token).expect("client");
        let mut slower = a.clone();
        slower.timeout = Duration::from_secs(9);
        ctx.prometheus_client(&slower).expect("client");
        ctx.prometheus_client(&PrometheusConfig::new("http://other:9090")).expect("client");
        assert_eq!(ctx.prometheus_client_count(), 4);
        assert!(ctx.prometheus_client(&PrometheusConfig::new("ftp://x")).is_err());
        assert_eq!(ctx.prometheus_client_count(), 4, "a failed build is not cached");
    }
}
