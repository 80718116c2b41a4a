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

/// Serve until interrupted.
pub fn run(args: Args) -> Result<(), Failure> {
    if !(args.capacity_rps.is_finite() && args.capacity_rps > 0.0) {
        return Err(Failure::usage("--capacity-rps must be a positive number"));
    }
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

    #[test]
    fn steps_parse_or_say_why() {
        assert_eq!(parse_step("60=12.5"), Ok((60.0, 12.5)));
        assert!(parse_step("60").unwrap_err().contains("SECONDS=RPS"));
        assert!(parse_step("x=1").unwrap_err().contains("SECONDS must be"));
    }
}
