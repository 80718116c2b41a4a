//! Prometheus text exposition (format 0.0.4) of the simulated pods: vLLM's metric names and labels,
//! and dcgm-exporter's GPU utilisation with its pod attribution labels.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{LATENCY_BUCKETS, ModelState};
use super::providers::{ERROR_TYPE, GEN_AI_BUCKETS, LatencyHistogram, ProviderState};

/// (namespace, model name).
pub(crate) type ModelKey = (String, String);

/// A gauge sample set by hand, with an optional explicit timestamp (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ExtraSample {
    pub value: f64,
    pub at: Option<f64>,
}

/// Extra gauges: metric name -> rendered label set -> sample.
pub(crate) type Extras = BTreeMap<String, BTreeMap<String, ExtraSample>>;

/// Render `k="v",...` from label pairs, escaped.
pub(crate) fn labels(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    lines: String,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family { name, kind, help, lines: String::new() }
    }
    fn sample(&mut self, suffix: &str, labels: &str, value: f64) {
        let _ = writeln!(self.lines, "{}{suffix}{{{labels}}} {value}", self.name);
    }
    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        out.push_str(&self.lines);
    }
}

/// Envoy AI Gateway's request duration histogram, one series set per provider and outcome; the failed
/// requests' series (with `error_type`) appear with the first failure, as an OpenTelemetry exporter's do.
fn provider_family(providers: &BTreeMap<String, ProviderState>) -> Family {
    let mut f = Family::new(
        "gen_ai_server_request_duration_seconds",
        "histogram",
        "Time spent on the GenAI request, from the request headers to the end of the response body.",
    );
    for (name, p) in providers {
        let base = format!(
            "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"{}\",gen_ai_request_model=\"{}\"",
            escape(name),
            escape(&p.model)
        );
        let failed = format!("{base},error_type=\"{ERROR_TYPE}\"");
        let outcomes: [(&LatencyHistogram, &str, bool); 2] =
            [(&p.succeeded, &base, true), (&p.failed, &failed, p.failed.count > 0.0)];
        for (o, labels, _) in outcomes.into_iter().filter(|(_, _, shown)| *shown) {
            for (le, count) in GEN_AI_BUCKETS.iter().zip(o.buckets) {
                f.sample("_bucket", &format!("{labels},le=\"{le}\""), count);
            }
            f.sample("_bucket", &format!("{labels},le=\"+Inf\""), o.count);
            f.sample("_sum", labels, o.sum);
            f.sample("_count", labels, o.count);
        }
    }
    f
}

/// Render every pod of every model, the simulated providers, then the extra gauges.
pub(crate) fn render(
    models: &BTreeMap<ModelKey, ModelState>,
    providers: &BTreeMap<String, ProviderState>,
    extras: &Extras,
) -> String {
    let mut running = Family::new("vllm:num_requests_running", "gauge", "Number of requests currently running on GPU.");
    let mut waiting = Family::new("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.");
    let mut cache = Family::new("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.");
    let mut success = Family::new("vllm:request_success_total", "counter", "Count of successfully processed requests.");
    let mut prompt = Family::new("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.");
    let mut generation =
        Family::new("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.");
    let mut latency = Family::new(
        "vllm:e2e_request_latency_seconds",
        "histogram",
        "Histogram of end to end request latency in seconds.",
    );
    let mut gpu = Family::new("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).");

    let mut gpu_index = 0u32;
    for ((namespace, model_name), model) in models {
        for (pod_name, pod) in &model.pods {
            let base = format!(
                "model_name=\"{}\",namespace=\"{}\",pod=\"{}\"",
                escape(model_name),
                escape(namespace),
                escape(pod_name)
            );
            let util = model.utilization(pod);
            running.sample("", &base, pod.served_rps * pod.latency_s);
            waiting.sample("", &base, pod.waiting);
            cache.sample("", &base, util);
            success.sample("", &format!("{base},finished_reason=\"stop\""), pod.success);
            prompt.sample("", &base, pod.prompt_tokens);
            generation.sample("", &base, pod.generation_tokens);
            for (le, count) in LATENCY_BUCKETS.iter().zip(pod.latency_buckets) {
                latency.sample("_bucket", &format!("{base},le=\"{le}\""), count);
            }
            latency.sample("_bucket", &format!("{base},le=\"+Inf\""), pod.success);
            latency.sample("_sum", &base, pod.latency_sum);
            latency.sample("_count", &base, pod.success);
            // dcgm-exporter names the pod using a GPU but not the model it serves; `modelName` is
            // the GPU's model.
            for g in 0..model.profile.gpus_per_pod {
                let labels = format!(
                    "gpu=\"{g}\",UUID=\"GPU-{gpu_index:08x}-sim\",device=\"nvidia{g}\",\
                     modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"sim-node\",container=\"vllm\",\
                     namespace=\"{}\",pod=\"{}\"",
                    escape(namespace),
                    escape(pod_name)
                );
                gpu.sample("", &labels, (util * 100.0).round());
                gpu_index += 1;
            }
        }
    }
    let mut out = String::new();
    for f in [&running, &waiting, &cache, &success, &prompt, &generation, &latency, &gpu] {
        f.write(&mut out);
    }
    if !providers.is_empty() {
        provider_family(providers).write(&mut out);
    }
    for (name, series) in extras {
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, sample) in series {
            let _ = match sample.at {
                // The text format takes milliseconds.
                Some(at) => writeln!(out, "{name}{{{labels}}} {} {}", sample.value, (at * 1000.0).round() as i64),
                None => writeln!(out, "{name}{{{labels}}} {}", sample.value),
            };
        }
    }
    out
}
