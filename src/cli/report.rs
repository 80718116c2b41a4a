//! `hybridscale report`: spend per namespace, pool, class and tenant, tokens, cost per million tokens and
//! savings for a UTC month (`--month 2026-11`) or any `--from/--to` range, read from the operator's
//! metrics in Prometheus; as a table, CSV, JSON or an SVG chart. The logic is in `crate::report`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Failure;
use crate::report::{self, Period};
use crate::signals::{BearerToken, PrometheusClient, PrometheusConfig};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables.
    Table,
    /// CSV with a `scope` column.
    Csv,
    /// One JSON object.
    Json,
    /// An SVG bar chart.
    Svg,
}

/// Flags of `hybridscale report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Prometheus that scrapes the operator.
    #[arg(long, env = "HYBRIDSCALE_PROMETHEUS_URL", value_name = "URL")]
    pub prometheus_url: String,
    /// Bearer token for --prometheus-url. Never logged.
    #[arg(long, env = "PROMETHEUS_BEARER_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub prometheus_bearer_token: Option<String>,
    /// A UTC calendar month, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    pub month: Option<String>,
    /// Start of the range (inclusive): RFC 3339 time or a date (midnight UTC).
    #[arg(long, value_name = "TIME", requires = "to")]
    pub from: Option<String>,
    /// End of the range (exclusive).
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// Only this namespace.
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Hours of samples per query (smaller for a Prometheus with a low sample limit).
    #[arg(long, value_name = "HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=744))]
    pub chunk_hours: u32,
    /// Seconds one query may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub timeout: u32,
}

/// The period the flags name.
pub fn period(args: &Args) -> Result<Period, Failure> {
    let p = match (&args.month, &args.from, &args.to) {
        (Some(m), None, None) => Period::month(m),
        (None, Some(f), Some(t)) => Period::range(f, t),
        _ => return Err(Failure::usage("give either --month YYYY-MM or both --from and --to")),
    };
    p.map_err(Failure::usage)
}

/// Fetch and build the report the flags ask for.
pub async fn build(args: &Args, progress: &ProgressBar) -> Result<report::Report, Failure> {
    let period = period(args)?;
    let mut cfg = PrometheusConfig::new(&args.prometheus_url);
    cfg.timeout = Duration::from_secs(u64::from(args.timeout));
    cfg.credentials.bearer_token = args.prometheus_bearer_token.as_deref().map(BearerToken::new);
    let client = PrometheusClient::new(&cfg).map_err(Failure::usage)?;
    let chunk = i64::from(args.chunk_hours) * 3600;
    let inputs = report::fetch::fetch(&client, &period, args.namespace.as_deref(), chunk, progress)
        .await
        .map_err(Failure::runtime)?;
    report::build(&period, &inputs).map_err(Failure::usage)
}

/// Render a report in a format.
pub fn render(r: &report::Report, format: Format) -> String {
    match format {
        Format::Table => report::render::text(r),
        Format::Csv => report::render::csv(r),
        Format::Json => report::render::json(r),
        Format::Svg => report::svg::render(r),
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    period(&args)?;
    let progress = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} queries {msg}") {
        progress.set_style(style);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    let r = runtime.block_on(build(&args, &progress))?;
    let text = render(&r, args.format);
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| Failure::usage(format!("{}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
