//! `hybridscale exporter`: serve the synthetic vLLM/DCGM metrics of one simulated model, for demos and
//! for pointing a Prometheus at something real-looking.

use std::net::SocketAddr;

use super::Failure;
use crate::modelserver::{Load, ModelServerExporter, Profile, Script};

/// Flags of `hybridscale exporter`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to serve /metrics on.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub listen: SocketAddr,
    /// Namespace label of the pods.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// model_name label of the pods.
    #[arg(long, default_value = "llama")]
    pub model: String,
    /// Number of simulated pods.
    #[arg(long, default_value_t = 2)]
    pub replicas: u32,
    /// Requests per second one pod completes at most.
    #[arg(long, default_value_t = 5.0)]
    pub capacity_rps: f64,
    /// Mean latency of a request on an idle pod, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub base_latency: f64,
    /// GPUs per pod.
    #[arg(long, default_value_t = 1)]
    pub gpus_per_pod: u32,
    /// Constant offered load, requests per second (ignored when --step is given).
    #[arg(long, default_value_t = 1.0)]
    pub rps: f64,
    /// A load step, SECONDS=RPS (repeatable): from SECONDS after start, offer RPS.
    #[arg(long = "step", value_name = "SECONDS=RPS", value_parser = parse_step)]
    pub steps: Vec<(f64, f64)>,
    /// Repeat the steps every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub repeat: Option<f64>,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 512.0)]
    pub input_tokens: f64,
    /// Generated tokens per request.
    #[arg(long, default_value_t = 128.0)]
    pub output_tokens: f64,
}

fn parse_step(s: &str) -> Result<(f64, f64), String> {
    let (t, r) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected SECONDS=RPS, e.g. 60=12.5"))?;
    let num = |v: &str, what: &str| -> Result<f64, String> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("{s:?}: {what} must be a non-negative number"))
    };
    Ok((num(t, "SECONDS")?, num(r, "RPS")?))
}

/// Most simulated pods: each is rendered on every scrape.
pub const MAX_REPLICAS: u32 = 10_000;

/// Check every number: a one-line [`Failure`] for anything not finite or beyond what one simulated
/// model could mean.
pub fn check(args: &Args) -> Result<(), Failure> {
    let within = |flag: &str, v: f64, lo_exclusive: bool, max: f64| {
        let low_ok = if lo_exclusive { v > 0.0 } else { v >= 0.0 };
        if v.is_finite() && low_ok && v <= max {
            Ok(())
        } else {
            let low = if lo_exclusive { "> 0" } else { ">= 0" };
            Err(Failure::usage(format!("--{flag} must be a number {low} and <= {max}, got {v}")))
        }
    };
    within("capacity-rps", args.capacity_rps, true, 1.0e6)?;
    within("base-latency", args.base_latency, false, 3600.0)?;
    within("rps", args.rps, false, 1.0e9)?;
    within("input-tokens", args.input_tokens, false, 1.0e8)?;
    within("output-tokens", args.output_tokens, false, 1.0e8)?;
    if let Some(r) = args.repeat {
        within("repeat", r, true, 1.0e9)?;
    }
    if args.replicas > MAX_REPLICAS {
        return Err(Failure::usage(format!("--replicas must be at most {MAX_REPLICAS}, got {}", args.replicas)));
    }
    if !(1..=64).contains(&args.gpus_per_pod) {
        return Err(Failure::usage(format!("--gpus-per-pod must be from 1 to 64, got {}", args.gpus_per_pod)));
    }
    Ok(())
}

/// Serve until interrupted.
pub fn run(args: Args) -> Result<(), Failure> {
    check(&args)?;
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    runtime.block_on(async move {
        let ex = ModelServerExporter::start(args.listen)
            .await
            .map_err(|e| Failure::runtime(format!("listening on {}: {e}", args.listen)))?;
        let load =
            |rps: f64| Load { rps, mean_input_tokens: args.input_tokens, mean_output_tokens: args.output_tokens };
        let profile = Profile {
            capacity_rps: args.capacity_rps,
            base_latency_s: args.base_latency,
            gpus_per_pod: args.gpus_per_pod,
            fixed_latency_s: None,
        };
        ex.set_profile(&args.namespace, &args.model, profile);
        ex.set_replicas(&args.namespace, &args.model, args.replicas);
        if args.steps.is_empty() {
            ex.set_load(&args.namespace, &args.model, load(args.rps));
        } else {
            let mut steps: Vec<(f64, Load)> = args.steps.iter().map(|(t, r)| (*t, load(*r))).collect();
            steps.sort_by(|a, b| a.0.total_cmp(&b.0));
            ex.set_script(&args.namespace, &args.model, Script { steps, repeat_every_s: args.repeat });
        }
        eprintln!("serving {} (Ctrl-C to stop)", ex.metrics_url());
        tokio::signal::ctrl_c().await.map_err(Failure::runtime)?;
        ex.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let argv = ["hybridscale", "exporter"].into_iter().chain(extra.iter().copied());
        match crate::cli::parse(argv) {
            Ok(crate::cli::Parsed::Command(cli)) => match cli.command {
                crate::cli::Command::Exporter(a) => a,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    /// Four billion simulated pods were rendered on every scrape; NaN and infinite loads were served.
    #[test]
    fn numbers_beyond_one_simulated_model_are_refused() {
        assert!(check(&args(&[])).is_ok());
        for (flag, needle) in [
            ("--replicas=4294967295", "--replicas must be at most 10000"),
            ("--rps=NaN", "--rps must be a number >= 0"),
            ("--rps=inf", "--rps"),
            ("--repeat=0", "--repeat must be a number > 0"),
            ("--input-tokens=1e300", "--input-tokens"),
            ("--gpus-per-pod=0", "--gpus-per-pod must be from 1 to 64"),
        ] {
            let e = check(&args(&[flag])).expect_err(flag).message;
            assert!(e.contains(needle) && !e.contains('\n'), "{flag}: {e}");
        }
    }

    #[test]
    fn steps_parse_or_say_why() {
        assert_eq!(parse_step("60=12.5"), Ok((60.0, 12.5)));
        assert!(parse_step("60").unwrap_err().contains("SECONDS=RPS"));
        assert!(parse_step("x=1").unwrap_err().contains("SECONDS must be"));
    }
}
