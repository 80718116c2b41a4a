//! `hybridscale demo`: the README's walk-through as one command, on this machine alone. It starts the
//! sandbox API server with its simulated cluster, applies the sample pool (config/samples, with the fast
//! settings the e2e tests use), drives a load profile (ramp, spike, idle) through the synthetic
//! exporter and the real Prometheus (started with a generated configuration), runs the operator against
//! them, and prints the pool's `kubectl get hpool` line every tick with its latest reason. The world is
//! the e2e harness's (src/demo/), so what the demo shows is what the tests check.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::Failure;
use crate::controller::{self, Options, RunOptions, context};
use crate::demo::objects::{MODEL, Setup};
use crate::demo::{gateway, prom, world};

/// The namespace of the sample pool.
pub const NAMESPACE: &str = "inference";

/// Flags of `hybridscale demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds the load profile lasts: ramp up (40%), spike (15%), steady (15%), idle (30%).
    #[arg(long, default_value_t = 180)]
    pub duration: u64,
    /// How much faster than the default the simulated cluster moves (model load 1.5 s, node provisioning
    /// 0.7 s, consolidation 2 s at 1). The operator ticks every 5 s whatever the speed (the CRD's minimum).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Requests per second at the end of the ramp; the spike offers 2.5 times as much.
    #[arg(long, default_value_t = 12.0)]
    pub peak_rps: f64,
    /// Where to write the kubeconfig of the sandbox (default: a file in a new temporary directory).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

/// Offered requests per second at `t` of a profile lasting `total`.
pub fn demand(t: f64, total: f64, peak: f64) -> f64 {
    let f = if total > 0.0 { t / total } else { 1.0 };
    match f {
        f if f < 0.4 => peak * (0.1 + 0.9 * f / 0.4),
        f if f < 0.55 => peak * 2.5,
        f if f < 0.7 => peak,
        _ => 0.0,
    }
}

fn phase(t: f64, total: f64) -> &'static str {
    let f = if total > 0.0 { t / total } else { 1.0 };
    match f {
        f if f < 0.4 => "ramp",
        f if f < 0.55 => "spike",
        f if f < 0.7 => "steady",
        _ => "idle",
    }
}

/// Run the demo for `--duration` seconds, then stop everything it started.
pub fn run(args: Args) -> Result<(), Failure> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 100.0) {
        return Err(Failure::usage(format!("--speed {}: must be a number above 0 and at most 100", args.speed)));
    }
    if !(args.peak_rps.is_finite() && args.peak_rps >= 0.0) {
        return Err(Failure::usage(format!("--peak-rps {}: must be a number of at least 0", args.peak_rps)));
    }
    let bin = prom::binary().map_err(Failure::runtime)?;
    let rt = tokio::runtime::Runtime::new().map_err(Failure::runtime)?;
    rt.block_on(demo(args, bin))
}

