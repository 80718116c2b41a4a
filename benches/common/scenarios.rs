//! The benchmark's price scenarios and traces, shared by `benches/sim.rs` and `tests/sim.rs` (so the
//! oracle's lower-bound test runs on exactly the scenarios the benchmark reports).
//!
//! Prices are read at run time from ../shared/data beside the repository (tests/sim.rs points
//! [`use_data_dir`] at the excerpts in tests/data instead):
//! - GPUs: SkyPilot catalog excerpt `gpu_prices_skypilot_catalog/aws_gpu_us_ondemand_spot.csv`,
//!   us-east-1: p5.48xlarge (8x H100) and g6.xlarge (1x L4), on-demand price and the median spot
//!   price over the region's zones, per GPU.
//! - Reserved: no public data; 60% of on-demand (an assumed 40% one-year commitment discount).
//! - External APIs: LiteLLM `llm_api_prices_litellm/chat_model_prices_per_mtok.csv`:
//!   claude-sonnet-4-5 (premium) and gpt-4o-mini (cheap).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hybridscale::sim::{self, LoadOptions, loaders};

/// The folder [`data`] reads from: ../shared/data unless [`use_data_dir`] was called first.
static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Read the data from `dir` (same layout as ../shared/data); call before the first [`data`].
pub fn use_data_dir(dir: PathBuf) {
    let set = DATA_DIR.get_or_init(|| dir.clone());
    assert_eq!(set, &dir, "the data folder was already chosen");
}

