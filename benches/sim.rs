//! `make bench` (cargo bench --bench sim): every public trace × three price scenarios × every
//! strategy, with cost, SLO attainment and the ratio to the oracle, plus replay and planner speed.
//! Prints Markdown for BENCHMARKS.md and writes one SVG per trace × scenario to benchmarks/sim/.
//!
//! Prices are read from ../shared/data at run time (sources named in the output):
//! - GPUs: SkyPilot catalog excerpt `gpu_prices_skypilot_catalog/aws_gpu_us_ondemand_spot.csv`,
//!   us-east-1: p5.48xlarge (8x H100) and g6.xlarge (1x L4), on-demand price and the median spot
//!   price over the region's zones, per GPU.
//! - Reserved: no public data; 60% of on-demand (an assumed 40% one-year commitment discount).
//! - External APIs: LiteLLM `llm_api_prices_litellm/chat_model_prices_per_mtok.csv`:
//!   claude-sonnet-4-5 (premium) and gpt-4o-mini (cheap).

use std::path::{Path, PathBuf};
use std::time::Instant;

use hybridscale::planner::{self, ClassObservation, LoadSignals, Memory, Sample, Snapshot, Spend};
use hybridscale::sim::{self, LoadOptions, Scenario, SpotMarket, loaders};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel)
}

fn csv_rows(rel: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// (on-demand, median spot) USD per GPU-hour of an instance type in a region.
fn gpu_prices(instance: &str, region: &str) -> (f64, f64) {
    let rows = csv_rows("gpu_prices_skypilot_catalog/aws_gpu_us_ondemand_spot.csv");
    let rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == instance && r[7] == region).collect();
    let gpus: f64 = rows[0][2].parse().expect("AcceleratorCount");
    let od: f64 = rows[0][5].parse().expect("Price");
    let mut spot: Vec<f64> = rows.iter().filter_map(|r| r[6].parse().ok()).collect();
    spot.sort_by(f64::total_cmp);
    let n = spot.len();
    let median = if n % 2 == 1 { spot[n / 2] } else { (spot[n / 2 - 1] + spot[n / 2]) / 2.0 };
    (od / gpus, median / gpus)
}

/// (input, output) USD per million tokens of a chat model.
fn api_prices(model: &str) -> (f64, f64) {
    let rows = csv_rows("llm_api_prices_litellm/chat_model_prices_per_mtok.csv");
    let r = rows.iter().find(|r| r[0] == model).unwrap_or_else(|| panic!("{model} not in the LiteLLM CSV"));
    (r[2].parse().expect("input"), r[3].parse().expect("output"))
}

struct ScenarioDef {
    name: &'static str,
    yaml: String,
    /// Mean requests per second every trace is scaled to.
    mean_rps: f64,
}

#[allow(clippy::too_many_arguments)]
fn policy_yaml(
    gpu: (f64, f64),
    api: (f64, f64),
    gpus: u32,
    rps: f64,
    tps: Option<f64>,
    startup: u32,
    node: u32,
    slo: f64,
    api_latency: f64,
    api_rps: f64,
    reserved: u32,
    max: (u32, u32, u32),
) -> String {
    let reserved_class = if reserved > 0 {
        format!(
            "    reserved:\n      scaleTargetRef: {{name: m-reserved}}\n      minReplicas: {reserved}\n      maxReplicas: {reserved}\n      nodeProvisionSeconds: 0\n"
        )
    } else {
        String::new()
    };
    format!(
        "apiVersion: hybridscale.dev/v1alpha1
kind: CostPolicy
metadata: {{name: bench}}
spec:
  gpuPrices:
    reserved: {{usdPerGpuHour: {res:.4}}}
    spot: {{usdPerGpuHour: {spot:.4}}}
    onDemand: {{usdPerGpuHour: {od:.4}}}
  externalPrices: {{inputUsdPerMillionTokens: {ain}, outputUsdPerMillionTokens: {aout}}}
  slo: {{latencySeconds: {slo}, targetAttainment: 0.999}}
  spot: {{maxFraction: 0.6, spareReplicas: 1, interruptionsPerHourThreshold: 2}}
  external: {{allowed: true, maxShare: 1.0, maxRequestsPerSecond: {api_rps}}}
  scaleDown: {{stabilizationSeconds: 300, maxStepReplicas: 2}}
  idleReclaim: {{enabled: true, utilizationThreshold: 0.1, idleSeconds: 900}}
  tickSeconds: 15
---
apiVersion: hybridscale.dev/v1alpha1
kind: InferencePool
metadata: {{name: bench}}
spec:
  model: m
  costPolicyRef: {{name: bench}}
  gpusPerReplica: {gpus}
  replicaCapacity: {{requestsPerSecond: {rps}{tps}}}
  startupSeconds: {startup}
  minReplicas: 0
  maxReplicas: {pool_max}
  capacity:
{reserved_class}    spot:
      scaleTargetRef: {{name: m-spot}}
      maxReplicas: {spot_max}
      nodeProvisionSeconds: {node}
    onDemand:
      scaleTargetRef: {{name: m-ondemand}}
      maxReplicas: {od_max}
      nodeProvisionSeconds: {node}
  route:
    httpRoute: m
    selfHostedBackend: {{name: m}}
    externalBackend: {{name: api}}
  external: {{model: api, latencySeconds: {api_latency}}}
",
        res = gpu.0 * 0.6,
        spot = gpu.1,
        od = gpu.0,
        ain = api.0,
        aout = api.1,
        pool_max = max.0,
        tps = tps.map_or(String::new(), |t| format!(", tokensPerSecond: {t}")),
        spot_max = max.1,
        od_max = max.2,
    )
}

