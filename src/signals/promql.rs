//! The PromQL a pool's load is read with: label selectors and the vLLM/DCGM default queries, each
//! replaceable by the pool's `spec.metrics.queries`. Pure string building, no I/O.

use std::collections::BTreeMap;

use crate::api::inference_pool::{InferencePoolSpec, QueryOverrides};

/// A problem with a pool's metrics configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryConfigError {
    /// A selector key is not a valid Prometheus label name.
    #[error("spec.metrics.selector: {0:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")]
    LabelName(String),
    /// The rate window is not a PromQL duration.
    #[error("rate window {0:?} is not a PromQL duration such as 30s, 2m or 1h")]
    Window(String),
    /// The latency quantile is outside 0..1.
    #[error("latency quantile {0} must be within 0 and 1")]
    Quantile(f64),
}

/// The load signals read from Prometheus, one query each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Requests per second arriving. The default counts what the self-hosted vLLM replicas see,
    /// i.e. the route's self-hosted share only; to plan on the pool's whole demand while traffic goes
    /// external, override it with a gateway metric (e.g. the HTTPRoute's request rate) or scale it by
    /// the self-hosted weight.
    RequestRate,
    /// Prompt tokens per second.
    PromptTokenRate,
    /// Generated tokens per second.
    GenerationTokenRate,
    /// Requests being served.
    Running,
    /// Requests queued.
    Waiting,
    /// End-to-end latency at the SLO quantile, seconds.
    Latency,
    /// KV-cache usage, 0..1.
    KvCacheUsage,
    /// GPU utilisation, 0..100 (per GPU or per pod; averaged).
    GpuUtilization,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 8] = [
        Signal::RequestRate,
        Signal::PromptTokenRate,
        Signal::GenerationTokenRate,
        Signal::Running,
        Signal::Waiting,
        Signal::Latency,
        Signal::KvCacheUsage,
        Signal::GpuUtilization,
    ];

    /// The field name in `spec.metrics.queries`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::RequestRate => "requestRate",
            Signal::PromptTokenRate => "promptTokenRate",
            Signal::GenerationTokenRate => "generationTokenRate",
            Signal::Running => "running",
            Signal::Waiting => "waiting",
            Signal::Latency => "latency",
            Signal::KvCacheUsage => "kvCacheUsage",
            Signal::GpuUtilization => "gpuUtilization",
        }
    }

    /// How several series returned for this signal combine into one value. Overrides should return
    /// one series; per-pod answers are still read sensibly: rates and counts add up, usage and
    /// utilisation average, latency takes the worst pod (the SLO is about the worst case).
    pub fn combine(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Signal::RequestRate
            | Signal::PromptTokenRate
            | Signal::GenerationTokenRate
            | Signal::Running
            | Signal::Waiting => values.iter().sum(),
            Signal::KvCacheUsage | Signal::GpuUtilization => values.iter().sum::<f64>() / values.len() as f64,
            Signal::Latency => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Render the matchers inside a selector's braces, `k="v",...`, with PromQL string escaping.
pub fn render_selector(labels: &BTreeMap<String, String>) -> Result<String, QueryConfigError> {
    let mut parts = Vec::with_capacity(labels.len());
    for (k, v) in labels {
        if !valid_label_name(k) {
            return Err(QueryConfigError::LabelName(k.clone()));
        }
        parts.push(format!("{k}=\"{}\"", escape_label_value(v)));
    }
    Ok(parts.join(","))
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn valid_duration(s: &str) -> bool {
    // PromQL durations: one or more <digits><unit> groups, units ms s m h d w y.
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"].into_iter().find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// The label selector of a Gateway API Inference Extension endpoint picker's pool gauges
/// (`inference_pool_average_queue_size`, `inference_pool_average_kv_cache_utilization`,
/// `inference_pool_ready_pods`, each labelled `name` with the InferencePool's name), scoped to the
/// selector's namespace when it has one.
fn endpoint_picker_selector(params: &QueryParams) -> Result<Option<String>, QueryConfigError> {
    let Some(pool) = &params.endpoint_picker_pool else { return Ok(None) };
    let mut labels = BTreeMap::from([("name".to_string(), pool.clone())]);
    if let Some(ns) = params.selector.get("namespace") {
        labels.insert("namespace".into(), ns.clone());
    }
    render_selector(&labels).map(Some)
}

/// The queries of one pool, defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolQueries {
    /// One query per signal, in [`Signal::ALL`] order.
    queries: [(Signal, String); 8],
}

/// What the default queries are built from.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryParams {
    /// Labels selecting the pool's series.
    pub selector: BTreeMap<String, String>,
    /// Window of `rate()` and `deriv()`, a PromQL duration. It must span several scrape intervals
    /// (Prometheus needs two samples in the window): the operator's minute (`SIGNAL_WINDOW_S`) holds
    /// two to four at the usual 15-30 s scrapes.
    pub rate_window: String,
    /// The latency quantile, normally the SLO's target attainment (e.g. 0.99).
    pub latency_quantile: f64,
    /// The Gateway API Inference Extension InferencePool in front of the replicas, when the route's
    /// self-hosted backend is one: its endpoint picker's pool gauges back the queue and KV-cache defaults
    /// where vLLM's own series are not scraped.
    pub endpoint_picker_pool: Option<String>,
    /// Read the request counter with `irate` (its rate over the last scrape interval within the window)
    /// rather than `rate` (the mean over the window): for the recent rates
    /// (`LoadSignals::recent_rates`), where a burst must not be averaged with the quiet around it.
    pub last_interval: bool,
}

impl QueryParams {
    /// Defaults for a pool: its selector (or `{model_name: <spec.model>}`), a [`SIGNAL_WINDOW_S`]
    /// window.
    ///
    /// [`SIGNAL_WINDOW_S`]: crate::planner::SIGNAL_WINDOW_S
    pub fn for_pool(spec: &InferencePoolSpec, latency_quantile: f64) -> Self {
        let selector = if spec.metrics.selector.is_empty() {
            BTreeMap::from([("model_name".to_string(), spec.model.clone())])
        } else {
            spec.metrics.selector.clone()
        };
        let window = crate::planner::config::SIGNAL_WINDOW_S;
        let route = &spec.route.self_hosted_backend;
        let endpoint_picker_pool = route.is_inference_extension_pool().then(|| route.name.clone());
        QueryParams {
            selector,
            rate_window: format!("{window}s"),
            latency_quantile,
            endpoint_picker_pool,
            last_interval: false,
        }
    }
}

impl PoolQueries {
    /// Build the pool's queries: overrides where given, vLLM/DCGM defaults scoped by the selector
    /// elsewhere.
    pub fn new(params: &QueryParams, overrides: &QueryOverrides) -> Result<Self, QueryConfigError> {
        if !valid_duration(&params.rate_window) {
            return Err(QueryConfigError::Window(params.rate_window.clone()));
        }
        let q = params.latency_quantile;
        if !(q.is_finite() && (0.0..=1.0).contains(&q)) {
            return Err(QueryConfigError::Quantile(q));
        }
        let s = render_selector(&params.selector)?;
        let w = &params.rate_window;
        let epp = endpoint_picker_selector(params)?;
        let counter_rate = if params.last_interval { "irate" } else { "rate" };
        let default = |signal: Signal| -> String {
            match signal {
                // Arrivals = completions + growth of the queue; clamp: a draining queue must not make
                // the arrival rate negative. Without a waiting series the completion rate stands alone.
                Signal::RequestRate => format!(
                    "clamp_min(sum({counter_rate}(vllm:request_success_total{{{s}}}[{w}])) + \
                     (sum(deriv(vllm:num_requests_waiting{{{s}}}[{w}])) or vector(0)), 0)"
                ),
                Signal::PromptTokenRate => format!("sum(rate(vllm:prompt_tokens_total{{{s}}}[{w}]))"),
                Signal::GenerationTokenRate => format!("sum(rate(vllm:generation_tokens_total{{{s}}}[{w}]))"),
                Signal::Running => format!("sum(vllm:num_requests_running{{{s}}})"),
                Signal::Waiting => match &epp {
                    None => format!("sum(vllm:num_requests_waiting{{{s}}})"),
                    // The endpoint picker's average queue per ready pod, times its ready pods.
                    Some(e) => format!(
                        "sum(vllm:num_requests_waiting{{{s}}}) or \
                         sum(inference_pool_average_queue_size{{{e}}} * on (name) inference_pool_ready_pods{{{e}}})"
                    ),
                },
                Signal::Latency => format!(
                    "histogram_quantile({q}, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{{{s}}}[{w}])))"
                ),
                // vLLM V1 renamed the gauge; read whichever the replicas export.
                Signal::KvCacheUsage => {
                    let vllm = format!("avg(vllm:gpu_cache_usage_perc{{{s}}} or vllm:kv_cache_usage_perc{{{s}}})");
                    match &epp {
                        None => vllm,
                        Some(e) => format!("{vllm} or avg(inference_pool_average_kv_cache_utilization{{{e}}})"),
                    }
                }
                // dcgm-exporter labels GPUs with the pod using them, not with the model: keep the GPUs
                // of the pods that serve this pool's vLLM series.
                Signal::GpuUtilization => {
                    format!("avg(DCGM_FI_DEV_GPU_UTIL and on (namespace, pod) vllm:num_requests_running{{{s}}})")
                }
            }
        };
        let pick = |signal: Signal, o: &Option<String>| (signal, o.clone().unwrap_or_else(|| default(signal)));
        Ok(PoolQueries {
            queries: [
                pick(Signal::RequestRate, &overrides.request_rate),
                pick(Signal::PromptTokenRate, &overrides.prompt_token_rate),
                pick(Signal::GenerationTokenRate, &overrides.generation_token_rate),
                pick(Signal::Running, &overrides.running),
                pick(Signal::Waiting, &overrides.waiting),
                pick(Signal::Latency, &overrides.latency),
                pick(Signal::KvCacheUsage, &overrides.kv_cache_usage),
                pick(Signal::GpuUtilization, &overrides.gpu_utilization),
            ],
        })
    }

    /// The query of one signal.
    pub fn get(&self, signal: Signal) -> &str {
        // ALL and the array share one order, so the index is the position in ALL.
        let i = Signal::ALL.iter().position(|s| *s == signal).unwrap_or(0);
        &self.queries[i].1
    }

    /// All (signal, query) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (Signal, &str)> {
        self.queries.iter().map(|(s, q)| (*s, q.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sel: &[(&str, &str)]) -> QueryParams {
        QueryParams {
            selector: sel.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            rate_window: "30s".into(),
            latency_quantile: 0.99,
            endpoint_picker_pool: None,
            last_interval: false,
        }
    }

    #[test]
    fn an_inference_extension_pool_backs_queue_and_kv_cache_with_its_endpoint_picker() {
        let p = QueryParams { endpoint_picker_pool: Some("llm".into()), ..params(&[("namespace", "ml")]) };
        let q = PoolQueries::new(&p, &Default::default()).unwrap();
        assert_eq!(
            q.get(Signal::Waiting),
            r#"sum(vllm:num_requests_waiting{namespace="ml"}) or sum(inference_pool_average_queue_size{name="llm",namespace="ml"} * on (name) inference_pool_ready_pods{name="llm",namespace="ml"})"#
        );
        assert!(
            q.get(Signal::KvCacheUsage)
                .ends_with(r#" or avg(inference_pool_average_kv_cache_utilization{name="llm",namespace="ml"})"#),
            "{}",
            q.get(Signal::KvCacheUsage)
        );
        // Other signals are vLLM's and the gateway's only.
        assert!(!q.get(Signal::Running).contains("inference_pool"));
    }

    #[test]
    fn defaults_are_scoped_by_the_selector() {
        let q =
            PoolQueries::new(&params(&[("model_name", "llama"), ("namespace", "ml")]), &Default::default()).unwrap();
        for (signal, query) in q.iter() {
            assert!(query.contains(r#"model_name="llama",namespace="ml""#), "{signal}: {query}");
        }
        assert_eq!(q.get(Signal::Running), r#"sum(vllm:num_requests_running{model_name="llama",namespace="ml"})"#);
        assert!(q.get(Signal::Latency).starts_with("histogram_quantile(0.99, sum by (le) (rate("));
        assert!(q.get(Signal::RequestRate).contains("[30s]"));
    }

    #[test]
    fn overrides_replace_defaults() {
        let o = QueryOverrides { waiting: Some("my_queue".into()), ..Default::default() };
        let q = PoolQueries::new(&params(&[("model_name", "m")]), &o).unwrap();
        assert_eq!(q.get(Signal::Waiting), "my_queue");
        assert!(q.get(Signal::Running).contains("vllm:num_requests_running"));
    }

    #[test]
    fn label_values_are_escaped_and_names_checked() {
        let s = render_selector(&[("model_name".to_string(), "a\"b\\c".to_string())].into()).unwrap();
        assert_eq!(s, r#"model_name="a\"b\\c""#);
        let err = render_selector(&[("bad-name".to_string(), "x".to_string())].into()).unwrap_err();
        assert!(err.to_string().contains("bad-name"));
    }

    #[test]
    fn bad_window_and_quantile_are_rejected() {
        let mut p = params(&[("m", "x")]);
        p.rate_window = "2 minutes".into();
        assert!(matches!(PoolQueries::new(&p, &Default::default()), Err(QueryConfigError::Window(_))));
        let mut p = params(&[("m", "x")]);
        p.latency_quantile = 1.5;
        assert!(matches!(PoolQueries::new(&p, &Default::default()), Err(QueryConfigError::Quantile(_))));
        assert!(valid_duration("1h30m") && valid_duration("500ms") && !valid_duration("m") && !valid_duration(""));
    }

    #[test]
    fn several_series_combine_per_signal() {
        assert_eq!(Signal::RequestRate.combine(&[1.0, 2.0]), Some(3.0));
        assert_eq!(Signal::GpuUtilization.combine(&[50.0, 100.0]), Some(75.0));
        assert_eq!(Signal::Latency.combine(&[0.5, 2.0]), Some(2.0));
        assert_eq!(Signal::Waiting.combine(&[]), None);
    }
}
