//! Operator benchmark: one operator replica (the real `hybridscale controller` binary) reconciling 1,000
//! InferencePools on the sandbox API server, with load signals from the real Prometheus scraping the
//! synthetic exporter (three gateway-level series per pool). Each pool has a spot and an on-demand
//! Deployment and its own HTTPRoute; no simulated cluster runs (Deployments never report Ready), so
//! every tick plans, writes what changed and writes status, with all traffic on the external backend.
//!
//! Figures, over a steady-state window after every pool has its first status:
//! - reconcile latency p50/p99, read from the operator's own `hybridscale_reconcile_duration_seconds`
//!   histogram (difference over the window, linear interpolation inside a bucket, as PromQL's
//!   `histogram_quantile` does), reconciles per pool per tick and reconcile errors;
//! - the operator's memory (VmRSS and peak VmHWM from /proc) and CPU time over the window;
//! - API requests per tick, counted by the sandbox per verb and resource;
//! - Prometheus queries per tick, from Prometheus' own `prometheus_http_requests_total`.
//!
//! The sandbox API server runs on its own tokio runtime (its own threads): on the bench's runtime, a
//! saturated API server starved the bench's own timers and scrapes, and the bench appeared to stall.
//!
//! Run: `cargo bench --bench operator` (HS_BENCH_POOLS and HS_BENCH_SECONDS override 1000 pools and a
//! 60 s window; HS_BENCH_CONCURRENCY passes `--max-concurrent-reconciles`). Needs `prometheus` on PATH.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hybridscale::modelserver::ModelServerExporter;
use hybridscale::sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TICK_SECONDS: u64 = 15;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> BenchResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn docs(ns: &str, i: usize) -> Vec<String> {
    let q = |m: &str| format!("sum({m}{{pool=\"p{i}\"}})");
    vec![
        format!(
            "apiVersion: hybridscale.dev/v1alpha1\nkind: InferencePool\nmetadata: {{name: p{i}, namespace: {ns}}}\n\
             spec:\n  model: m{i}\n  costPolicyRef: {{name: bench}}\n  replicaCapacity: {{requestsPerSecond: 5}}\n  \
             startupSeconds: 60\n  maxReplicas: 8\n  capacity:\n    spot:\n      scaleTargetRef: {{name: s{i}}}\n      \
             maxReplicas: 4\n    onDemand:\n      scaleTargetRef: {{name: d{i}}}\n      maxReplicas: 4\n  route:\n    \
             httpRoute: r{i}\n    selfHostedBackend: {{name: self{i}}}\n    externalBackend: {{name: ext{i}}}\n  \
             metrics:\n    queries:\n      requestRate: '{}'\n      promptTokenRate: '{}'\n      \
             generationTokenRate: '{}'\n  external: {{model: ext, latencySeconds: 5}}\n",
            q("gateway_requests_per_second"),
            q("gateway_prompt_tokens_per_second"),
            q("gateway_generation_tokens_per_second"),
        ),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: s{i}, namespace: {ns}}}\nspec:\n  replicas: 0\n  \
             selector: {{matchLabels: {{app: s{i}}}}}\n  template:\n    metadata: {{labels: {{app: s{i}}}}}\n    spec:\n      \
             containers: [{{name: vllm, image: vllm}}]\n"
        ),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}, namespace: {ns}}}\nspec:\n  replicas: 1\n  \
             selector: {{matchLabels: {{app: d{i}}}}}\n  template:\n    metadata: {{labels: {{app: d{i}}}}}\n    spec:\n      \
             containers: [{{name: vllm, image: vllm}}]\n"
        ),
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r{i}, namespace: {ns}}}\n\
             spec:\n  rules:\n  - backendRefs:\n    - {{name: self{i}, port: 8000, weight: 100}}\n    \
             - {{name: ext{i}, port: 443, weight: 0}}\n"
        ),
    ]
}

async fn create(client: &kube::Client, yaml: &str) -> BenchResult<()> {
    let obj: Value = serde_saphyr::from_str(yaml)?;
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, obj["kind"].as_str().unwrap_or_default());
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.create(&PostParams::default(), &serde_json::from_value(obj)?).await?;
    Ok(())
}

/// (bucket upper bound, cumulative count) and the total count of the InferencePool reconcile histogram.
fn histogram(metrics: &str) -> (Vec<(f64, f64)>, f64) {
    let mut buckets = Vec::new();
    let mut count = 0.0;
    for line in metrics.lines() {
        if !line.contains("kind=\"InferencePool\"") {
            continue;
        }
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if line.starts_with("hybridscale_reconcile_duration_seconds_bucket") {
            let le = line.split("le=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("+Inf");
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
            buckets.push((le, value));
        } else if line.starts_with("hybridscale_reconcile_duration_seconds_count") {
            count = value;
        }
    }
    (buckets, count)
}

/// The q-quantile of the difference of two histogram scrapes, interpolated inside its bucket.
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let delta: Vec<(f64, f64)> =
        after.iter().map(|(le, c)| (*le, c - before.iter().find(|(l, _)| l == le).map_or(0.0, |(_, b)| *b))).collect();
    let total = delta.last().map_or(0.0, |(_, c)| *c);
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (le, c) in delta {
        if c >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            return prev.0 + (le - prev.0) * (rank - prev.1) / (c - prev.1).max(1e-12);
        }
        prev = (le, c);
    }
    prev.0
}