fn scenarios() -> Vec<ScenarioDef> {
    let h100 = gpu_prices("p5.48xlarge", "us-east-1");
    let l4 = gpu_prices("g6.xlarge", "us-east-1");
    let premium = api_prices("claude-sonnet-4-5");
    let cheap = api_prices("gpt-4o-mini");
    println!(
        "Prices (USD): H100 (p5.48xlarge us-east-1) on-demand {:.3}/GPU-h, median spot {:.3}/GPU-h; L4 (g6.xlarge us-east-1) on-demand {:.4}/GPU-h, median spot {:.4}/GPU-h; reserved = 0.6 x on-demand (assumed); claude-sonnet-4-5 {}/{} and gpt-4o-mini {}/{} per million input/output tokens.\n",
        h100.0, h100.1, l4.0, l4.1, premium.0, premium.1, cheap.0, cheap.1
    );
    vec![
        ScenarioDef {
            name: "70B-4xH100-vs-premium",
            yaml: policy_yaml(h100, premium, 4, 2.5, None, 300, 300, 20.0, 10.0, 50.0, 0, (16, 10, 10)),
            mean_rps: 20.0,
        },
        ScenarioDef {
            name: "8B-L4-vs-cheap",
            yaml: policy_yaml(l4, cheap, 1, 4.0, None, 120, 180, 10.0, 5.0, 50.0, 0, (6, 4, 4)),
            mean_rps: 0.5,
        },
        ScenarioDef {
            name: "70B-reserved-base",
            yaml: policy_yaml(h100, premium, 4, 2.5, None, 300, 300, 20.0, 10.0, 50.0, 3, (16, 10, 10)),
            mean_rps: 20.0,
        },
        // The first scenario with a token rate: capacity then follows the token mix, and the planner's
        // and the model's views of it differ (BENCHMARKS.md, "capacity for the token mix").
        ScenarioDef {
            name: "70B-vs-premium+tokens/s",
            yaml: policy_yaml(h100, premium, 4, 2.5, Some(900.0), 300, 300, 20.0, 10.0, 50.0, 0, (16, 10, 10)),
            mean_rps: 20.0,
        },
    ]
}

struct TraceDef {
    name: &'static str,
    file: &'static str,
    /// Cap as a multiple of the target mean (rate series with extreme outliers only).
    cap_times_mean: Option<f64>,
}

const TRACES: [TraceDef; 5] = [
    TraceDef {
        name: "azure-code",
        file: "azure_llm_inference_2023/AzureLLMInferenceTrace_code.csv",
        cap_times_mean: None,
    },
    TraceDef {
        name: "azure-conv",
        file: "azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv",
        cap_times_mean: None,
    },
    TraceDef {
        name: "servegen-m-mid",
        file: "servegen_alibaba_bailian/servegen_m-mid_aggregate_rate.csv",
        cap_times_mean: None,
    },
    TraceDef {
        name: "servegen-m-small",
        file: "servegen_alibaba_bailian/servegen_m-small_aggregate_rate.csv",
        cap_times_mean: None,
    },
    // SpotHedge scales these counts down and caps them at 3.5x the scaled mean (1.5 req/s); we do the same.
    TraceDef {
        name: "maf-functions",
        file: "maf_azure_functions_per_minute/maf1_per_minute_requests.csv",
        cap_times_mean: Some(3.5),
    },
];

const SPOT_TRACE: &str = "spot_traces_skypilot/availability/16-node/aws-08-27-2023/us-west-2a_v100_1.json";

fn load(t: &TraceDef, mean_rps: f64, tokens: &sim::TokenSample) -> sim::Trace {
    let base = LoadOptions { tokens: Some(tokens.clone()), ..LoadOptions::default() };
    let raw = loaders::load(&data(t.file), &base).expect("trace");
    let scale = mean_rps / raw.stats().mean_rps;
    let opts = LoadOptions { rate_scale: scale, max_rps: t.cap_times_mean.map(|c| c * mean_rps), ..base };
    let mut trace = loaders::load(&data(t.file), &opts).expect("trace");
    trace.name = t.name.to_string();
    trace
}

