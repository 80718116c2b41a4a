//! A synthetic model-server exporter: one small HTTP server that serves, at `/metrics`, the vLLM and
//! DCGM metrics of any number of simulated pods, so a real Prometheus can scrape real-looking load.
//!
//! Each (namespace, model) has pods, a performance [`Profile`] and a load (constant, or a [`Script`]
//! of steps). Counters integrate the load exactly over wall-clock time, a fluid queue per pod turns
//! overload into waiting requests and latency, and gauges follow. Change anything at runtime through
//! the [`ExporterHandle`]:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hybridscale::modelserver::{Load, ModelServerExporter};
//! let exporter = ModelServerExporter::start("127.0.0.1:0".parse().unwrap()).await?;
//! exporter.set_replicas("ml", "llama", 2);
//! exporter.set_load("ml", "llama", Load::rps(10.0));
//! println!("scrape {}", exporter.metrics_url());
//! # Ok(()) }
//! ```
//!
//! Used by tests/prometheus/, and meant for the sandbox and end-to-end tests.

mod model;
mod providers;
mod render;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub use model::{LATENCY_BUCKETS, Load, PodState, Profile, Script};
pub use providers::{Behaviour, ERROR_TYPE, GEN_AI_BUCKETS, LatencyHistogram, ProviderState};

use model::{LoadPlan, ModelState};
use render::{ExtraSample, Extras, ModelKey};

/// Sums over the pods of one model at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelTotals {
    /// Pods serving the model.
    pub pods: usize,
    /// Requests completed so far.
    pub success: f64,
    /// Prompt tokens so far.
    pub prompt_tokens: f64,
    /// Generated tokens so far.
    pub generation_tokens: f64,
    /// Requests being served now.
    pub running: f64,
    /// Requests queued now.
    pub waiting: f64,
    /// Mean latency of requests completing now, seconds (mean over pods).
    pub latency_s: f64,
}

struct Fleet {
    clock: Instant,
    models: BTreeMap<ModelKey, ModelState>,
    /// Simulated external providers behind the gateway, by name.
    providers: BTreeMap<String, ProviderState>,
    extras: Extras,
}

