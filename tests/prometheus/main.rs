//! Signals against the real Prometheus server (Debian package `prometheus`, installed by `make test`):
//! each test starts its own instance on a free loopback port with a temporary TSDB, scraping the
//! synthetic model-server exporter every second, and stops it by PID.
//!
//! Without the binaries these tests fail: `make test` installs them (hack/tools.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hybridscale::api::cost_policy::CostPolicySpec;
use hybridscale::api::inference_pool::InferencePoolSpec;
use hybridscale::modelserver::{ExporterHandle, Load, ModelServerExporter, Profile};
use hybridscale::planner::{Class, Sample};
use hybridscale::signals::{
    Availability, Credentials, HistoryWindow, LoadReading, PolicyPrices, PriceOrigin, PrometheusClient,
    PrometheusConfig, PrometheusLoadSource, QueryError, now_unix, price_source_for,
};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A binary on PATH; a missing one fails the test, naming the Debian package `make test` installs.
fn find_binary(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("{name} not found on PATH: run `make test` (it installs the Debian package `{package}`)")
    })
}

/// The prometheus and promtool binaries.
fn binaries() -> (PathBuf, PathBuf) {
    (find_binary("prometheus", "prometheus"), find_binary("promtool", "prometheus"))
}

/// Write `om` (OpenMetrics text ending in `# EOF`) into a TSDB under `dir` with `promtool tsdb
/// create-blocks-from openmetrics`, and start Prometheus on it.
async fn start_backfilled(dir: &Path, om: &str) -> Prom {
    let (bin, promtool) = binaries();
    let (file, tsdb) = (dir.join("backfill.om"), dir.join("tsdb"));
    std::fs::write(&file, om).expect("write openmetrics");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    Prom::start(&bin, dir, &tsdb, &[], None).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running Prometheus; killed (by PID) when dropped.
struct Prom {
    child: Option<Child>,
    url: String,
    log: PathBuf,
}

impl Prom {
    /// Start Prometheus on `tsdb`, scraping `targets` (host:port) every second. `tls` is the
    /// (web config, CA PEM) pair for an https listener.
    async fn start(bin: &Path, dir: &Path, tsdb: &Path, targets: &[String], tls: Option<(&Path, &[u8])>) -> Prom {
        let config = dir.join("prometheus.yml");
        let mut yaml = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
        if !targets.is_empty() {
            let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
            yaml.push_str(&format!(
                "  - job_name: vllm\n    scrape_interval: 1s\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            ));
        }
        std::fs::write(&config, yaml).expect("write config");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(2));
        if let Some((_, ca)) = tls {
            http = http.tls_certs_only(reqwest::Certificate::from_pem_bundle(ca).expect("CA"));
        }
        let http = http.build().expect("http client");
        // A port picked free can be taken before Prometheus binds it: try a few.
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let mut cmd = Command::new(bin);
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", tsdb.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            if let Some((web, _)) = tls {
                cmd.arg(format!("--web.config.file={}", web.display()));
            }
            let child = cmd.spawn().expect("spawn prometheus");
            let mut prom = Prom { child: Some(child), url: format!("{scheme}://127.0.0.1:{port}"), log };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Some(c) = prom.child.as_mut()
                    && let Ok(Some(_)) = c.try_wait()
                {
                    break;
                }
                let ready = http.get(format!("{}/-/ready", prom.url)).send().await;
                if ready.map(|r| r.status().is_success()).unwrap_or(false) {
                    return prom;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!("prometheus did not get ready: {}", std::fs::read_to_string(&prom.log).unwrap_or_default());
            prom.stop();
        }
        panic!("prometheus did not start");
    }

    fn client(&self) -> PrometheusClient {
        let mut cfg = PrometheusConfig::new(&self.url);
        cfg.timeout = Duration::from_secs(3);
        PrometheusClient::new(&cfg).expect("client")
    }

    /// Kill by PID and reap.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Poll `read` until `done` holds; panic with the last reading after `limit`.
async fn eventually<F, Fut>(
    limit: Duration,
    what: &str,
    mut read: F,
    done: impl Fn(&LoadReading) -> bool,
) -> LoadReading
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = LoadReading>,
{
    let deadline = Instant::now() + limit;
    loop {
        let r = read().await;
        if done(&r) {
            return r;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last reading: {r:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn near(s: Option<Sample>, want: f64, rel: f64) -> bool {
    s.is_some_and(|s| (s.value - want).abs() <= rel * want.abs().max(1e-9))
}

fn pool(model: &str, extra: &str) -> InferencePoolSpec {
    let yaml = format!(
        "model: {model}\ncostPolicyRef: {{name: p}}\ncapacity: {{onDemand: {{scaleTargetRef: {{name: d}}}}}}\n\
         replicaCapacity: {{requestsPerSecond: 10}}\nroute: {{httpRoute: r, selfHostedBackend: {{name: a}}, \
         externalBackend: {{name: b}}}}\n{extra}"
    );
    hybridscale::input::parse_yaml(Path::new("pool.yaml"), &yaml).expect("pool spec")
}

async fn exporter() -> ExporterHandle {
    ModelServerExporter::start("127.0.0.1:0".parse().expect("addr")).await.expect("exporter")
}

mod finops;
mod live;
mod tls;