async fn demo(args: Args, bin: PathBuf) -> Result<(), Failure> {
    let dir = std::env::temp_dir().join(format!("hybridscale-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure::runtime(format!("{}: {e}", dir.display())))?;
    let result = demo_in(&args, &bin, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn demo_in(args: &Args, bin: &std::path::Path, dir: &std::path::Path) -> Result<(), Failure> {
    let kubeconfig = args.kubeconfig.clone().unwrap_or_else(|| dir.join("kubeconfig"));
    let setup = Setup::default();
    let cluster = world::cluster_options().time_scaled(1.0 / args.speed);
    let world::SandboxWorld { sandbox, client, cluster } =
        world::start_sandbox(kubeconfig.clone(), NAMESPACE, &setup, cluster, "hybridscale-demo")
            .await
            .map_err(Failure::runtime)?;
    let (exporter, prom) = world::start_metrics(bin, dir, NAMESPACE, &setup).await.map_err(Failure::runtime)?;

    let (stop, stopped) = watch::channel(false);
    let opts = RunOptions {
        options: Options {
            prometheus_url: Some(prom.url()),
            prometheus_token: None,
            price_file: None,
            namespace: Some(NAMESPACE.into()),
            identity: "hybridscale-demo".into(),
        },
        metrics_addr: "127.0.0.1:0".parse().map_err(Failure::runtime)?,
        leader_election: None,
    };
    let operator = tokio::spawn(controller::run_with_client(client.clone(), opts, context::system_clock(), stopped));

    println!("kubeconfig: {}", kubeconfig.display());
    println!("while the demo runs: KUBECONFIG={} kubectl get hpool -n {NAMESPACE} -w", kubeconfig.display());
    println!("Prometheus: {}  (load: ramp, spike, steady, idle over {} s)", prom.url(), args.duration);
    let total = args.duration as f64;
    let started = Instant::now();
    let tick = Duration::from_secs(u64::from(setup.tick_seconds));
    let mut next_print = started;
    let mut header = false;
    while started.elapsed().as_secs_f64() < total {
        let t = started.elapsed().as_secs_f64();
        let offered = demand(t, total, args.peak_rps);
        if let Err(e) = gateway::step(&client, NAMESPACE, &exporter, offered).await {
            tracing::debug!(error = %e, "gateway step");
        }
        if Instant::now() >= next_print {
            next_print += tick;
            match pool_line(&client).await {
                Ok((columns, cells, reason)) => {
                    if !header {
                        println!("{:>5} {:<6} {:>7}  {}", "T(s)", "PHASE", "DEMAND", columns.join("  "));
                        header = true;
                    }
                    println!("{t:>5.0} {:<6} {offered:>7.1}  {}  | {reason}", phase(t, total), cells.join("  "));
                }
                Err(e) => println!("{t:>5.0} {:<6} {offered:>7.1}  ({e})", phase(t, total)),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_secs(10), operator).await {
        Ok(Ok(Err(e))) => eprintln!("operator stopped with an error: {e}"),
        Err(_) => eprintln!("operator did not stop within 10 s"),
        _ => {}
    }
    drop(prom);
    cluster.shutdown().await;
    sandbox.stop().await;
    exporter.shutdown().await;
    Ok(())
}

/// The pool's row as `kubectl get hpool` prints it (the server's Table: column names and cells) and
/// the latest reason from its status.
async fn pool_line(client: &kube::Client) -> Result<(Vec<String>, Vec<String>, String), String> {
    let path = format!("/apis/hybridscale.dev/v1alpha1/namespaces/{NAMESPACE}/inferencepools/{MODEL}");
    let req = http::Request::get(&path)
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client.request_text(req).await.map_err(|e| e.to_string())?;
    let table: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    // The default columns (priority 0) but Age, which says nothing in a line printed every tick.
    let defs: Vec<&Value> = table["columnDefinitions"].as_array().map(|c| c.iter().collect()).unwrap_or_default();
    let shown: Vec<usize> = (0..defs.len())
        .filter(|i| defs[*i]["priority"].as_i64().unwrap_or(0) == 0 && defs[*i]["name"] != "Age")
        .collect();
    let columns: Vec<String> = shown.iter().map(|i| text_of(&defs[*i]["name"])).collect();
    let row = table["rows"][0]["cells"].as_array().cloned().unwrap_or_default();
    let cells: Vec<String> = shown.iter().map(|i| text_of(row.get(*i).unwrap_or(&Value::Null))).collect();
    let obj: Value = {
        let req = http::Request::get(&path).body(Vec::new()).map_err(|e| e.to_string())?;
        serde_json::from_str(&client.request_text(req).await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?
    };
    let decision = &obj["status"]["lastDecision"];
    let reason = decision["reasons"]
        .as_array()
        .and_then(|r| r.first())
        .or(decision.get("summary"))
        .map(text_of)
        .unwrap_or_else(|| "no decision yet".into());
    Ok((columns, cells, reason))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        Value::String(_) | Value::Null => "<none>".into(),
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_ramps_spikes_and_goes_idle() {
        let d = |t| demand(t, 100.0, 10.0);
        assert!((d(0.0) - 1.0).abs() < 1e-9 && d(20.0) < d(39.0));
        assert_eq!((d(45.0), d(60.0), d(80.0)), (25.0, 10.0, 0.0));
        assert_eq!(
            [phase(0.0, 100.0), phase(50.0, 100.0), phase(60.0, 100.0), phase(99.0, 100.0)],
            ["ramp", "spike", "steady", "idle"]
        );
    }
}
