//! `hybridscale controller`: run the operator against the cluster in KUBECONFIG (or in-cluster config).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Failure;
use crate::controller::{self, Options, RunOptions, leader::LeaderOptions};
use crate::telemetry::{self, LogFormat};

/// Flags of `hybridscale controller`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Prometheus base URL for pools that do not set spec.metrics.prometheusUrl.
    #[arg(long, env = "HYBRIDSCALE_PROMETHEUS_URL", value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Bearer token for --prometheus-url (managed Prometheus services). Never logged.
    #[arg(long, env = "PROMETHEUS_BEARER_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub prometheus_bearer_token: Option<String>,
    /// LiteLLM-format price file (model_prices_and_context_window.json) for external API prices.
    #[arg(long, env = "HYBRIDSCALE_PRICE_FILE", value_name = "FILE")]
    pub price_file: Option<PathBuf>,
    /// Only watch this namespace (default: all namespaces).
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, alias = "listen-address", default_value = "0.0.0.0:8080", value_name = "ADDR")]
    pub metrics_addr: SocketAddr,
    /// Run only while holding a Lease (use with two or more replicas).
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "hybridscale-leader")]
    pub lease_name: String,
    /// Namespace of the leader Lease (default: the pod's namespace, else "default").
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Seconds a lease is valid without renewal.
    #[arg(long, default_value_t = 15)]
    pub lease_seconds: u64,
    /// This replica's identity (default: the pod name, else the host name and process id).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// InferencePool reconciles running at once (0: no bound). Reconciles mostly wait on the API server
    /// and Prometheus; without a bound every due pool starts at once and all finish late.
    #[arg(long, default_value_t = controller::DEFAULT_MAX_CONCURRENT_RECONCILES, value_name = "N")]
    pub max_concurrent_reconciles: u16,
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "hybridscale".to_string() } else { host };
    format!("{host}-{}", std::process::id())
}

/// Run the operator until SIGTERM.
pub fn run(args: Args) -> Result<(), Failure> {
    if let Some(p) = &args.price_file
        && let Err(e) = crate::signals::PriceTable::load(p)
    {
        return Err(Failure::usage(e));
    }
    telemetry::init_logging(args.log_format);
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let opts = RunOptions {
        options: Options {
            prometheus_url: args.prometheus_url,
            prometheus_token: args.prometheus_bearer_token.as_deref().map(crate::signals::BearerToken::new),
            price_file: args.price_file,
            namespace: args.namespace,
            identity: identity.clone(),
        },
        metrics_addr: args.metrics_addr,
        leader_election: args.leader_elect.then(|| LeaderOptions {
            lease_name: args.lease_name,
            namespace: args.lease_namespace.unwrap_or_else(|| "default".into()),
            identity,
            lease_seconds: args.lease_seconds,
        }),
    };
    let tuning = controller::Tuning { max_concurrent_reconciles: args.max_concurrent_reconciles };
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    runtime.block_on(controller::run_tuned(opts, tuning)).map_err(Failure::runtime)
}
