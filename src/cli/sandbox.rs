//! `hybridscale sandbox apiserver`: run the sandbox Kubernetes API server standalone and print the path of
//! the kubeconfig written for it (`KUBECONFIG=<path> kubectl get nodes`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Failure;
use crate::sandbox::faults::{FaultConfig, FaultRule, WatchCut};
use crate::sandbox::{Sandbox, SandboxOptions};

/// Flags of `hybridscale sandbox`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

/// Sandbox subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum SandboxCommand {
    /// Serve the Kubernetes API emulator until interrupted.
    Apiserver(ApiserverArgs),
}

/// Flags of `hybridscale sandbox apiserver`.
#[derive(clap::Args, Debug)]
pub struct ApiserverArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig (default: a file under the temp directory, printed at start).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Seed for fault injection, uids and generated names.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fault rule VERB:RESOURCE:FAULT:RATE (FAULT is 409, 429, 500 or timeout; `*` matches any verb or
    /// resource), e.g. `patch:deployments:409:0.1`. Repeatable.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<FaultRule>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How long a `timeout` fault holds a request before answering 504, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Cut every watch stream after a random number of events up to this many (0: never).
    #[arg(long, default_value_t = 0)]
    pub watch_cut_events: u32,
    /// Cut every watch stream after a random time between half this and this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub watch_cut_secs: u64,
    /// Watch events kept for resuming; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    pub history: usize,
    /// Do not install the bundled HTTPRoute, NodePool and MachineDeployment CRDs.
    #[arg(long)]
    pub no_bundled_crds: bool,
    #[command(flatten)]
    pub cluster: crate::sandbox::cluster::ClusterArgs,
}

/// Run a sandbox subcommand.
pub fn run(args: Args) -> Result<(), Failure> {
    match args.command {
        SandboxCommand::Apiserver(a) => apiserver(a),
    }
}

fn apiserver(a: ApiserverArgs) -> Result<(), Failure> {
    let watch_cut = (a.watch_cut_events > 0 || a.watch_cut_secs > 0)
        .then(|| WatchCut { max_events: a.watch_cut_events, max_age: Duration::from_secs(a.watch_cut_secs) });
    let opts = SandboxOptions {
        listen: a.listen,
        kubeconfig_path: a.kubeconfig,
        faults: FaultConfig {
            seed: a.seed,
            rules: a.faults,
            latency: Duration::from_millis(a.latency_ms),
            timeout: Duration::from_millis(a.timeout_ms),
            watch_cut,
        },
        history_limit: a.history,
        seed: a.seed,
        install_bundled_crds: !a.no_bundled_crds,
        ..SandboxOptions::default()
    };
    let rt = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    rt.block_on(async {
        let sandbox = Sandbox::start(opts).await.map_err(Failure::usage)?;
        let _cluster = a.cluster.start(&sandbox, a.seed).map_err(Failure::runtime)?;
        println!("{}", sandbox.kubeconfig_path.display());
        eprintln!(
            "sandbox API server on {}; try: KUBECONFIG={} kubectl get nodes",
            sandbox.url,
            sandbox.kubeconfig_path.display()
        );
        tokio::signal::ctrl_c().await.map_err(Failure::runtime)?;
        sandbox.stop().await;
        Ok(())
    })
}
