//! `hybridscale simulate`: replay a trace through the planner and the baselines against a model of
//! the cluster and print what each would cost. With no arguments it replays an embedded excerpt of
//! the Azure LLM code trace under an embedded Llama-3.1-70B policy.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::Failure;
use crate::sim::{self, LoadOptions, Scenario, SpotMarket, TraceFormat, loaders, policy};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// Exactly one JSON object.
    Json,
    /// A Markdown table.
    Markdown,
}

/// Flags of `hybridscale simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trace to replay (Azure LLM CSV, Mooncake JSONL, ServeGen aggregate rate CSV or per-minute
    /// counts CSV). Default: an embedded 30-minute excerpt of the Azure LLM code trace 2023.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Format of --trace.
    #[arg(long, value_name = "FORMAT", default_value = "auto", value_parser = ["auto", "azure", "mooncake", "rate-csv", "per-minute"])]
    pub trace_format: String,
    /// Multi-document YAML with a CostPolicy and an InferencePool. Default: an embedded
    /// Llama-3.1-70B-on-H100 policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// What a replica really serves in the replay, whatever the policy's replicaCapacity believes: a
    /// built-in profile (llama-3.1-70b-fp8-4xh100, llama-3.1-8b-fp8-1xh100), `rated` (the policy's own
    /// rating) or a profile file (YAML: name, source, prefillTokensPerSecond, attentionTokens,
    /// decodeTokensPerSecond, timePerOutputTokenSeconds, kvCacheTokens). Default: the built-in profile
    /// matching the pool's model and GPUs per replica, else `rated`.
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// Multiply every request rate by this factor.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub rate_scale: f64,
    /// Make every prompt this many times as long (long-context traffic from a chat trace).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub prompt_scale: f64,
    /// Stretch the time axis by this factor (same requests over X times the duration).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub time_scale: f64,
    /// Cap the request rate of rate series at this many requests per second (after scaling).
    #[arg(long, value_name = "RPS")]
    pub max_rps: Option<f64>,
    /// Request trace whose token sizes are drawn for rate series. Default: the embedded excerpt.
    #[arg(long, value_name = "FILE")]
    pub tokens_from: Option<PathBuf>,
    /// Seconds per simulation step.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub step: f64,
    /// Spot availability trace (SkyPilot spot-traces JSON) instead of a Poisson interruption rate.
    #[arg(long, value_name = "FILE")]
    pub spot_trace: Option<PathBuf>,
    /// Spot interruptions per replica-hour when no --spot-trace is given.
    #[arg(long, value_name = "RATE", default_value_t = 0.1)]
    pub spot_interruptions_per_hour: f64,
    /// Seed for token draws and spot interruptions.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also recommend a reserved commitment: replay hybridscale at every size from none upwards and
    /// report the cheapest that meets the SLO target (chosen with hindsight on this trace).
    #[arg(long)]
    pub recommend_reservation: bool,
    /// An error burst at an external provider: from START_S seconds into the trace, for DURATION_S
    /// seconds, the provider named NAME (as in the pool's externalProviders; the single `external`
    /// form's provider is named after its model, in lower case with '-' for other characters) fails
    /// ERROR_RATIO of the requests it accepts (default 1: all). Repeatable.
    #[arg(long, value_name = "NAME:START_S:DURATION_S[:ERROR_RATIO]")]
    pub provider_outage: Vec<String>,
    /// Also write an SVG plot of the replay to this file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

fn positive(name: &str, v: f64) -> Result<(), Failure> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Failure::usage(format!("--{name} must be a positive number, got {v}")))
    }
}

/// Everything a replay needs, read and checked: what [`prepare`] gives [`run`].
pub struct Replay {
    /// The policy file's path (or the embedded policy's name).
    pub policy_path: PathBuf,
    /// The policy file's CostPolicy.
    pub cost_policy: crate::api::CostPolicy,
    /// The policy file's InferencePool.
    pub pool: crate::api::InferencePool,
    /// The simulated world and the planner's configuration.
    pub scenario: Scenario,
    /// The binned trace, within `sim::limits`.
    pub trace: sim::Trace,
    /// Spot availability.
    pub market: SpotMarket,
}