impl Fleet {
    fn now(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    /// The model, integrated up to now so a change applies from this instant on.
    fn model(&mut self, namespace: &str, model: &str) -> &mut ModelState {
        let now = self.now();
        let m = self.models.entry((namespace.to_string(), model.to_string())).or_insert_with(|| ModelState::new(now));
        m.advance(now);
        m
    }

    fn advance_all(&mut self) {
        let now = self.now();
        for m in self.models.values_mut() {
            m.advance(now);
        }
        for p in self.providers.values_mut() {
            p.advance(now);
        }
    }
}

type Shared = Arc<Mutex<Fleet>>;

/// Starts exporters.
pub struct ModelServerExporter;

impl ModelServerExporter {
    /// Serve `/metrics` on `addr` (port 0 picks a free port) from a tokio task. Must be called
    /// inside a tokio runtime; the server stops when the handle is dropped or shut down.
    pub async fn start(addr: SocketAddr) -> std::io::Result<ExporterHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let fleet: Shared = Arc::new(Mutex::new(Fleet {
            clock: Instant::now(),
            models: BTreeMap::new(),
            providers: BTreeMap::new(),
            extras: Extras::new(),
        }));
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/", get(|| async { "hybridscale synthetic model-server exporter: see /metrics\n" }))
            .with_state(fleet.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(ExporterHandle { addr, fleet, stop: Some(stop), task })
    }
}

async fn metrics(State(fleet): State<Shared>) -> impl IntoResponse {
    let body = {
        let mut f = lock(&fleet);
        f.advance_all();
        render::render(&f.models, &f.providers, &f.extras)
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

fn lock(fleet: &Shared) -> MutexGuard<'_, Fleet> {
    // A panic while holding the lock cannot leave the fleet half-updated in a way that matters for a
    // simulation; keep serving.
    fleet.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pod names for a model: `vllm-<model>-<i>`, the model lower-cased and reduced to DNS characters.
pub fn pod_names(model: &str, replicas: u32) -> Vec<String> {
    let mut stem: String =
        model.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    stem = stem.trim_matches('-').to_string();
    stem.truncate(40);
    (0..replicas).map(|i| format!("vllm-{stem}-{i}")).collect()
}

/// Controls a running exporter. Dropping it stops the server.
pub struct ExporterHandle {
    addr: SocketAddr,
    fleet: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ExporterHandle {
    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Set the model's pods by name: new names start empty, missing names disappear (a pod that
    /// comes back later starts its counters from zero, like a restarted vLLM).
    pub fn set_pods<I: IntoIterator<Item = String>>(&self, namespace: &str, model: &str, names: I) {
        let mut f = lock(&self.fleet);
        let m = f.model(namespace, model);
        let names: Vec<String> = names.into_iter().collect();
        m.pods.retain(|k, _| names.contains(k));
        for n in names {
            m.pods.entry(n).or_default();
        }
    }

    /// Set the model's pods to `replicas` pods named by [`pod_names`].
    pub fn set_replicas(&self, namespace: &str, model: &str, replicas: u32) {
        self.set_pods(namespace, model, pod_names(model, replicas));
    }

    /// Set how the model's pods perform.
    pub fn set_profile(&self, namespace: &str, model: &str, profile: Profile) {
        lock(&self.fleet).model(namespace, model).profile = profile;
    }

    /// Offer a constant load to the model from now on.
    pub fn set_load(&self, namespace: &str, model: &str, load: Load) {
        lock(&self.fleet).model(namespace, model).plan = LoadPlan::Constant(load);
    }

    /// Follow a script from now on (its step times count from this call).
    pub fn set_script(&self, namespace: &str, model: &str, script: Script) {
        let mut f = lock(&self.fleet);
        let now = f.now();
        f.model(namespace, model).plan = LoadPlan::Script { started_at: now, script };
    }

    /// Remove a model and all its pods.
    pub fn remove_model(&self, namespace: &str, model: &str) {
        lock(&self.fleet).models.remove(&(namespace.to_string(), model.to_string()));
    }

    /// Serve an extra gauge sample, e.g. an exported spot price for a CostPolicy query. `at` (Unix
    /// seconds) makes the sample carry an explicit timestamp, so Prometheus stores it as that old;
    /// without it the scrape time is used. The same name and labels replace the previous value.
    /// Invalid metric or label names are refused: one bad line would fail the whole scrape.
    pub fn set_gauge(&self, name: &str, labels: &[(&str, &str)], value: f64, at: Option<f64>) -> Result<(), String> {
        let valid = |s: &str, colon: bool| {
            let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
            s.chars().next().is_some_and(|c| ok(c) && !c.is_ascii_digit()) && s.chars().all(ok)
        };
        if !valid(name, true) {
            return Err(format!("{name:?} is not a valid metric name"));
        }
        if let Some((k, _)) = labels.iter().find(|(k, _)| !valid(k, false) || k.starts_with("__")) {
            return Err(format!("{k:?} is not a valid label name"));
        }
        let mut f = lock(&self.fleet);
        f.extras.entry(name.to_string()).or_default().insert(render::labels(labels), ExtraSample { value, at });
        Ok(())
    }

    /// Simulate the external provider `name` (serving `model`) behind the gateway from now on, or change
    /// how it answers: its requests' latency and error ratio apply from this instant.
    pub fn set_provider(&self, name: &str, model: &str, behaviour: Behaviour) {
        let mut f = lock(&self.fleet);
        let now = f.now();
        let p = f.providers.entry(name.to_string()).or_insert_with(|| ProviderState::new(model, behaviour, now));
        p.advance(now);
        p.model = model.to_string();
        p.behaviour = behaviour;
    }

    /// The requests per second the gateway sends to provider `name` from now on; false when no such
    /// provider is simulated.
    pub fn set_provider_load(&self, name: &str, rps: f64) -> bool {
        let mut f = lock(&self.fleet);
        let now = f.now();
        match f.providers.get_mut(name) {
            Some(p) => {
                p.advance(now);
                p.rps = rps;
                true
            }
            None => false,
        }
    }

    /// A simulated provider now (its counters integrated up to now).
    pub fn provider(&self, name: &str) -> Option<ProviderState> {
        let mut f = lock(&self.fleet);
        let now = f.now();
        let p = f.providers.get_mut(name)?;
        p.advance(now);
        Some(p.clone())
    }

    /// Stop serving an extra gauge (all its label sets).
    pub fn remove_gauge(&self, name: &str) {
        lock(&self.fleet).extras.remove(name);
    }

    /// Per-pod state of a model now.
    pub fn pods(&self, namespace: &str, model: &str) -> BTreeMap<String, PodState> {
        let mut f = lock(&self.fleet);
        let now = f.now();
        match f.models.get_mut(&(namespace.to_string(), model.to_string())) {
            Some(m) => {
                m.advance(now);
                m.pods.clone()
            }
            None => BTreeMap::new(),
        }
    }

    /// Sums over a model's pods now.
    pub fn totals(&self, namespace: &str, model: &str) -> ModelTotals {
        let pods = self.pods(namespace, model);
        let mut t = ModelTotals { pods: pods.len(), ..Default::default() };
        for p in pods.values() {
            t.success += p.success;
            t.prompt_tokens += p.prompt_tokens;
            t.generation_tokens += p.generation_tokens;
            t.running += p.served_rps * p.latency_s;
            t.waiting += p.waiting;
            t.latency_s += p.latency_s / pods.len() as f64;
        }
        t
    }

    /// The exposition text `/metrics` would serve now.
    pub fn render(&self) -> String {
        let mut f = lock(&self.fleet);
        f.advance_all();
        render::render(&f.models, &f.providers, &f.extras)
    }

    /// Stop serving and wait for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ExporterHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_dns_safe() {
        assert_eq!(
            pod_names("meta-llama/Llama-3.1-8B", 2),
            vec!["vllm-meta-llama-llama-3-1-8b-0", "vllm-meta-llama-llama-3-1-8b-1"]
        );
    }

    #[tokio::test]
    async fn serves_vllm_and_dcgm_text_over_http() {
        let ex = ModelServerExporter::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        ex.set_profile("ml", "m\"x", Profile { gpus_per_pod: 2, ..Profile::default() });
        ex.set_replicas("ml", "m\"x", 2);
        ex.set_load("ml", "m\"x", Load::rps(4.0));
        ex.set_replicas("other", "n", 1);

        // A raw HTTP/1.0 GET: what Prometheus does, without pulling an HTTP client into the test.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(ex.addr()).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.0 200"), "{body}");
        assert!(body.contains("text/plain; version=0.0.4"));
        assert!(body.contains("# TYPE vllm:e2e_request_latency_seconds histogram"));
        let labels = r#"model_name="m\"x",namespace="ml",pod="vllm-m-x-0""#;
        assert!(body.contains(&format!("vllm:num_requests_waiting{{{labels}}} 0\n")), "{body}");
        assert!(body.contains(&format!("vllm:e2e_request_latency_seconds_bucket{{{labels},le=\"+Inf\"}}")));
        assert_eq!(body.matches("DCGM_FI_DEV_GPU_UTIL{").count(), 5, "{body}");
        assert!(body.contains(r#"DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-00000001-sim""#));
        // Per-pod gauges reflect the load: 2 rps on a 5 rps pod is 40 percent.
        assert!(body.contains(r#"pod="vllm-m-x-1"} 40"#), "{body}");
        ex.set_gauge("spot_price_usd", &[("zone", "a")], 1.25, Some(1000.5)).unwrap();
        assert!(ex.set_gauge("1bad", &[], 1.0, None).is_err());
        assert!(ex.set_gauge("ok", &[("bad-label", "x")], 1.0, None).is_err());
        assert!(ex.render().ends_with("# TYPE spot_price_usd gauge\nspot_price_usd{zone=\"a\"} 1.25 1000500\n"));

        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let t = ex.totals("ml", "m\"x");
        assert!(!ex.render().contains("gen_ai_server_request_duration_seconds"), "no provider, no series");
        assert_eq!(t.pods, 2);
        assert!(t.success > 0.5 && t.success < 4.0 * 5.0, "{t:?}");
        assert!((t.prompt_tokens - 512.0 * t.success).abs() < 1e-6);
        ex.shutdown().await;
    }

    #[tokio::test]
    async fn providers_export_the_gateway_histogram_with_failures_labelled() {
        let ex = ModelServerExporter::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert!(!ex.set_provider_load("gemini", 1.0), "not simulated yet");
        ex.set_provider("gemini", "gemini-2.5-flash", Behaviour { latency_s: 3.0, error_ratio: 0.0 });
        assert!(ex.set_provider_load("gemini", 10.0));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let body = ex.render();
        assert!(body.contains("# TYPE gen_ai_server_request_duration_seconds histogram"), "{body}");
        let labels =
            r#"gen_ai_operation_name="chat",gen_ai_provider_name="gemini",gen_ai_request_model="gemini-2.5-flash""#;
        assert!(body.contains(&format!("gen_ai_server_request_duration_seconds_count{{{labels}}} ")), "{body}");
        assert!(!body.contains("error_type"), "no failure yet: {body}");
        ex.set_provider("gemini", "gemini-2.5-flash", Behaviour { latency_s: 3.0, error_ratio: 0.5 });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let p = ex.provider("gemini").unwrap();
        assert!(p.failed.count > 0.2 && p.failed.count < p.succeeded.count, "{p:?}");
        let failed = format!("{labels},error_type=\"{ERROR_TYPE}\"");
        assert!(
            ex.render().contains(&format!("gen_ai_server_request_duration_seconds_bucket{{{failed},le=\"5.12\"}}"))
        );
        ex.shutdown().await;
    }
}
