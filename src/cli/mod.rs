//! Command-line entry points. Each subcommand lives in its own module and only parses flags and calls
//! into the library; `main.rs` only dispatches.

pub mod controller;
pub mod crd;
pub mod demo;
pub mod exporter;
pub mod recommend;
pub mod report;
pub mod sandbox;
pub mod simulate;

use clap::{Parser, Subcommand};

/// The version `--version` prints: the crate version and the git commit it was built from (build.rs;
/// `unknown` outside a git checkout unless `HYBRIDSCALE_GIT_COMMIT` is set).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HYBRIDSCALE_GIT_COMMIT"), ")");

/// hybridscale: run self-hosted LLM inference at the lowest cost that meets its latency SLO.
#[derive(Parser, Debug)]
#[command(name = "hybridscale", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator: reconcile InferencePools and CostPolicies in the cluster of KUBECONFIG.
    Controller(controller::Args),
    /// Print the CustomResourceDefinitions, or write one file per CRD with --out-dir.
    Crd(crd::Args),
    /// Run the sample pool on this machine: sandbox cluster, Prometheus, a load profile and the operator.
    Demo(demo::Args),
    /// Serve synthetic vLLM/DCGM metrics of simulated model-server pods at /metrics.
    Exporter(exporter::Args),
    /// Spend per namespace, pool, class and tenant, tokens and savings for a month or range, from Prometheus.
    Report(report::Args),
    /// Replay a trace through the planner and the baselines and report what each would cost.
    Simulate(simulate::Args),
    /// Recommend a reserved commitment from the pool's demand of the last weeks in Prometheus.
    Recommend(recommend::Args),
    /// Local Kubernetes API emulator for tests and demos (`sandbox apiserver`).
    Sandbox(sandbox::Args),
}

/// A failed command: the one-line message and the process exit code.
#[derive(Debug)]
pub struct Failure {
    /// 2 for bad input (flags, files), 1 for anything else.
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad input from the user: exit code 2.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure { code: 2, message: message.to_string() }
    }
    /// A runtime failure: exit code 1.
    pub fn runtime(message: impl std::fmt::Display) -> Self {
        Failure { code: 1, message: message.to_string() }
    }
}

impl From<crate::input::InputError> for Failure {
    fn from(e: crate::input::InputError) -> Self {
        Failure::usage(e)
    }
}

/// A parsed command line: a command to run, or text to print as it is (help, version) and the exit
/// code after it (0, or 2 for help shown because the command was missing).
#[derive(Debug)]
pub enum Parsed {
    Command(Box<Cli>),
    Text { text: String, code: u8 },
}

/// Parse a command line. A bad one is a one-line [`Failure`] (clap's first line, without the usage that
/// follows it).
pub fn parse<I, T>(args: I) -> Result<Parsed, Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::error::ErrorKind;
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(Parsed::Command(Box::new(cli))),
        Err(e) if !e.use_stderr() => Ok(Parsed::Text { text: e.to_string(), code: 0 }),
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            Ok(Parsed::Text { text: e.to_string(), code: 2 })
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid command line");
            Err(Failure::usage(first.trim_start_matches("error: ").trim()))
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Controller(args) => controller::run(args),
        Command::Crd(args) => crd::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Exporter(args) => exporter::run(args),
        Command::Report(args) => report::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Recommend(args) => recommend::run(args),
        Command::Sandbox(args) => sandbox::run(args),
    }
}
