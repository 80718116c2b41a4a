//! Sandbox API server benchmark: 1,000 InferencePools and their Deployments, driven over HTTP by the real
//! kube::Client. Figures: create throughput, list latency (full and selected), watch fan-out (100 watchers
//! of Deployments while they are scaled) and patch throughput (merge patches of status, server-side apply,
//! /scale), sequential and with 16 concurrent clients.
//!
//! Run: `cargo bench --bench sandbox` (results go to stdout; BENCHMARKS.md records them).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use hybridscale::api::InferencePool;
use hybridscale::sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

const POOLS: usize = 1_000;
const WATCHERS: usize = 100;
const SCALED: usize = 200;
const CONCURRENCY: usize = 16;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report_latencies(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<48} n={:<6} p50={:>9.3} ms  p99={:>9.3} ms  max={:>9.3} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

fn report_rate(name: &str, ops: usize, elapsed: Duration) {
    println!(
        "{name:<48} {ops} ops in {:.3} s = {:>9.0} ops/s",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64()
    );
}

fn pool(sample: &Value, i: usize) -> BenchResult<InferencePool> {
    let mut p = sample.clone();
    p["metadata"] =
        json!({"name": format!("pool-{i:04}"), "namespace": "inference", "labels": {"shard": (i % 10).to_string()}});
    Ok(serde_json::from_value(p)?)
}

fn deployment(i: usize) -> BenchResult<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("pool-{i:04}-spot"), "namespace": "inference", "labels": {"pool": format!("pool-{i:04}")}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"pool": format!("pool-{i:04}")}},
                 "template": {"metadata": {"labels": {"pool": format!("pool-{i:04}")}},
                              "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3"}]}}},
    }))?)
}

async fn install_crds(client: &kube::Client) -> BenchResult<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in hybridscale::api::crds() {
        if let Err(e) = crds.create(&PostParams::default(), &crd).await {
            // The generated InferencePool CRD has a `spec.metrics` default that violates its own minimums,
            // which a real API server (and the sandbox) refuses. The benchmark measures the server, not the
            // CRD: drop that default and say so.
            eprintln!(
                "note: CRD {} refused ({e}); retrying without spec.metrics' default",
                crd.metadata.name.as_deref().unwrap_or("?")
            );
            let mut v = serde_json::to_value(&crd)?;
            if let Some(m) = v
                .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/metrics")
                .and_then(Value::as_object_mut)
            {
                m.remove("default");
            }
            crds.create(&PostParams::default(), &serde_json::from_value(v)?).await?;
        }
    }
    Ok(())
}

async fn run() -> BenchResult<()> {
    hybridscale::tls::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("hybridscale-sandbox-bench-{}", std::process::id()));
    let sb = Sandbox::start(SandboxOptions {
        kubeconfig_path: Some(dir.join("kubeconfig")),
        history_limit: 50_000,
        ..SandboxOptions::default()
    })
    .await?;
    let client = sb.client()?;
    install_crds(&client).await?;
    let ns: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(json!({"metadata": {"name": "inference"}}))?;
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    let sample_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples/inferencepool.yaml"))?;
    let sample: Value = serde_saphyr::from_str(&sample_text)?;
    let pools: Api<InferencePool> = Api::namespaced(client.clone(), "inference");
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "inference");

    println!("== sandbox API server, {POOLS} InferencePools + {POOLS} Deployments, kube::Client over HTTP");
    let t = Instant::now();
    for i in 0..POOLS {
        pools.create(&PostParams::default(), &pool(&sample, i)?).await?;
    }
    report_rate("create InferencePool (sequential, CEL admission)", POOLS, t.elapsed());
    let t = Instant::now();
    for i in 0..POOLS {
        deps.create(&PostParams::default(), &deployment(i)?).await?;
    }
    report_rate("create Deployment (sequential)", POOLS, t.elapsed());

    let mut full = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let l = pools.list(&ListParams::default()).await?;
        full.push(t.elapsed());
        assert_eq!(l.items.len(), POOLS);
    }
    report_latencies("list 1000 InferencePools", full);
    let mut sel = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let l = deps.list(&ListParams::default().labels(&format!("pool=pool-{:04}", i % POOLS))).await?;
        sel.push(t.elapsed());
        assert_eq!(l.items.len(), 1);
    }
    report_latencies("list Deployments, label selector (1 of 1000)", sel);

    // Watch fan-out: WATCHERS watches of Deployments; each scale patch carries its send time.
    let base = Instant::now();
    let rv = deps.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..WATCHERS {
        let stream = deps.watch(&WatchParams::default().timeout(120), &rv).await?;
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut seen = 0;
            while seen < SCALED {
                let Ok(Some(ev)) = stream.try_next().await else { break };
                if let WatchEvent::Modified(d) = ev
                    && let Some(sent) = d.metadata.annotations.as_ref().and_then(|a| a.get("bench/sent-us"))
                    && let Ok(sent) = sent.parse::<u64>()
                {
                    let now = base.elapsed().as_micros() as u64;
                    latencies.lock().map(|mut l| l.push(Duration::from_micros(now.saturating_sub(sent)))).ok();
                    seen += 1;
                }
            }
        }));
    }
    let t = Instant::now();
    for i in 0..SCALED {
        let p = json!({"metadata": {"annotations": {"bench/sent-us": base.elapsed().as_micros().to_string()}},
                       "spec": {"replicas": 2}});
        deps.patch(&format!("pool-{i:04}-spot"), &PatchParams::default(), &Patch::Merge(&p)).await?;
    }
    for task in tasks {
        task.await?;
    }
    let fan_elapsed = t.elapsed();
    let lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    report_rate(&format!("watch fan-out: {SCALED} changes x {WATCHERS} watchers"), lat.len(), fan_elapsed);
    report_latencies("watch delivery latency (patch sent -> event)", lat);

    let t = Instant::now();
    for i in 0..POOLS {
        let p = json!({"status": {"desiredReplicas": 3, "readyReplicas": 2}});
        pools.patch_status(&format!("pool-{i:04}"), &PatchParams::default(), &Patch::Merge(&p)).await?;
    }
    report_rate("merge-patch InferencePool /status (sequential)", POOLS, t.elapsed());

    let t = Instant::now();
    let mut handles = Vec::new();
    for w in 0..CONCURRENCY {
        let pools = pools.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            for i in (w..POOLS).step_by(CONCURRENCY) {
                let p = json!({"status": {"desiredReplicas": 4}});
                if pools.patch_status(&format!("pool-{i:04}"), &PatchParams::default(), &Patch::Merge(&p)).await.is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut done = 0;
    for h in handles {
        done += h.await?;
    }
    report_rate(&format!("merge-patch InferencePool /status ({CONCURRENCY} concurrent)"), done, t.elapsed());

    let t = Instant::now();
    for i in 0..POOLS {
        let p = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}});
        deps.patch(&format!("pool-{i:04}-spot"), &PatchParams::apply("hybridscale").force(), &Patch::Apply(&p)).await?;
    }
    report_rate("server-side apply Deployment replicas (force)", POOLS, t.elapsed());

    let t = Instant::now();
    for i in 0..POOLS {
        let p = json!({"spec": {"replicas": 5}});
        deps.patch_scale(&format!("pool-{i:04}-spot"), &PatchParams::default(), &Patch::Merge(&p)).await?;
    }
    report_rate("patch Deployment /scale (sequential)", POOLS, t.elapsed());

    sb.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
