//! A real Prometheus holding known series: an OpenMetrics text is backfilled with
//! `promtool tsdb create-blocks-from openmetrics` into a fresh TSDB, and `prometheus` serves it on a free
//! loopback port (no scrape targets, retention long enough for any timestamp). Killed by PID on drop.
//! Shared by tests/shipped/report.rs and tests/shipped/dashboard.rs through `#[path]`.

#![allow(dead_code)]

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One series: its labels and `(unix seconds, value)` samples.
pub type SeriesData<'a> = (Vec<(&'a str, &'a str)>, Vec<(i64, f64)>);

/// OpenMetrics text built family by family (each family's samples contiguous, as the format wants).
#[derive(Default)]
pub struct OpenMetrics {
    text: String,
}

impl OpenMetrics {
    /// A family: `kind` is counter or gauge; each series is (labels, [(unix seconds, value)]). Counter
    /// samples get the `_total` suffix.
    pub fn family(&mut self, name: &str, kind: &str, series: &[SeriesData]) {
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        let sample = if kind == "counter" { format!("{name}_total") } else { name.to_string() };
        for (labels, points) in series {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            for (t, v) in points {
                let _ = writeln!(self.text, "{sample}{{{}}} {v} {t}", l.join(","));
            }
        }
    }

    pub fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }
}

fn binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("{name} not found on PATH: run `make test` (it installs the Debian package prometheus)")
        })
}

/// A running Prometheus over backfilled data.
pub struct Backfilled {
    child: Option<Child>,
    pub url: String,
    dir: Option<tempfile::TempDir>,
}

impl Backfilled {
    /// Backfill `openmetrics` and serve it.
    pub async fn start(openmetrics: &str) -> Backfilled {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("data.om");
        let tsdb = dir.path().join("tsdb");
        std::fs::write(&input, openmetrics).expect("write openmetrics");
        let out = Command::new(binary("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&tsdb)
            .output()
            .expect("run promtool");
        assert!(out.status.success(), "promtool backfill: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(dir.path().join("prometheus.yml"), "global:\n  scrape_interval: 1m\n").expect("config");
        for attempt in 0..3 {
            if let Some(mut b) = Self::spawn(dir.path(), &tsdb, attempt).await {
                b.dir = Some(dir);
                return b;
            }
        }
        panic!("prometheus did not start on the backfilled TSDB");
    }

    async fn spawn(dir: &Path, tsdb: &Path, attempt: u32) -> Option<Backfilled> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let log = std::fs::File::create(dir.join(format!("prometheus-{attempt}.log"))).expect("log");
        let child = Command::new(binary("prometheus"))
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut b = Backfilled { child: Some(child), url: format!("http://127.0.0.1:{port}"), dir: None };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("http");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = b.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                break;
            }
            if http.get(format!("{}/-/ready", b.url)).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
                return Some(b);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "prometheus: {}",
            std::fs::read_to_string(dir.join(format!("prometheus-{attempt}.log"))).unwrap_or_default()
        );
        None
    }

    /// An instant query at `at`: the JSON `data` of the answer, or the error text.
    pub async fn query(&self, promql: &str, at: i64) -> Result<serde_json::Value, String> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
        let query = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.url),
            &[("query", promql), ("time", at.to_string().as_str())],
        )
        .map_err(|e| e.to_string())?;
        let answer = http.get(query).send().await.map_err(|e| e.to_string())?;
        let text = answer.text().await.map_err(|e| e.to_string())?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"].clone())
    }
}

impl Drop for Backfilled {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        drop(self.dir.take());
    }
}
