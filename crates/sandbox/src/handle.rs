//! Starting and stopping a sandbox: `Sandbox::start` binds, installs the bundled CRDs, writes a kubeconfig
//! and serves until `stop` (or drop).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::faults::{FaultConfig, Faults};
use super::kubeconfig;
use super::server::{self, AppState};
use super::store::{Store, WriteOpts};

/// The CRDs installed at start. Each is minimal: it covers only the fields hybridscale uses.
pub const BUNDLED_CRDS: &[(&str, &str)] = &[
    ("httproutes.gateway.networking.k8s.io", include_str!("crds/httproutes.gateway.networking.k8s.io.yaml")),
    ("nodepools.karpenter.sh", include_str!("crds/nodepools.karpenter.sh.yaml")),
    ("machinedeployments.cluster.x-k8s.io", include_str!("crds/machinedeployments.cluster.x-k8s.io.yaml")),
    // The Gateway API Inference Extension's pool, a self-hosted backend an HTTPRoute may point at.
    (
        "inferencepools.inference.networking.k8s.io",
        include_str!("crds/inferencepools.inference.networking.k8s.io.yaml"),
    ),
];

/// Errors starting or using a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A bundled CRD does not parse or register.
    #[error("bundled CRD {name}: {message}")]
    BundledCrd {
        /// CRD name.
        name: String,
        /// What failed.
        message: String,
    },
    /// kube::Client could not be built.
    #[error("kube client for {url}: {message}")]
    Client {
        /// Server URL.
        url: String,
        /// What failed.
        message: String,
    },
}

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to write the kubeconfig; default `$TMPDIR/hybridscale-sandbox-<port>/kubeconfig`.
    pub kubeconfig_path: Option<PathBuf>,
    /// Fault injection at start (changeable later with [`Sandbox::set_faults`]).
    pub faults: FaultConfig,
    /// Watch events kept for resuming; older resourceVersions get 410 Gone.
    pub history_limit: usize,
    /// BOOKMARK interval for watches that allow bookmarks.
    pub bookmark_interval: Duration,
    /// Seed for uids and generated names.
    pub seed: u64,
    /// Install the bundled HTTPRoute, NodePool and MachineDeployment CRDs.
    pub install_bundled_crds: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kubeconfig_path: None,
            faults: FaultConfig::default(),
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            seed: 0,
            install_bundled_crds: true,
        }
    }
}

/// A running sandbox API server.
pub struct Sandbox {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// The kubeconfig written for it.
    pub kubeconfig_path: PathBuf,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Bind, install bundled CRDs, write the kubeconfig and serve in the background.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| SandboxError::Bind { addr: opts.listen, source })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind { addr: opts.listen, source })?;
        let url = format!("http://{addr}");
        let store = Store::new(opts.history_limit, opts.seed);
        if opts.install_bundled_crds {
            install_bundled(&store)?;
        }
        let state = Arc::new(AppState {
            store,
            faults: Arc::new(Faults::new(opts.faults.clone())),
            bookmark_interval: opts.bookmark_interval,
            address: addr.to_string(),
            requests: Default::default(),
        });
        let kubeconfig_path = opts.kubeconfig_path.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("hybridscale-sandbox-{}", addr.port())).join("kubeconfig")
        });
        kubeconfig::write(&kubeconfig_path, &url)
            .map_err(|source| SandboxError::Kubeconfig { path: kubeconfig_path.clone(), source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(state.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(Sandbox { url, addr, kubeconfig_path, state, shutdown: Some(tx), task: Some(task) })
    }

    /// A kube::Client for this server, with kube's defaults (it retries 429, 503 and 504 itself).
    pub fn client(&self) -> Result<kube::Client, SandboxError> {
        let config = self.kube_config()?;
        kube::Client::try_from(config)
            .map_err(|e| SandboxError::Client { url: self.url.clone(), message: e.to_string() })
    }

    /// Replace the fault configuration (the decision stream restarts from its seed).
    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.faults.set(faults);
    }

    /// Faults injected so far.
    pub fn fault_counts(&self) -> super::faults::FaultCounts {
        self.state.faults.counts()
    }

    /// The kube configuration for this server (plain http, no credentials), e.g. to turn off kube's
    /// default retries of 429/503/504 before building a client.
    pub fn kube_config(&self) -> Result<kube::Config, SandboxError> {
        let uri: axum::http::Uri = self.url.parse().map_err(|e: axum::http::uri::InvalidUri| SandboxError::Client {
            url: self.url.clone(),
            message: e.to_string(),
        })?;
        Ok(kube::Config::new(uri))
    }

    /// Resource requests served so far per "verb resource" (e.g. `Patch deployments`), for benchmarks.
    pub fn request_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The store, for tests that inspect state directly.
    pub fn store(&self) -> Arc<Store> {
        self.state.store.clone()
    }

    /// Stop serving; open watches end.
    pub async fn stop(mut self) {
        self.shutdown_now();
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown_now();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn install_bundled(store: &Store) -> Result<(), SandboxError> {
    let mut inner = store.lock();
    let rt = inner.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions").ok_or_else(|| {
        SandboxError::BundledCrd { name: "customresourcedefinitions".into(), message: "not registered".into() }
    })?;
    for (name, yaml) in BUNDLED_CRDS {
        let obj: Value = serde_saphyr::from_str(yaml)
            .map_err(|e| SandboxError::BundledCrd { name: name.to_string(), message: e.to_string() })?;
        inner
            .create(&rt, None, obj, &WriteOpts::default())
            .map_err(|e| SandboxError::BundledCrd { name: name.to_string(), message: e.message })?;
    }
    Ok(())
}