/// A file under ../shared/data (or the folder given to [`use_data_dir`]); a missing one is a panic that
/// says what the benchmarks need.
pub fn data(rel: &str) -> PathBuf {
    let dir = DATA_DIR.get_or_init(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let path = dir.join(rel);
    assert!(
        path.exists(),
        "{}: no such file. The benchmarks replay the full public data sets, expected in ../shared/data beside \
         the repository (the files and their sources are named in BENCHMARKS.md and tests/data/README.md); \
         `make test` needs only the excerpts in tests/data",
        path.display()
    );
    path
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

pub struct ScenarioDef {
    pub name: &'static str,
    /// The policy: a CostPolicy and an InferencePool.
    pub yaml: String,
    /// Mean requests per second every trace is scaled to.
    pub mean_rps: f64,
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

/// The price scenarios, and a line naming the prices read.
pub fn scenarios() -> (Vec<ScenarioDef>, String) {
    let h100 = gpu_prices("p5.48xlarge", "us-east-1");
    let l4 = gpu_prices("g6.xlarge", "us-east-1");
    let premium = api_prices("claude-sonnet-4-5");
    let cheap = api_prices("gpt-4o-mini");
    let prices = format!(
        "Prices (USD): H100 (p5.48xlarge us-east-1) on-demand {:.3}/GPU-h, median spot {:.3}/GPU-h; L4 (g6.xlarge us-east-1) on-demand {:.4}/GPU-h, median spot {:.4}/GPU-h; reserved = 0.6 x on-demand (assumed); claude-sonnet-4-5 {}/{} and gpt-4o-mini {}/{} per million input/output tokens.",
        h100.0, h100.1, l4.0, l4.1, premium.0, premium.1, cheap.0, cheap.1
    );
    let defs = vec![
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
    ];
    (defs, prices)
}

pub struct TraceDef {
    pub name: &'static str,
    /// Path under ../shared/data.
    pub file: &'static str,
    /// Cap as a multiple of the target mean (rate series with extreme outliers only).
    pub cap_times_mean: Option<f64>,
}

pub const TRACES: [TraceDef; 5] = [
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

pub const SPOT_TRACE: &str = "spot_traces_skypilot/availability/16-node/aws-08-27-2023/us-west-2a_v100_1.json";

/// A trace scaled to `mean_rps` (and capped as its definition says), at the default 10 s step.
pub fn load(t: &TraceDef, mean_rps: f64, tokens: &sim::TokenSample) -> sim::Trace {
    load_with_step(t, mean_rps, tokens, LoadOptions::default().step_s)
}

/// As [`load`], at `step_s` second steps.
pub fn load_with_step(t: &TraceDef, mean_rps: f64, tokens: &sim::TokenSample, step_s: f64) -> sim::Trace {
    let base = LoadOptions { tokens: Some(tokens.clone()), step_s, ..LoadOptions::default() };
    let raw = loaders::load(&data(t.file), &base).expect("trace");
    let scale = mean_rps / raw.stats().mean_rps;
    let opts = LoadOptions { rate_scale: scale, max_rps: t.cap_times_mean.map(|c| c * mean_rps), ..base };
    let mut trace = loaders::load(&data(t.file), &opts).expect("trace");
    trace.name = t.name.to_string();
    trace
}

/// Token sizes drawn from the Azure conversation trace, as the benchmark uses for rate series.
pub fn conv_tokens() -> sim::TokenSample {
    let file = data(TRACES[1].file);
    let text = std::fs::read_to_string(&file).expect("conv");
    let conv = loaders::parse(&file, &text, sim::TraceFormat::Azure).expect("conv");
    sim::TokenSample::from_raw(&file, &conv).expect("tokens")
}

/// The capacity matrix (issue 14): the 70B pool against the premium API in the world of a measured
/// replica profile (`sim::profile::llama_70b_4xh100`), with learnFromMetrics on, under three beliefs:
/// what one replica serves within the SLO as the sample pool states it (config/samples, measured for a
/// 1k/250 mix at about 80% of the profile's saturation), three times too high and three times too low.
pub fn capacity_beliefs() -> Vec<(&'static str, String)> {
    let h100 = gpu_prices("p5.48xlarge", "us-east-1");
    let premium = api_prices("claude-sonnet-4-5");
    let base = policy_yaml(h100, premium, 4, 2.5, None, 300, 300, 20.0, 10.0, 50.0, 0, (16, 10, 10));
    [("belief as measured", 1.0), ("belief x3 (too high)", 3.0), ("belief /3 (too low)", 1.0 / 3.0)]
        .into_iter()
        .map(|(name, k)| {
            let capacity = format!(
                "replicaCapacity: {{requestsPerSecond: {}, promptTokensPerSecond: {}, outputTokensPerSecond: {}, \
                 learnFromMetrics: true}}",
                5.0 * k,
                16000.0 * k,
                1800.0 * k
            );
            (name, base.replace("replicaCapacity: {requestsPerSecond: 2.5}", &capacity))
        })
        .collect()
}

/// A trace of the capacity matrix.
pub struct CapacityTrace {
    pub name: &'static str,
    pub trace: TraceDef,
    /// Mean requests per second it is scaled to.
    pub mean_rps: f64,
    /// Every prompt this many times as long.
    pub prompt_scale: f64,
}

/// The capacity matrix's traces: long-context (the synthetic Mooncake trace at its own rate, Azure conv
/// with every prompt eight times as long at its own rate) and the 70B scenario's ServeGen trace.
pub fn capacity_traces() -> Vec<CapacityTrace> {
    let t = |name, file| TraceDef { name, file, cap_times_mean: None };
    vec![
        CapacityTrace {
            name: "mooncake-synthetic",
            trace: t("mooncake-synthetic", "mooncake_fast25_synthetic/synthetic_trace.jsonl"),
            mean_rps: 3.9,
            prompt_scale: 1.0,
        },
        CapacityTrace { name: "azure-conv", trace: t("azure-conv", TRACES[1].file), mean_rps: 5.4, prompt_scale: 1.0 },
        CapacityTrace {
            name: "azure-conv x8 prompts",
            trace: t("azure-conv", TRACES[1].file),
            mean_rps: 5.4,
            prompt_scale: 8.0,
        },
        CapacityTrace {
            name: "servegen-m-mid",
            trace: t("servegen-m-mid", TRACES[2].file),
            mean_rps: 20.0,
            prompt_scale: 1.0,
        },
    ]
}

/// One external provider of the provider scenarios: the 2026 prices for comparable work.
pub struct ProviderDef {
    pub name: &'static str,
    /// USD per million tokens, input and output alike.
    pub usd_per_million: f64,
    /// Its quota, requests per second.
    pub max_rps: Option<f64>,
    pub latency_s: f64,
}

/// The cheaper provider, with a quota.
pub const GEMINI: ProviderDef =
    ProviderDef { name: "gemini", usd_per_million: 0.04, max_rps: Some(40.0), latency_s: 6.0 };
/// The dearer one, without.
pub const CLAUDE: ProviderDef = ProviderDef { name: "claude", usd_per_million: 0.05, max_rps: None, latency_s: 7.0 };

/// The error burst of the provider scenarios: gemini fails half of its requests for two hours from
/// 36 hours in (name, start s, duration s, error ratio).
pub const GEMINI_OUTAGE: (&str, f64, f64, f64) = ("gemini", 129_600.0, 7_200.0, 0.5);

/// Mean requests per second of the provider scenarios: enough that gemini's quota binds at the daily
/// peaks of ServeGen m-mid (72 rps at this mean).
pub const PROVIDERS_MEAN_RPS: f64 = 40.0;

/// The 8B pool on L4s (the `8B-L4-vs-cheap` figures, room for 24 replicas) with these external
/// providers instead of one API, no policy rate limit (each provider has its own).
/// `benchmarks/sim/8b-two-providers-policy.yaml` is the one with both.
pub fn providers_policy(providers: &[&ProviderDef]) -> String {
    let l4 = gpu_prices("g6.xlarge", "us-east-1");
    let base = policy_yaml(l4, (0.0, 0.0), 1, 4.0, None, 120, 180, 10.0, 5.0, 50.0, 0, (24, 16, 16));
    let mut list = String::from("  externalProviders:\n");
    for p in providers {
        list += &format!(
            "  - name: {n}\n    backendRef: {{name: {n}-egress}}\n    model: {n}\n    inputUsdPerMillionTokens: {u}\n    \
             outputUsdPerMillionTokens: {u}\n    latencySeconds: {l}\n{q}",
            n = p.name,
            u = p.usd_per_million,
            l = p.latency_s,
            q = p.max_rps.map_or(String::new(), |r| format!("    maxRequestsPerSecond: {r}\n")),
        );
    }
    let out = base
        .replace("  externalPrices: {inputUsdPerMillionTokens: 0, outputUsdPerMillionTokens: 0}\n", "")
        .replace(", maxRequestsPerSecond: 50}", "}")
        .replace("    externalBackend: {name: api}\n  external: {model: api, latencySeconds: 5}\n", &list);
    assert!(!out.contains("externalPrices") && !out.contains("model: api"), "the base policy changed: {out}");
    out
}

/// The provider scenarios: both providers, and each alone.
pub fn provider_scenarios() -> Vec<ScenarioDef> {
    let def = |name, providers: &[&ProviderDef]| ScenarioDef {
        name,
        yaml: providers_policy(providers),
        mean_rps: PROVIDERS_MEAN_RPS,
    };
    vec![
        def("8B-L4 gemini+claude", &[&GEMINI, &CLAUDE]),
        def("8B-L4 claude only (dearer)", &[&CLAUDE]),
        def("8B-L4 gemini only (cheaper, 40 rps quota)", &[&GEMINI]),
    ]
}

/// Give a scenario's gemini (if it has one) the [`GEMINI_OUTAGE`].
pub fn with_gemini_outage(mut scenario: sim::Scenario) -> sim::Scenario {
    let (name, start, duration, ratio) = GEMINI_OUTAGE;
    for p in scenario.spec.providers.iter_mut().filter(|p| p.name == name) {
        p.bursts.push(sim::providers::ErrorBurst { start_s: start, end_s: start + duration, error_ratio: ratio });
    }
    scenario
}
