//! The operator under test: either the real binary (`hybridscale controller` with KUBECONFIG pointing
//! at the sandbox), stopped with SIGTERM by PID, or in-process through `controller::run_with_client`
//! with a shutdown trigger (for scenarios that need their own client, e.g. to share a fault-injected
//! server with the harness).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hybridscale::controller::leader::LeaderOptions;
use hybridscale::controller::{Options, RunOptions, context};
use tokio::sync::watch;

use super::env::Env;

/// Leader-election flags for an instance.
#[derive(Clone, Debug)]
pub struct Lease {
    pub identity: String,
    pub seconds: u64,
}

/// A running operator instance.
pub enum Operator {
    Binary { child: Option<Child>, log: PathBuf },
    InProcess { stop: watch::Sender<bool>, task: Option<tokio::task::JoinHandle<()>> },
}

impl Operator {
    /// Start the real binary against the env's sandbox and Prometheus.
    pub fn binary(env: &Env, name: &str, lease: Option<&Lease>) -> Operator {
        let log = env.dir.path().join(format!("operator-{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hybridscale"));
        cmd.arg("controller")
            .arg("--prometheus-url")
            .arg(env.prom.url())
            .arg("--namespace")
            .arg(&env.ns)
            .arg("--metrics-addr")
            .arg("127.0.0.1:0")
            .env("KUBECONFIG", env.kubeconfig())
            .env("RUST_LOG", "info,hybridscale=debug")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("operator log"))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).expect("operator log")));
        if let Some(l) = lease {
            cmd.args(["--leader-elect", "--lease-namespace", &env.ns, "--identity", &l.identity])
                .arg("--lease-seconds")
                .arg(l.seconds.to_string());
        }
        let child = cmd.spawn().expect("spawn hybridscale controller");
        env.logs.lock().unwrap_or_else(|e| e.into_inner()).push(log.clone());
        Operator::Binary { child: Some(child), log }
    }

    /// Run the operator in this process with `client`.
    pub fn in_process(env: &Env, client: kube::Client, identity: &str, lease: Option<&Lease>) -> Operator {
        let opts = RunOptions {
            options: Options {
                prometheus_url: Some(env.prom.url()),
                prometheus_token: None,
                price_file: None,
                namespace: Some(env.ns.clone()),
                identity: identity.to_string(),
            },
            metrics_addr: "127.0.0.1:0".parse().expect("addr"),
            leader_election: lease.map(|l| LeaderOptions {
                lease_name: "hybridscale-leader".into(),
                namespace: env.ns.clone(),
                identity: l.identity.clone(),
                lease_seconds: l.seconds,
            }),
        };
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            if let Err(e) = hybridscale::controller::run_with_client(client, opts, context::system_clock(), rx).await {
                tracing::error!(error = %e, "operator stopped with an error");
            }
        });
        Operator::InProcess { stop, task: Some(task) }
    }

    /// The operator's log so far (binary only).
    pub fn log(&self) -> String {
        match self {
            Operator::Binary { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
            Operator::InProcess { .. } => String::new(),
        }
    }

    /// Where the binary serves /metrics, /healthz and /readyz (from its start-up log line).
    pub fn metrics_addr(&self) -> Option<String> {
        self.log().lines().find(|l| l.contains("serving /metrics")).and_then(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["addr"].as_str().map(String::from)
        })
    }

    /// Clean shutdown: SIGTERM (binary) or the shutdown trigger, then wait (bounded).
    pub async fn stop(&mut self) {
        match self {
            Operator::Binary { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
                    for _ in 0..100 {
                        if matches!(c.try_wait(), Ok(Some(_))) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("operator did not stop within 10 s of SIGTERM");
                }
            }
            Operator::InProcess { stop, task } => {
                let _ = stop.send(true);
                if let Some(t) = task.take()
                    && tokio::time::timeout(Duration::from_secs(10), t).await.is_err()
                {
                    panic!("in-process operator did not stop within 10 s of shutdown");
                }
            }
        }
    }

    /// Kill without a clean shutdown (a crash): the binary by SIGKILL, the in-process task by abort.
    pub async fn crash(&mut self) {
        match self {
            Operator::Binary { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            Operator::InProcess { task, .. } => {
                if let Some(t) = task.take() {
                    t.abort();
                    let _ = t.await;
                }
            }
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        match self {
            Operator::Binary { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            Operator::InProcess { task, .. } => {
                if let Some(t) = task.take() {
                    t.abort();
                }
            }
        }
    }
}