/// Check the flags and read every file: bad input of any size is a one-line [`Failure`] here, and a
/// replay that passes is bounded (`sim::limits`).
pub fn prepare(args: &Args) -> Result<Replay, Failure> {
    positive("rate-scale", args.rate_scale)?;
    positive("time-scale", args.time_scale)?;
    positive("prompt-scale", args.prompt_scale)?;
    if args.prompt_scale > 1e4 {
        return Err(Failure::usage(format!("--prompt-scale must be at most 10000, got {}", args.prompt_scale)));
    }
    positive("step", args.step)?;
    if args.step > sim::limits::MAX_STEP_S {
        return Err(Failure::usage(format!(
            "--step must be at most {} seconds, got {}",
            sim::limits::MAX_STEP_S,
            args.step
        )));
    }
    if let Some(m) = args.max_rps {
        positive("max-rps", m)?;
    }
    if !(args.spot_interruptions_per_hour.is_finite() && args.spot_interruptions_per_hour >= 0.0) {
        return Err(Failure::usage("--spot-interruptions-per-hour must be a number >= 0"));
    }
    let format: TraceFormat = args.trace_format.parse().map_err(Failure::usage)?;

    let (policy_path, policy_text) = match &args.policy {
        Some(p) => (p.clone(), crate::input::read_to_string(p)?),
        None => (PathBuf::from(policy::DEFAULT_POLICY_NAME), policy::DEFAULT_POLICY.to_string()),
    };
    let (cost_policy, pool) = policy::parse(&policy_path, &policy_text)?;
    let mut scenario = Scenario::from_resources(&policy_path, &cost_policy, &pool)?;
    if let Some(p) = &args.profile {
        scenario = scenario.with_world(sim::profile::World::select(p)?);
    }
    add_outages(&mut scenario.spec, &args.provider_outage)?;
    let tokens = match &args.tokens_from {
        Some(p) => {
            let text = crate::input::read_to_string(p)?;
            let raw = loaders::parse(p, &text, TraceFormat::Auto)?;
            sim::TokenSample::from_raw(p, &raw)?
        }
        None => sim::default_tokens()?,
    };
    let opts = LoadOptions {
        format,
        step_s: args.step,
        rate_scale: args.rate_scale,
        time_scale: args.time_scale,
        max_rps: args.max_rps,
        tokens: Some(tokens),
        seed: args.seed,
    };
    let trace = match &args.trace {
        Some(p) => loaders::load(p, &opts)?,
        None => sim::default_trace(&opts)?,
    }
    .with_prompts_scaled(args.prompt_scale);
    let trace_path = args.trace.clone().unwrap_or_else(|| PathBuf::from(&trace.name));
    sim::limits::check_replay(&trace_path, &trace, &scenario.spec)?;
    let market = match &args.spot_trace {
        Some(p) => SpotMarket::load(p)?,
        None if args.spot_interruptions_per_hour > 0.0 => {
            SpotMarket::Poisson { per_replica_hour: args.spot_interruptions_per_hour }
        }
        None => SpotMarket::Steady,
    };
    Ok(Replay { policy_path, cost_policy, pool, scenario, trace, market })
}

/// Give each provider the error bursts of `--provider-outage`.
fn add_outages(spec: &mut sim::SimSpec, outages: &[String]) -> Result<(), Failure> {
    for text in outages {
        let (name, burst) = sim::providers::parse_outage(text).map_err(Failure::usage)?;
        let names: Vec<String> = spec.providers.iter().map(|p| p.name.clone()).collect();
        let Some(p) = spec.providers.iter_mut().find(|p| p.name == name) else {
            return Err(Failure::usage(if names.is_empty() {
                format!("--provider-outage {text:?}: the pool has no external provider the policy lets it use")
            } else {
                format!(
                    "--provider-outage {text:?}: no provider {name:?}; the pool's providers are {}",
                    names.join(", ")
                )
            }));
        };
        p.bursts.push(burst);
    }
    Ok(())
}

/// Run the simulation and print the report.
pub fn run(args: Args) -> Result<(), Failure> {
    let Replay { policy_path, cost_policy, pool, scenario, trace, market } = prepare(&args)?;

    let names = sim::strategy_names(&scenario.spec);
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new((trace.len() * names.len()) as u64);
        if let Ok(style) = ProgressStyle::with_template("{msg:>16} [{bar:40}] {percent:>3}% {elapsed}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut results = Vec::new();
    for name in names {
        if let Some(p) = &progress {
            p.set_message(name);
        }
        if let Some(r) = sim::run_one(name, &trace, &scenario, &market, args.seed, progress.as_ref()) {
            results.push(r);
        }
    }
    let reservation = if args.recommend_reservation {
        if let Some(p) = &progress {
            p.set_message("reservations");
        }
        Some(sim::reservation::recommend(
            &policy_path,
            &cost_policy,
            &pool,
            &scenario.spec.world,
            &trace,
            &market,
            args.seed,
            progress.as_ref(),
        )?)
    } else {
        None
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let report = sim::Report::new(
        trace.stats(),
        results,
        reservation,
        scenario.spec.target_attainment,
        scenario.spec.world.name(),
    );

    if let Some(path) = &args.plot {
        let svg = sim::svg::render(&report, "hybridscale");
        std::fs::write(path, svg).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    }
    let text = match args.format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
        Format::Markdown => report.to_markdown(),
    };
    print!("{text}");
    Ok(())
}
