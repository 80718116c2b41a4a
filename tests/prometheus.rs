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
    Availability, Credentials, HistoryWindow, LoadReading, PriceOrigin, PrometheusClient, PrometheusConfig,
    PrometheusLoadSource, QueryError, now_unix, price_source_for,
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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Rates, token mix, quantiles, utilisation under changing load; per-pool scoping; empty and NaN
/// answers are unknown; a broken override only fails its own signal; prices by query with fallback;
/// then Prometheus is killed and the source reports unavailable with the age of its last good value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_load_scoping_unknowns_prices_and_outage() {
    let (bin, _) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = exporter().await;
    let fixed = |l: f64| Profile { capacity_rps: 10.0, base_latency_s: 0.5, gpus_per_pod: 1, fixed_latency_s: Some(l) };
    ex.set_profile("ml", "llama", fixed(1.2));
    ex.set_replicas("ml", "llama", 2);
    ex.set_load("ml", "llama", Load { rps: 6.0, mean_input_tokens: 200.0, mean_output_tokens: 50.0 });
    ex.set_replicas("ml", "mistral", 1);
    ex.set_load("ml", "mistral", Load::rps(2.0));
    let t0 = now_unix();
    ex.set_gauge("gpu_price_usd_per_hour", &[("class", "spot")], 1.23, None).expect("gauge");
    ex.set_gauge("gpu_price_usd_per_hour", &[("class", "reserved")], 0.9, Some(t0 - 60.0)).expect("gauge");

    let mut prom = Prom::start(&bin, dir.path(), &dir.path().join("tsdb"), &[ex.addr().to_string()], None).await;
    let client = prom.client();
    let source = |spec: &InferencePoolSpec| {
        PrometheusLoadSource::for_pool(
            client.clone(),
            spec,
            0.9,
            "5s",
            Some(HistoryWindow { lookback_s: 60.0, step_s: 5.0 }),
        )
        .expect("source")
    };
    let llama = source(&pool("llama", ""));
    let mistral = source(&pool("mistral", ""));
    // Selector given explicitly: same series as the default, but scoped by pod name too.
    let one_pod = source(&pool("llama", "metrics: {selector: {model_name: llama, pod: vllm-llama-0}}"));
    let absent = source(&pool("no-such-model", ""));
    let overridden = source(&pool(
        "llama",
        "metrics: {queries: {running: 'vector(0) / 0', waiting: 'sum(', kvCacheUsage: 'vllm:gpu_cache_usage_perc{pod=\"vllm-llama-1\"}'}}",
    ));

    // Phase 1: 6 rps over 2 pods (3 each on 10 rps pods), 200/50 tokens, latency spread over [0.6, 1.8] s.
    let r = eventually(
        Duration::from_secs(40),
        "6 rps",
        || llama.read(now_unix()),
        |r| {
            near(r.signals.request_rate, 6.0, 0.05)
                && near(r.signals.latency_s, 1.8, 0.05)
                && near(r.prompt_token_rate, 1200.0, 0.05)
        },
    )
    .await;
    assert_eq!(r.availability, Availability::Available);
    let s = &r.signals;
    assert!(near(s.mean_input_tokens, 200.0, 0.05), "{s:?}");
    assert!(near(s.mean_output_tokens, 50.0, 0.05), "{s:?}");
    assert!(near(r.prompt_token_rate, 1200.0, 0.05), "{r:?}");
    assert!(near(s.running, 6.0 * 1.2, 0.02), "{s:?}");
    assert_eq!(s.waiting.map(|w| w.value), Some(0.0));
    assert!(near(s.gpu_utilization, 0.3, 0.02), "{s:?}");
    assert!(near(r.kv_cache_usage, 0.3, 0.02), "{r:?}");
    let now = now_unix();
    assert!(s.request_rate.is_some_and(|x| (now - x.at).abs() < 10.0), "sample time is Prometheus' evaluation time");
    assert!(!s.history.is_empty(), "range query fills the history");

    // Scoping: the other model and a single pod see only their own series.
    let m = eventually(
        Duration::from_secs(20),
        "mistral 2 rps",
        || mistral.read(now_unix()),
        |r| near(r.signals.request_rate, 2.0, 0.05),
    )
    .await;
    assert!(near(m.signals.gpu_utilization, 0.4, 0.02), "default profile: 5 rps per pod: {m:?}");
    let p = one_pod.read(now_unix()).await;
    assert!(near(p.signals.request_rate, 3.0, 0.08), "{p:?}");

    // Nothing matches: every signal unknown, not zero, and the source is still available.
    let a = absent.read(now_unix()).await;
    assert_eq!(a.availability, Availability::Available);
    let z = &a.signals;
    for v in [z.request_rate, z.mean_input_tokens, z.running, z.waiting, z.latency_s, z.gpu_utilization] {
        assert_eq!(v, None, "{a:?}");
    }
    assert_eq!(a.kv_cache_usage, None);
    assert!(z.history.is_empty());

    // Overrides: NaN is unknown, bad PromQL fails only its own signal, a working override is used.
    let o = overridden.read(now_unix()).await;
    assert_eq!(o.signals.running, None, "NaN must read as unknown: {o:?}");
    match &o.availability {
        Availability::Partial { failures } => {
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert_eq!(failures[0].0, "waiting");
            assert!(matches!(failures[0].1, QueryError::Rejected(_)), "{failures:?}");
        }
        other => panic!("expected a partial reading, got {other:?}"),
    }
    assert!(near(o.kv_cache_usage, 0.3, 0.02) && near(o.signals.request_rate, 6.0, 0.1), "{o:?}");
    assert!(o.summary().contains("waiting"), "{}", o.summary());

    // Phase 2: load and token mix change, latency rises to [1.5, 4.5] s; histogram_quantile
    // interpolates in the (2.5, 5] bucket: 2.5 + 2.5 * (0.9 - 1/3) / (2/3) = 4.625.
    ex.set_profile("ml", "llama", fixed(3.0));
    ex.set_load("ml", "llama", Load { rps: 16.0, mean_input_tokens: 400.0, mean_output_tokens: 100.0 });
    eventually(
        Duration::from_secs(30),
        "16 rps",
        || llama.read(now_unix()),
        |r| {
            // Every rate settles on its own scrape; wait for all of them rather than sampling the
            // slower ones the moment the first one is right.
            near(r.signals.request_rate, 16.0, 0.05)
                && near(r.signals.latency_s, 4.625, 0.05)
                && near(r.signals.mean_input_tokens, 400.0, 0.05)
                && near(r.signals.gpu_utilization, 0.8, 0.03)
                && near(r.generation_token_rate, 1600.0, 0.05)
        },
    )
    .await;
    let mistral_now = mistral.read(now_unix()).await;
    assert!(near(mistral_now.signals.request_rate, 2.0, 0.05), "other pool unaffected: {mistral_now:?}");

    // Prices: the exporter serves a fresh spot price and a reserved price stamped 60 s ago (both
    // scraped since phase 1); on-demand's query finds nothing.
    let pr_query = r#"gpu_price_usd_per_hour{class="CLASS"}"#;
    let pr = |c: &str| pr_query.replace("CLASS", c);
    let policy: CostPolicySpec = hybridscale::input::parse_yaml(
        Path::new("policy.yaml"),
        &format!(
            "gpuPrices:\n  reserved: {{usdPerGpuHour: 1.0, maxAgeSeconds: 30, query: '{}'}}\n  \
             spot: {{usdPerGpuHour: 1.5, query: '{}'}}\n  \
             onDemand: {{usdPerGpuHour: 4.0, query: 'sum(no_such_price_metric)'}}\nslo: {{latencySeconds: 2}}\n",
            pr("reserved"),
            pr("spot")
        ),
    )
    .expect("policy");
    let prices = price_source_for(&policy, None, None, Some(client.clone()));
    let now = now_unix();
    let pr = prices.prices(now).await;
    assert_eq!(pr.prices.gpu_hour, [1.0, 1.23, 4.0], "{pr:?}");
    assert!(matches!(pr.gpu_origin[Class::Spot as usize], PriceOrigin::Query { .. }), "{pr:?}");
    let notes = pr.notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let age: f64 = notes[0]
        .strip_prefix("reserved GPU-hour price: query result is ")
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!((60.0..60.0 + 60.0).contains(&age), "the stored sample's age, not the evaluation time: {age}");
    assert!(notes[0].ends_with("s old (maxAgeSeconds 30); using the CostPolicy's $1.0000/GPU-hour"), "{notes:?}");
    assert_eq!(notes[1], "onDemand GPU-hour price: query returned no data; using the CostPolicy's $4.0000/GPU-hour");
    // Older than maxAgeSeconds (default 900) counts as failed too.
    let late = prices.prices(now + 2000.0).await;
    assert_eq!(late.prices.gpu_hour[Class::Spot as usize], 1.5);
    assert!(
        late.notes().iter().any(|n| n.starts_with("spot GPU-hour price: query result is") && n.contains("old")),
        "{late:?}"
    );

    // Outage: Prometheus dies. The source says unavailable, how old its last good reading is, and
    // keeps the last values with their original sample times so the planner sees them age.
    let last_good = llama.read(now_unix()).await;
    assert_eq!(last_good.availability, Availability::Available);
    prom.stop();
    let later = now_unix() + 1.0;
    let down = llama.read(later).await;
    match &down.availability {
        Availability::Unavailable { error, last_good_at } => {
            assert!(error.is_unreachable(), "{error:?}");
            assert_eq!(*last_good_at, Some(last_good.read_at));
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    let age = down.last_good_age().expect("age");
    assert!((age - (later - last_good.read_at)).abs() < 1e-9 && age >= 1.0, "{age}");
    let summary = down.summary();
    let url = format!("Prometheus {} unreachable: connection refused; set spec.metrics.prometheusUrl", prom.url);
    assert!(summary.starts_with(&url) && summary.ends_with("s ago"), "{summary}");
    assert!(!summary.contains("query"), "one line a person reads, not the PromQL: {summary}");
    assert_eq!(down.signals.request_rate, last_good.signals.request_rate, "last value kept with its own time");
    // Past the pool's maxAgeSeconds every value the planner gets is visibly stale by its own time.
    let max_age = 120.0;
    let much_later = llama.read(later + max_age + 1.0).await;
    let s = &much_later.signals;
    for v in [s.request_rate, s.mean_input_tokens, s.running, s.latency_s, s.gpu_utilization].into_iter().flatten() {
        assert!(later + max_age + 1.0 - v.at > max_age, "{v:?} should be stale");
    }
    let down_prices = prices.prices(now_unix()).await;
    assert_eq!(down_prices.prices.gpu_hour, [1.0, 1.5, 4.0]);
    assert!(down_prices.notes()[0].contains(&url), "{:?}", down_prices.notes());

    // And the planner, fed exactly that reading, holds: nothing scales down, and it says why.
    planner_holds_on(&much_later.signals, &down_prices.prices, later + max_age + 1.0);
}

/// The sample pool under its sample policy, planned on `load` at `now`, keeps every running replica and
/// reports stale signals.
fn planner_holds_on(load: &hybridscale::planner::LoadSignals, prices: &hybridscale::planner::Prices, now: f64) {
    use hybridscale::api::{CostPolicy, InferencePool};
    use hybridscale::planner::{self, ClassObservation, Memory, PoolConfig, Snapshot, Spend, TrafficWeights};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let policy: CostPolicy =
        hybridscale::input::load_yaml_documents(&root.join("costpolicy.yaml")).expect("policy").remove(0);
    let pool: InferencePool =
        hybridscale::input::load_yaml_documents(&root.join("inferencepool.yaml")).expect("pool").remove(0);
    let config = PoolConfig::from_resources(&policy, &pool).expect("config");
    let running = [2, 3, 1];
    let snapshot = Snapshot {
        load: load.clone(),
        prices: prices.clone(),
        classes: running.map(|n| ClassObservation { desired: n, ready: n, interrupted: 0 }),
        traffic: TrafficWeights::default(),
        spend: Spend::default(),
    };
    let plan = planner::plan(&config, &snapshot, &Memory::default(), now);
    assert!(plan.signals_stale, "{plan:?}");
    for c in Class::ALL {
        assert!(plan.replicas.get(c) >= running[c as usize], "{c} scaled down on stale signals: {plan:?}");
    }
}

/// History for the forecast from a range query over backfilled data (promtool), while the instant
/// value is unknown because nothing recent exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_from_a_backfilled_range() {
    let (bin, promtool) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = dir.path().join("tsdb");
    let now = now_unix().floor();
    let start = now - 7200.0;
    let end = now - 1800.0;
    // Two pods: p0 at 5 rps for the first hour then 20 rps; p1 at 1 rps throughout.
    let mut om = String::from("# HELP vllm:request_success Requests.\n# TYPE vllm:request_success counter\n");
    for (pod, rate) in [("p0", None), ("p1", Some(1.0))] {
        let mut total = 0.0;
        let mut t = start;
        while t < end {
            total += 15.0 * rate.unwrap_or(if t < start + 3600.0 { 5.0 } else { 20.0 });
            om.push_str(&format!(
                "vllm:request_success_total{{model_name=\"hist\",namespace=\"ml\",pod=\"{pod}\"}} {total} {t}\n"
            ));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("history.om");
    std::fs::write(&file, om).expect("write openmetrics");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));

    let prom = Prom::start(&bin, dir.path(), &tsdb, &[], None).await;
    // Two hours at one point a minute.
    let history_source = || {
        PrometheusLoadSource::for_pool(
            prom.client(),
            &pool("hist", ""),
            0.99,
            "1m",
            Some(HistoryWindow { lookback_s: 7200.0, step_s: 60.0 }),
        )
        .expect("source")
    };
    let source = history_source();
    let r = source.read(now).await;
    assert_eq!(r.availability, Availability::Available);
    assert_eq!(r.signals.request_rate, None, "no recent data: unknown, not zero");
    let h = &r.signals.history;
    assert!(h.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");
    let mean = |from: f64, to: f64| {
        let v: Vec<f64> = h.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, v)| *v).collect();
        assert!(v.len() > 10, "{} points in [{from}, {to}]: {h:?}", v.len());
        v.iter().sum::<f64>() / v.len() as f64
    };
    let first = mean(start + 300.0, start + 3300.0);
    let second = mean(start + 3900.0, end - 300.0);
    assert!((first - 6.0).abs() < 0.1, "first hour {first}");
    assert!((second - 21.0).abs() < 0.2, "second hour {second}");
    assert!(h.iter().all(|(t, _)| *t <= end + 120.0), "nothing invented after the data ends");

    // Ten minutes later the same source asks only for the last minutes again and keeps the rest: its
    // history is what a fresh source reading the whole window sees.
    let later = source.read(now + 600.0).await;
    let whole = history_source().read(now + 600.0).await;
    let times = |h: &[(f64, f64)]| h.iter().map(|(t, _)| *t).collect::<Vec<_>>();
    assert_eq!(times(&later.signals.history), times(&whole.signals.history));
    for ((_, a), (_, b)) in later.signals.history.iter().zip(&whole.signals.history) {
        assert!((a - b).abs() < 1e-9, "{a} against {b}");
    }
    assert!(later.signals.history.first().is_some_and(|(t, _)| *t >= now + 600.0 - 7200.0));
}