fn planner_micros(scenario: &Scenario) -> f64 {
    let now = 1_767_225_600.0 + 86400.0;
    let history: Vec<(f64, f64)> = (0..180).map(|i| (now - 1800.0 + 10.0 * i as f64, 18.0 + (i % 7) as f64)).collect();
    let at = |value| Some(Sample { value, at: now });
    let snapshot = Snapshot {
        load: LoadSignals {
            request_rate: at(21.0),
            mean_input_tokens: at(1155.0),
            mean_output_tokens: at(211.0),
            running: at(100.0),
            waiting: at(2.0),
            latency_s: at(12.0),
            gpu_utilization: at(0.8),
            history,
        },
        prices: scenario.prices.clone(),
        classes: [
            ClassObservation::default(),
            ClassObservation { desired: 4, ready: 4, interrupted: 1 },
            ClassObservation { desired: 3, ready: 2, interrupted: 0 },
        ],
        traffic: Default::default(),
        spend: Spend {
            policy_month_to_date_usd: 1000.0,
            other_pools_usd_per_hour: 0.0,
            seconds_left_in_month: 20.0 * 86400.0,
        },
    };
    let memory = Memory::default();
    let n = 20_000;
    let start = Instant::now();
    let mut sink = 0u32;
    for i in 0..n {
        let plan = planner::plan(&scenario.config, &snapshot, &memory, now + i as f64);
        sink = sink.wrapping_add(plan.replicas.total());
    }
    std::hint::black_box(sink);
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let conv = loaders::parse(
        &data(TRACES[1].file),
        &std::fs::read_to_string(data(TRACES[1].file)).expect("conv"),
        sim::TraceFormat::Azure,
    )
    .expect("conv");
    // Rate series draw token sizes from the Azure conversation trace (chat-like, like ServeGen's language models).
    let conv_tokens = sim::TokenSample::from_raw(&data(TRACES[1].file), &conv).expect("tokens");
    let market = SpotMarket::load(&data(SPOT_TRACE)).expect("spot trace");
    let plots = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/sim");
    std::fs::create_dir_all(&plots).expect("plot dir");

    let defs = scenarios();
    println!(
        "Spot market: {} (AWS V100, 16-node availability, 300 s ticks, repeated when shorter than the trace).\n",
        market.describe()
    );
    println!("| trace | scenario | strategy | cost $ | SLO attained | vs oracle | external | replay s |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut speed: Vec<(String, &str, String, usize, f64)> = Vec::new();
    let mut planner_us = Vec::new();
    for s in defs {
        let scenario = Scenario::parse(Path::new(s.name), &s.yaml).expect("bench policy");
        planner_us.push((s.name, planner_micros(&scenario)));
        for t in &TRACES {
            let trace = load(t, s.mean_rps, &conv_tokens);
            let mut results = Vec::new();
            for name in sim::strategy_names(&scenario.spec) {
                let start = Instant::now();
                let r = sim::run_one(name, &trace, &scenario, &market, 42, None).expect("strategy");
                let secs = start.elapsed().as_secs_f64();
                if trace.len() >= 100_000 {
                    speed.push((t.name.to_string(), s.name, name.to_string(), trace.len(), secs));
                }
                results.push((r, secs));
            }
            let oracle = results.iter().find(|(r, _)| r.strategy == "oracle").map_or(f64::NAN, |(r, _)| r.cost_usd);
            for (r, secs) in &results {
                println!(
                    "| {} | {} | {} | {:.2} | {:.3}% | {:.2}x | {:.1}% | {:.3} |",
                    t.name,
                    s.name,
                    r.strategy,
                    r.cost_usd,
                    r.slo_attainment * 100.0,
                    r.cost_usd / oracle,
                    r.external_share * 100.0,
                    secs
                );
            }
            let report = sim::Report { trace: trace.stats(), results: results.into_iter().map(|(r, _)| r).collect() };
            let svg = sim::svg::render(&report, "hybridscale");
            let file = format!("{}-{}.svg", t.name, s.name.replace(['+', '/'], "-"));
            std::fs::write(plots.join(file), svg).expect("write plot");
        }
    }
    println!("\nReplay speed (release build, one core, 10 s steps):\n");
    println!("| trace | scenario | strategy | steps | seconds |");
    println!("|---|---|---|---|---|");
    for (t, sc, s, n, secs) in speed {
        println!("| {t} | {sc} | {s} | {n} | {secs:.3} |");
    }
    println!("\nPlanner decision time (one pool, 180-point history, mean of 20,000 calls):\n");
    for (s, us) in planner_us {
        println!("- {s}: {us:.1} µs");
    }
}