fn proc_status(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.trim_start_matches(key).trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

/// A child process killed when the bench ends, on every path (errors included).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sum of a counter's samples whose line contains every one of `filters`.
fn counter(metrics: &str, name: &str, filters: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && filters.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// The process' user + system CPU time in seconds (from /proc/PID/stat, in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn run(sandbox: &Sandbox) -> BenchResult<()> {
    let pools = env_or("HS_BENCH_POOLS", 1000) as usize;
    let window = Duration::from_secs(env_or("HS_BENCH_SECONDS", 60));
    let Some(prometheus) = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("prometheus")).find(|p| p.is_file()))
    else {
        println!("SKIPPED: prometheus not on PATH (apt-get install prometheus)");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let client = sandbox.client()?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for f in ["costpolicies.hybridscale.dev.yaml", "inferencepools.hybridscale.dev.yaml"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crds").join(f))?;
        crds.create(&PostParams::default(), &serde_saphyr::from_str(&text)?).await?;
    }
    let ns = "bench";
    create(&client, &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")).await?;
    create(
        &client,
        &format!(
            "apiVersion: hybridscale.dev/v1alpha1\nkind: CostPolicy\nmetadata: {{name: bench, namespace: {ns}}}\nspec:\n  \
             gpuPrices: {{reserved: {{usdPerGpuHour: 7.37}}, spot: {{usdPerGpuHour: 3.23}}, onDemand: {{usdPerGpuHour: 12.29}}}}\n  \
             externalPrices: {{inputUsdPerMillionTokens: 2.68, outputUsdPerMillionTokens: 3.54}}\n  \
             slo: {{latencySeconds: 20}}\n  tickSeconds: {TICK_SECONDS}\n"
        ),
    )
    .await?;
    let exporter = ModelServerExporter::start("127.0.0.1:0".parse()?).await?;
    let started = Instant::now();
    for i in 0..pools {
        for d in docs(ns, i) {
            create(&client, &d).await?;
        }
        // Pools at 1..12 rps: some fit on GPUs, some stay external.
        let rps = 1.0 + (i % 12) as f64;
        let pool = format!("p{i}");
        let labels = [("pool", pool.as_str())];
        exporter.set_gauge("gateway_requests_per_second", &labels, rps, None)?;
        exporter.set_gauge("gateway_prompt_tokens_per_second", &labels, rps * 512.0, None)?;
        exporter.set_gauge("gateway_generation_tokens_per_second", &labels, rps * 128.0, None)?;
    }
    println!("created {pools} pools with 2 Deployments and an HTTPRoute each in {:.1?}", started.elapsed());

    let prom_port = free_port()?;
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 5s}}\nscrape_configs:\n  - job_name: gw\n    static_configs:\n      \
             - targets: ['{}']\n",
            exporter.addr()
        ),
    )?;
    let _prom = Command::new(prometheus)
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Reaped)?;
    tokio::time::sleep(Duration::from_secs(6)).await;

    let before_operator = sandbox.request_counts();
    let metrics_port = free_port()?;
    let mut op = Command::new(env!("CARGO_BIN_EXE_hybridscale"));
    op.args(["controller", "--namespace", ns, "--log-format", "text"]);
    if let Ok(n) = std::env::var("HS_BENCH_CONCURRENCY") {
        op.arg("--max-concurrent-reconciles").arg(n);
    }
    let op = op
        .arg("--prometheus-url")
        .arg(format!("http://127.0.0.1:{prom_port}"))
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .env("KUBECONFIG", &sandbox.kubeconfig_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("operator.log"))?)
        .spawn()
        .map(Reaped)?;
    let pid = op.0.id();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let scrape = |port: u16| {
        let req = http.get(format!("http://127.0.0.1:{port}/metrics"));
        async move { req.send().await.ok()?.text().await.ok() }
    };
    let prom_queries = |m: &str| {
        counter(m, "prometheus_http_requests_total", &["handler=\"/api/v1/query\""])
            + counter(m, "prometheus_http_requests_total", &["handler=\"/api/v1/query_range\""])
    };

    // Every pool reconciled once (its first status written).
    let api: Api<hybridscale::api::InferencePool> = Api::namespaced(client.clone(), ns);
    let t0 = Instant::now();
    loop {
        let done = api.list(&ListParams::default()).await?.items.iter().filter(|p| p.status.is_some()).count();
        if done >= pools {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {done} of {pools} pools got a status in 600 s").into());
        }
        // Each poll lists every pool with its status: poll slowly to load the API server little.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("first status on all {pools} pools {:.1?} after the operator started (polled every 1 s)", t0.elapsed());
    // Start-up: every reconcile from the operator's start to the last pool's first status.
    let start = scrape(metrics_port).await.ok_or("operator /metrics did not answer")?;
    let (hs, cs) = histogram(&start);
    println!(
        "start-up: {cs:.0} InferencePool reconciles ({:.0} failed), latency p50 = {:.1} ms, p99 = {:.1} ms",
        counter(&start, "hybridscale_reconcile_errors_total", &["kind=\"InferencePool\""]),
        quantile(&[], &hs, 0.5) * 1e3,
        quantile(&[], &hs, 0.99) * 1e3
    );
    let rs = sandbox.request_counts();
    let mut by: Vec<(String, u64)> = rs
        .iter()
        .filter(|(k, _)| k.starts_with("Create") || k.starts_with("Patch") || k.starts_with("Update"))
        .map(|(k, v)| (k.clone(), v - before_operator.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    by.sort_by_key(|b| std::cmp::Reverse(b.1));
    let writes: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("start-up writes by the operator: {}", writes.join(", "));

    // Steady state.
    tokio::time::sleep(Duration::from_secs(TICK_SECONDS)).await;
    let m0 = scrape(metrics_port).await.ok_or("operator /metrics did not answer")?;
    let p0 = prom_queries(&scrape(prom_port).await.ok_or("Prometheus /metrics did not answer")?);
    let (h0, c0) = histogram(&m0);
    let e0 = counter(&m0, "hybridscale_reconcile_errors_total", &["kind=\"InferencePool\""]);
    let r0 = sandbox.request_counts();
    let cpu0 = cpu_seconds(pid);
    let w0 = Instant::now();
    tokio::time::sleep(window).await;
    let m1 = scrape(metrics_port).await.ok_or("operator /metrics did not answer")?;
    let p1 = prom_queries(&scrape(prom_port).await.ok_or("Prometheus /metrics did not answer")?);
    let (h1, c1) = histogram(&m1);
    let e1 = counter(&m1, "hybridscale_reconcile_errors_total", &["kind=\"InferencePool\""]);
    let r1 = sandbox.request_counts();
    let cpu1 = cpu_seconds(pid);
    let elapsed = w0.elapsed().as_secs_f64();
    let ticks = elapsed / TICK_SECONDS as f64;
    let reconciles = c1 - c0;
    let requests = (total(&r1) - total(&r0)) as f64;

    println!("window {elapsed:.0} s = {ticks:.1} ticks of {TICK_SECONDS} s");
    println!(
        "InferencePool reconciles: {reconciles:.0} ({:.2} per pool per tick), {:.0} failed",
        reconciles / ticks / pools as f64,
        e1 - e0
    );
    println!(
        "reconcile latency p50 = {:.1} ms, p99 = {:.1} ms",
        quantile(&h0, &h1, 0.5) * 1e3,
        quantile(&h0, &h1, 0.99) * 1e3
    );
    println!("operator memory: VmRSS {}, VmHWM {}", proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM"));
    println!("operator CPU: {:.2} cores over the window", (cpu1 - cpu0) / elapsed);
    println!(
        "Prometheus queries: {:.0} per tick ({:.2} per pool per tick)",
        (p1 - p0) / ticks,
        (p1 - p0) / ticks / pools as f64
    );
    println!(
        "API requests: {:.0} per tick ({:.2} per pool per tick); by verb and resource per tick:",
        requests / ticks,
        requests / ticks / pools as f64
    );
    let mut by: Vec<(String, f64)> = r1
        .iter()
        .map(|(k, v)| (k.clone(), (*v - r0.get(k).copied().unwrap_or(0)) as f64 / ticks))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (k, v) in by {
        println!("  {k:<40} {v:>9.1}");
    }

    // A clean stop on the success path; `Reaped` kills whatever is left.
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let mut op = op;
    let _ = op.0.wait();
    Ok(())
}

fn main() {
    // The API server on its own runtime and threads, so its load cannot starve the measurements.
    let server_rt =
        tokio::runtime::Builder::new_multi_thread().thread_name("sandbox").enable_all().build().expect("tokio runtime");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let sandbox = match server_rt.block_on(Sandbox::start(SandboxOptions::default())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("operator benchmark failed: sandbox: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(run(&sandbox));
    server_rt.block_on(sandbox.stop());
    if let Err(e) = result {
        eprintln!("operator benchmark failed: {e}");
        std::process::exit(1);
    }
}