/// An https Prometheus whose certificate is signed by a private CA: trusted with the CA bundle,
/// refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_custom_ca() {
    let (bin, _) = binaries();
    let openssl = find_binary("openssl", "openssl");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new(&openssl).args(args).current_dir(d).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(d.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=hybridscale test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let web = d.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            d.join("server.crt").display(),
            d.join("server.key").display()
        ),
    )
    .expect("web config");
    let ca = std::fs::read(d.join("ca.crt")).expect("ca");
    let token = d.join("token");
    std::fs::write(&token, "not-checked-by-prometheus\n").expect("token");
    let prom = Prom::start(&bin, d, &d.join("tsdb"), &[], Some((&web, &ca))).await;
    assert!(prom.url.starts_with("https://"));

    let mut cfg = PrometheusConfig::new(&prom.url);
    cfg.credentials = Credentials::from_files(Some(&token), Some(&d.join("ca.crt"))).expect("credentials");
    let trusted = PrometheusClient::new(&cfg).expect("client with CA");
    let points = trusted.instant("vector(7)").await.expect("query over TLS");
    assert_eq!(points.iter().map(|p| p.value).collect::<Vec<_>>(), vec![7.0]);

    let untrusted = PrometheusClient::new(&PrometheusConfig::new(&prom.url)).expect("client");
    let err = untrusted.instant("vector(7)").await.expect_err("unknown CA must be refused");
    assert!(err.is_unreachable(), "{err:?}");

    binary_talks_tls_to_the_kubernetes_api(d, &prom.url).await;
}

