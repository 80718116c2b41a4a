//! The real Prometheus server (Debian package `prometheus`), one per e2e scenario or demo on a free
//! loopback port with its own generated configuration and TSDB, scraping the synthetic exporter every
//! second. It can be killed and restarted on the same port and TSDB, which is what an outage looks like to
//! the operator.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prometheus binary on PATH, or a one-line message saying how to install it.
pub fn binary() -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("prometheus")).find(|p| p.is_file()))
        .ok_or_else(|| {
            "prometheus not found on PATH: install it (`apt-get install prometheus`, or `make tools`)".to_string()
        })
}

/// A free loopback port (it can be taken before use; callers retry).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// A running (or stopped) Prometheus; killed by PID when dropped.
pub struct Prom {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Prom {
    /// Start Prometheus in `dir` scraping `target` (host:port) every second, and the operator once
    /// [`Prom::scrape_operator`] names it (file service discovery: its address is known only later).
    pub async fn start(bin: &Path, dir: &Path, target: &str) -> Result<Prom, String> {
        let config = dir.join("prometheus.yml");
        let operator_targets = dir.join("operator-targets.json");
        std::fs::write(&operator_targets, "[]").map_err(|e| format!("{}: {e}", operator_targets.display()))?;
        // The shipped alert rules are evaluated too, where this checkout has them: e2e/dashboard.rs checks
        // they all evaluate cleanly on the operator's real series.
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus/hybridscale-rules.yaml");
        let rule_files = if rules.is_file() { format!("rule_files: ['{}']\n", rules.display()) } else { String::new() };
        let yaml = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: vllm\n    \
             scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n  - job_name: hybridscale\n    \
             scrape_interval: 1s\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
            operator_targets.display()
        );
        std::fs::write(&config, yaml).map_err(|e| format!("{}: {e}", config.display()))?;
        let mut p = Prom { bin: bin.to_path_buf(), dir: dir.to_path_buf(), port: 0, child: None, starts: 0 };
        for _ in 0..3 {
            p.port = free_port()?;
            if p.spawn().await? {
                return Ok(p);
            }
        }
        Err(format!("prometheus did not start: {}", p.log_tail()))
    }

    /// Scrape the operator's /metrics at `addr` (host:port) from now on (job `hybridscale`). The file
    /// is replaced by a rename, as file service discovery wants.
    pub fn scrape_operator(&self, addr: &str) {
        let tmp = self.dir.join("operator-targets.json.tmp");
        std::fs::write(&tmp, format!("[{{\"targets\": [\"{addr}\"]}}]")).expect("write operator targets");
        std::fs::rename(&tmp, self.dir.join("operator-targets.json")).expect("rename operator targets");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.join(format!("prometheus-{}.log", self.starts))
    }

    /// The end of the current log, for failure messages.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.log()).unwrap_or_default();
        s.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    async fn spawn(&mut self) -> Result<bool, String> {
        self.starts += 1;
        let log = std::fs::File::create(self.log()).map_err(|e| format!("{}: {e}", self.log().display()))?;
        let child = Command::new(&self.bin)
            .arg(format!("--config.file={}", self.dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", self.dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                break;
            }
            let ready = http.get(format!("{}/-/ready", self.url())).send().await;
            if ready.map(|r| r.status().is_success()).unwrap_or(false) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill();
        Ok(false)
    }

    /// Kill by PID and reap (an outage).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port and TSDB (a few tries: the port may linger briefly).
    pub async fn restart(&mut self) -> Result<(), String> {
        for _ in 0..5 {
            if self.spawn().await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!("prometheus did not restart on port {}: {}", self.port, self.log_tail()))
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        self.kill();
    }
}
