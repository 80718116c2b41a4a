//! `hybridscale recommend`: the reserved-commitment advice the operator writes into CostPolicy status,
//! from the command line: the pool's demand of the last days read from Prometheus and replayed at every
//! commitment size (`controller::advice::advise`, the replay of `simulate --recommend-reservation`).

use std::path::PathBuf;

use super::Failure;
use crate::controller::advice;
use crate::signals::{Credentials, PrometheusClient, PrometheusConfig};
use crate::sim::policy;

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A YAML file with the CostPolicy and the InferencePool (as `simulate --policy` takes).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Prometheus base URL (default: the pool's spec.metrics.prometheusUrl).
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// File holding a bearer token for Prometheus.
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// Days of demand to replay, ending now (or at --end).
    #[arg(long, value_name = "DAYS", default_value_t = advice::HISTORY_DAYS)]
    pub days: f64,
    /// Seconds per step of the history.
    #[arg(long, value_name = "SECONDS", default_value_t = advice::STEP_S)]
    pub step: f64,
    /// End of the window (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write the replayed demand as a rate CSV (`window_start_s,total_rate_rps`), so that
    /// `simulate --trace FILE --trace-format rate-csv --step <step> --recommend-reservation` replays it.
    #[arg(long, value_name = "FILE.csv")]
    pub save_trace: Option<PathBuf>,
}

fn check(args: &Args) -> Result<(), Failure> {
    if !(args.days.is_finite() && args.days > 0.0 && args.days <= 400.0) {
        return Err(Failure::usage(format!("--days must be in (0, 400], got {}", args.days)));
    }
    if !(args.step.is_finite() && args.step >= 1.0 && args.step <= 86_400.0) {
        return Err(Failure::usage(format!("--step must be in [1, 86400] seconds, got {}", args.step)));
    }
    Ok(())
}

/// Run the command.
pub fn run(args: Args) -> Result<(), Failure> {
    check(&args)?;
    let text = crate::input::read_to_string(&args.policy)?;
    let (cost_policy, pool) = policy::parse(&args.policy, &text)?;
    let end = match &args.end {
        Some(t) => t.parse::<jiff::Timestamp>().map_err(|e| Failure::usage(format!("--end {t:?}: {e}")))?,
        None => jiff::Timestamp::now(),
    };
    let url = args.prometheus_url.clone().or_else(|| pool.spec.metrics.prometheus_url.clone());
    let url = url.ok_or_else(|| Failure::usage("no Prometheus URL: pass --prometheus-url"))?;
    let mut config = PrometheusConfig::new(url);
    config.timeout = std::time::Duration::from_secs(60);
    config.credentials = Credentials::from_files(args.bearer_token_file.as_deref(), None).map_err(Failure::usage)?;
    let client = PrometheusClient::new(&config).map_err(Failure::usage)?;
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    let end_s = end.as_second() as f64;
    let (a, trace) = runtime
        .block_on(advice::advise(&client, &cost_policy, &pool, end_s, args.days, args.step))
        .map_err(Failure::runtime)?;
    if let Some(path) = &args.save_trace {
        std::fs::write(path, rate_csv(&trace)).map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
    }
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&a).map_err(Failure::runtime)? + "\n",
        Format::Table => format!(
            "pool {}: {} steps of {:.0} s ({:.1} days, peak {:.2} rps)\n\
             reserved replicas: {} now, {} recommended ({} GPUs)\n\
             monthly saving: ${:.2}\nbreak-even utilisation of a reserved GPU: {:.1}%\nwhy: {}\n",
            pool.metadata.name.as_deref().unwrap_or(""),
            trace.len(),
            trace.step_s,
            a.history_days,
            trace.stats().peak_rps,
            a.current_replicas,
            a.recommended_replicas,
            a.recommended_gpus,
            a.monthly_saving_usd,
            a.break_even_utilization * 100.0,
            a.reason
        ),
    };
    print!("{out}");
    Ok(())
}

/// The trace as a ServeGen-style rate CSV, one row per step.
fn rate_csv(trace: &crate::sim::Trace) -> String {
    let mut out = String::from("window_start_s,total_rate_rps\n");
    for (i, a) in trace.arrivals.iter().enumerate() {
        out.push_str(&format!("{},{}\n", i as f64 * trace.step_s, a / trace.step_s));
    }
    out
}