/// The shipped binary starts and its Kubernetes client completes TLS handshakes with one crypto provider
/// (aws-lc-rs for kube and reqwest alike; two providers make rustls panic at the first connection). The
/// "API server" is the https Prometheus above: the operator's discovery requests reach it over TLS and
/// come back 404, which the operator logs and survives.
async fn binary_talks_tls_to_the_kubernetes_api(dir: &Path, https_url: &str) {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tls\n  cluster:\n    server: {https_url}\n    \
             certificate-authority: {}\ncontexts:\n- name: tls\n  context: {{cluster: tls, user: tls}}\n\
             current-context: tls\nusers:\n- name: tls\n  user: {{token: not-checked}}\n",
            dir.join("ca.crt").display()
        ),
    )
    .expect("kubeconfig");
    let log = dir.join("controller.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["controller", "--metrics-addr", "127.0.0.1:0", "--log-format", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start hybridscale controller");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("404 page not found") || child.try_wait().ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = child.try_wait().ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited.is_none(), "the controller exited early ({exited:?}):\n{text}");
    assert!(!text.contains("panicked") && !text.contains("CryptoProvider"), "TLS set-up failed:\n{text}");
    assert!(text.contains("404 page not found"), "no answer over TLS from {https_url} within 30 s:\n{text}");
}

/// Tenant attribution against the real Prometheus: a gateway series by tenant (backfilled with
/// promtool) read back as shares by the pool's attribution query; a query of the wrong shape is an
/// error in the reading, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_shares_from_a_gateway_series() {
    use hybridscale::api::finops::AttributionSpec;
    use hybridscale::signals::{PrometheusTenantSource, TenantSource};
    let (bin, promtool) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = dir.path().join("tsdb");
    let now = now_unix().floor();
    let (start, end) = (now - 3000.0, now - 1200.0);
    let mut om = String::from("# TYPE gen_ai_client_token_usage_sum unknown\n");
    for (tenant, kind, rate) in
        [("search", "input", 600.0), ("search", "output", 150.0), ("chat", "input", 250.0), ("chat", "total", 1e6)]
    {
        let mut t = start;
        while t < end {
            let total = (t - start) * rate;
            let labels = format!("gen_ai_request_model=\"llama\",gen_ai_token_type=\"{kind}\",tenant=\"{tenant}\"");
            om.push_str(&format!("gen_ai_client_token_usage_sum{{{labels}}} {total} {t}\n"));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("tenants.om");
    std::fs::write(&file, om).expect("write openmetrics");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    let prom = Prom::start(&bin, dir.path(), &tsdb, &[], None).await;

    // The default query over an hour's window (the backfilled data ended 20 minutes ago).
    let default = AttributionSpec::default().effective_query("llama").replace("[5m]", "[1h]");
    let spec = AttributionSpec { query: Some(default), ..Default::default() };
    let reading = PrometheusTenantSource::new(prom.client(), &spec, "llama").shares().await;
    assert_eq!(reading.error, None);
    let names: Vec<&str> = reading.shares.iter().map(|s| s.tenant.as_str()).collect();
    assert_eq!(names, ["search", "chat"], "largest first; the 'total' token type is not counted");
    let ratio = reading.shares[0].rate / reading.shares[1].rate;
    assert!((ratio - 3.0).abs() < 0.05, "search has 750 of 1000 tokens per second: {ratio}");

    let bad = AttributionSpec { query: Some("gen_ai_client_token_usage_sum[5m]".into()), ..Default::default() };
    let reading = PrometheusTenantSource::new(prom.client(), &bad, "llama").shares().await;
    assert!(reading.shares.is_empty());
    assert!(reading.error.is_some());
}

/// Commitment advice from demand history in the real Prometheus (backfilled with promtool): the
/// pool's own load queries read over the window, replayed at every commitment size, recommend what the
/// simulator's reservation replay recommends for the same steady demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commitment_advice_from_prometheus_history() {
    use hybridscale::controller::advice;
    use hybridscale::sim::{SpotMarket, Trace, policy, reservation};
    let (bin, promtool) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = dir.path().join("tsdb");
    let (cost_policy, pool) =
        policy::parse(Path::new(policy::DEFAULT_POLICY_NAME), policy::DEFAULT_POLICY).expect("default policy");
    let model = pool.spec.model.clone();
    let now = now_unix().floor();
    let (start, end) = (now - 6.0 * 3600.0, now - 1200.0);
    let mut om = String::new();
    for (name, per_s) in
        [("vllm:request_success", 10.0), ("vllm:prompt_tokens", 10_000.0), ("vllm:generation_tokens", 2000.0)]
    {
        om.push_str(&format!("# TYPE {name} counter\n"));
        let mut t = start;
        while t < end {
            om.push_str(&format!("{name}_total{{model_name=\"{model}\"}} {} {t}\n", (t - start) * per_s));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("demand.om");
    std::fs::write(&file, om).expect("write openmetrics");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    let prom = Prom::start(&bin, dir.path(), &tsdb, &[], None).await;

    let (got, trace) = advice::advise(&prom.client(), &cost_policy, &pool, now, 0.25, 300.0).await.expect("advice");
    assert!(trace.len() >= 60, "about six hours at 5 minutes: {}", trace.len());
    let steady = trace.arrivals.iter().filter(|a| (**a - 3000.0).abs() < 30.0).count();
    assert!(steady >= trace.len() - 2, "10 rps read back: {:?}", trace.arrivals);
    assert!(trace.mean_input.iter().all(|m| (m - 1000.0).abs() < 10.0), "{:?}", trace.mean_input);

    // The simulator's replay of the same demand, stated directly.
    let n = trace.len();
    let flat = Trace {
        name: "flat".into(),
        step_s: 300.0,
        arrivals: vec![3000.0; n],
        mean_input: vec![1000.0; n],
        mean_output: vec![200.0; n],
    };
    let world = hybridscale::sim::Scenario::from_resources(Path::new("p"), &cost_policy, &pool).unwrap().spec.world;
    let market = SpotMarket::Poisson { per_replica_hour: advice::SPOT_INTERRUPTIONS_PER_HOUR };
    let want = reservation::recommend(Path::new("p"), &cost_policy, &pool, &world, &flat, &market, advice::SEED, None)
        .expect("replay");
    assert_eq!(got.recommended_replicas, want.recommended, "{got:?} against {}", want.to_text());
    assert_eq!(got.current_replicas, want.current);
    assert!(got.recommended_gpus == got.recommended_replicas * pool.spec.gpus_per_replica);
    let prices = &cost_policy.spec.gpu_prices;
    let ratio = prices.reserved.usd_per_gpu_hour / prices.on_demand.usd_per_gpu_hour;
    assert!((got.break_even_utilization - ratio).abs() < 1e-9);

    // No history: a clear error, not a panic or an invented recommendation.
    let err = advice::advise(&prom.client(), &cost_policy, &pool, start - 86_400.0, 0.25, 300.0).await.unwrap_err();
    assert!(err.contains("no request-rate history"), "{err}");

    // The operator's CostPolicy reconcile on the sandbox, reading the same Prometheus: its status shows
    // the commitment the simulator's replay recommends.
    let shown = policy_status_advice(&prom.url, &cost_policy, &pool).await;
    assert_eq!(shown.recommended_replicas, want.recommended, "{shown:?} against {}", want.to_text());
    assert_eq!(shown.recommended_gpus, want.recommended * pool.spec.gpus_per_replica);
    assert!(!shown.reason.starts_with(advice::NO_ADVICE), "{shown:?}");
}

/// Create the policy and its pool on a fresh sandbox, reconcile the CostPolicy once with `prometheus_url`
/// as the operator's Prometheus, and return the pool's entry of `status.reservationAdvice`.
async fn policy_status_advice(
    prometheus_url: &str,
    cost_policy: &hybridscale::api::CostPolicy,
    pool: &hybridscale::api::InferencePool,
) -> hybridscale::api::finops::ReservationAdvice {
    use hybridscale::api::{CostPolicy, InferencePool};
    use hybridscale::controller::{Context, Options, context::system_clock, policy};
    use hybridscale::sandbox::{Sandbox, SandboxOptions};
    use kube::api::{Api, PostParams};
    hybridscale::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SandboxOptions { kubeconfig_path: Some(dir.path().join("kubeconfig")), ..SandboxOptions::default() };
    let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
    let client = sandbox.client().expect("client");
    hybridscale::demo::world::install_crds(&client, "test").await.expect("CRDs");
    let ns = cost_policy.metadata.namespace.clone().unwrap_or_default();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
    namespaces.create(&PostParams::default(), &namespace).await.expect("namespace");
    let mut pool = pool.clone();
    pool.spec.metrics.prometheus_url = None;
    let strip = |m: &mut kube::core::ObjectMeta| {
        m.resource_version = None;
        m.uid = None;
    };
    strip(&mut pool.metadata);
    let mut cost_policy = cost_policy.clone();
    strip(&mut cost_policy.metadata);
    Api::<InferencePool>::namespaced(client.clone(), &ns).create(&PostParams::default(), &pool).await.expect("pool");
    let policies = Api::<CostPolicy>::namespaced(client.clone(), &ns);
    let created = policies.create(&PostParams::default(), &cost_policy).await.expect("policy");
    let options = Options {
        prometheus_url: Some(prometheus_url.to_string()),
        prometheus_token: None,
        price_file: None,
        namespace: None,
        identity: "t".into(),
    };
    let metrics = std::sync::Arc::new(hybridscale::telemetry::Metrics::new());
    let ctx = std::sync::Arc::new(Context::new(client.clone(), metrics, options, system_clock()));
    policy::reconcile(std::sync::Arc::new(created), ctx).await.expect("policy reconcile");
    let name = cost_policy.metadata.name.clone().unwrap_or_default();
    let status = policies.get(&name).await.expect("policy").status.expect("status");
    let entry = status.reservation_advice.into_iter().find(|a| Some(&a.pool) == pool.metadata.name.as_ref());
    entry.expect("an advice entry for the pool")
}

/// `hybridscale recommend` on a pool's history in the real Prometheus, and `hybridscale simulate
/// --recommend-reservation` on the history it saved: the same commitment (a pool sized by requests per
/// second, so the simulator's drawn token sizes do not matter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommend_and_simulate_agree_on_the_same_history() {
    use hybridscale::sim::policy;
    let (bin, promtool) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = dir.path().join("tsdb");
    let text = policy::DEFAULT_POLICY
        .lines()
        .filter(|l| !l.contains("promptTokensPerSecond") && !l.contains("outputTokensPerSecond"))
        .collect::<Vec<_>>()
        .join("\n");
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, &text).expect("policy");
    let (_, pool) = policy::parse(&policy_file, &text).expect("policy parses");
    let now = now_unix().floor();
    let (start, end) = (now - 6.0 * 3600.0, now - 1200.0);
    let mut om = String::from("# TYPE vllm:request_success counter\n");
    let mut t = start;
    while t < end {
        // 12 rps for the first three hours, 4 rps after.
        let total = if t < start + 10_800.0 { (t - start) * 12.0 } else { 129_600.0 + (t - start - 10_800.0) * 4.0 };
        om.push_str(&format!("vllm:request_success_total{{model_name=\"{}\"}} {total} {t}\n", pool.spec.model));
        t += 15.0;
    }
    om.push_str("# EOF\n");
    let file = dir.path().join("demand.om");
    std::fs::write(&file, om).expect("write openmetrics");
    let out =
        Command::new(&promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&file).arg(&tsdb).output();
    assert!(out.expect("promtool").status.success());
    let prom = Prom::start(&bin, dir.path(), &tsdb, &[], None).await;

    let hs = env!("CARGO_BIN_EXE_hybridscale");
    let trace = dir.path().join("history.csv");
    let out = Command::new(hs)
        .args(["recommend", "--days", "0.25", "--step", "300", "--format", "json"])
        .arg("--policy")
        .arg(&policy_file)
        .args(["--prometheus-url", &prom.url])
        .arg("--save-trace")
        .arg(&trace)
        .output()
        .expect("recommend");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let advice: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let out = Command::new(hs)
        .args([
            "simulate",
            "--trace-format",
            "rate-csv",
            "--step",
            "300",
            "--recommend-reservation",
            "--format",
            "json",
        ])
        .arg("--policy")
        .arg(&policy_file)
        .arg("--trace")
        .arg(&trace)
        .output()
        .expect("simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sim: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        advice["recommendedReplicas"], sim["reservation"]["recommended"],
        "recommend: {advice}\nsimulate: {}",
        sim["reservation"]
    );
    assert!(advice["recommendedReplicas"].as_u64().is_some_and(|n| n > 0), "{advice}");
}
