//! Simulated cluster behaviour for the sandbox: the controllers a real cluster runs, as small async
//! loops that talk to the API server only through a [`kube::Client`] over HTTP, so they exercise the same
//! API (watch, status and binding subresources, patches) as the operator does.
//!
//! - Deployment and StatefulSet controllers ([`deployment`], [`statefulset`], their common part in
//!   `workload`): kube-runtime `Controller`s that create and delete pods to match `spec.replicas` and
//!   write the status counts.
//!   Deployments own their pods directly (no ReplicaSet objects).
//! - Scheduler ([`scheduler`]): binds pending pods to nodes through `pods/binding` (by patching
//!   `spec.nodeName` where the server has no binding subresource), honouring nodeSelector, required node
//!   affinity, taints (NoSchedule, NoExecute), cordons, scheduling gates, priority order and
//!   `nvidia.com/gpu` capacity; otherwise marks them `PodScheduled=False` / `Unschedulable` with the real
//!   message form and a `FailedScheduling` event.
//! - Kubelet ([`kubelet`]): a bound pod turns Running and Ready after the start-up (model load) delay;
//!   pods of deleted nodes, pods not tolerating a NoExecute taint, and terminating pods are removed.
//! - Karpenter ([`karpenter`]): NodePools launch nodes for unschedulable pods after the provisioning
//!   delay, within `spec.limits["nvidia.com/gpu"]`, and remove empty nodes and nodes over a lowered
//!   limit after the consolidation delay, draining through the eviction API (PodDisruptionBudgets hold).
//! - Cluster API ([`capi`]): MachineDeployments keep `spec.replicas` nodes and report status.
//! - Spot interruptions ([`spot`]): on request or at a seeded Poisson rate.
//!
//! Everything random (pod and node name suffixes, random interruptions) comes from ChaCha RNGs seeded
//! by [`ClusterOptions::seed`], one stream per workload, pool and loop; decisions iterate in name order.
//! Timing still depends on the host's scheduling, so the decisions, not their exact instants, are
//! reproducible.
//!
//! What is not simulated: CPU, memory and pod-count capacity (only GPUs), preemption, pod
//! (anti-)affinity and topology spread, ReplicaSets, NodeClaims and Machines (node pools create Nodes
//! directly; nodes in flight are only visible in the pool's status), node leases and heartbeats.

mod args;
mod cache;
pub mod capi;
pub mod deployment;
mod events;
pub mod karpenter;
pub mod kubelet;
mod launcher;
pub mod pods;
pub mod predicates;
pub mod scheduler;
pub mod sizing;
pub mod spot;
pub mod statefulset;
pub mod well_known;
mod workload;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use args::ClusterArgs;
pub use spot::interrupt_node;

/// Delays, rates and capacities of the simulated cluster. All durations are wall-clock; tests use
/// hundreds of milliseconds, [`ClusterOptions::default`] uses realistic values and
/// [`ClusterOptions::time_scaled`] shrinks them all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Seed of the RNG behind name suffixes and random spot interruptions.
    pub seed: u64,
    /// From binding to Ready (container start and model load). A pod annotation
    /// `sandbox.hybridscale.dev/startup-delay-ms` overrides it per pod.
    pub startup_delay: Duration,
    /// From a node pool deciding to launch a node to the Node registering Ready.
    pub provisioning_delay: Duration,
    /// How long a node stays empty (or a pool over its lowered limit) before nodes are removed.
    pub consolidation_delay: Duration,
    /// From a spot interruption notice to the node's termination (AWS gives two minutes).
    pub interruption_notice: Duration,
    /// Random spot interruptions per spot node per hour (0 disables them).
    pub spot_interruptions_per_node_hour: f64,
    /// GPUs per node of a pool that says nothing about it (see [`karpenter`] and [`capi`]).
    pub default_gpus_per_node: u64,
    /// GPUs per node for named pools (NodePool or MachineDeployment name), overriding everything else.
    pub pool_gpus_per_node: BTreeMap<String, u64>,
    /// Periodic re-check even without watch events, and the retry delay after an error.
    pub resync: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            seed: 0,
            startup_delay: Duration::from_secs(120),
            provisioning_delay: Duration::from_secs(90),
            consolidation_delay: Duration::from_secs(30),
            interruption_notice: Duration::from_secs(120),
            spot_interruptions_per_node_hour: 0.0,
            default_gpus_per_node: 1,
            pool_gpus_per_node: BTreeMap::new(),
            resync: Duration::from_secs(10),
        }
    }
}

impl ClusterOptions {
    /// Every delay multiplied by `factor` (and the interruption rate divided by it), so `0.01` runs
    /// a two-minute model load in 1.2 s with the same proportions. A factor that is not a positive
    /// number leaves the options as they are; others are clamped to 10^-6..10^6.
    pub fn time_scaled(mut self, factor: f64) -> Self {
        // Bounded so no delay overflows a Duration (10^6 turns two minutes into about four years).
        let f = if factor.is_finite() && factor > 0.0 { factor.clamp(1e-6, 1e6) } else { 1.0 };
        for d in [
            &mut self.startup_delay,
            &mut self.provisioning_delay,
            &mut self.consolidation_delay,
            &mut self.interruption_notice,
            &mut self.resync,
        ] {
            *d = d.mul_f64(f);
        }
        self.spot_interruptions_per_node_hour /= f;
        self
    }

    /// Delay before retrying after an error: the resync period, at least 50 ms.
    pub(crate) fn retry(&self) -> Duration {
        self.resync.max(Duration::from_millis(50))
    }
}

/// A step of the simulation failed; the loop logs it and retries after the resync period.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// An API call failed.
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// An object cannot be acted on as it is (bad selector, bad quantity...).
    #[error("{0}")]
    Invalid(String),
}

/// Wraps a kube error with what was being done.
pub(crate) fn api_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let action = action.into();
    move |source| ClusterError::Api { action, source }
}

/// `t + d`, saturating at a year ahead instead of overflowing `Instant` (delays come from options,
/// annotations and CLI flags, so any value must be safe).
pub(crate) fn later(t: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    t + d.min(YEAR)
}

/// Whether an API error is this HTTP status.
pub(crate) fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == code)
}

/// Whether an API error carries this `reason` (e.g. `AlreadyExists`, as opposed to another 409).
pub(crate) fn is_reason(err: &kube::Error, reason: &str) -> bool {
    matches!(err, kube::Error::Api(e) if e.reason == reason)
}

/// State shared by every loop: the client, the options and the seeded RNG.
pub(crate) struct Shared {
    pub client: kube::Client,
    pub opts: ClusterOptions,
    rngs: Mutex<HashMap<String, ChaCha8Rng>>,
    /// Object key → the status this simulation last wrote there.
    written: Mutex<HashMap<String, Value>>,
}

impl Shared {
    pub(crate) fn new(client: kube::Client, opts: ClusterOptions) -> Self {
        Shared { client, opts, rngs: Mutex::new(HashMap::new()), written: Mutex::new(HashMap::new()) }
    }

    /// Runs `f` with the seeded RNG of `stream` (one per workload, pool or loop, so what one draws
    /// does not depend on how the others interleave with it).
    pub(crate) fn with_rng<T>(&self, stream: &str, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        let mut rngs = self.rngs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seed = self.opts.seed;
        let rng = rngs.entry(stream.to_string()).or_insert_with(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(pods::fnv1a(stream.as_bytes()));
            rng
        });
        f(rng)
    }

    /// Whether `desired` should be written as the status of `key`: it differs from the `stored` status
    /// and from what this simulation last wrote there. The second check stops a write loop when the
    /// server prunes a field (a CRD schema without it), which would otherwise differ on every pass.
    pub(crate) fn status_needs_write(&self, key: &str, stored: &Value, desired: &Value) -> bool {
        if !status_differs(stored, desired) {
            return false;
        }
        let written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        written.get(key) != Some(desired)
    }

    /// Records a status write for [`Shared::status_needs_write`].
    pub(crate) fn status_written(&self, key: &str, desired: &Value) {
        let mut written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        written.insert(key.to_string(), desired.clone());
    }
}

/// Zero counts become null, so a merge patch removes them as the real controllers' `omitempty` does.
pub(crate) fn zero_counts_to_null(status: &mut Value) {
    if let Some(obj) = status.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if k != "observedGeneration" && v.as_u64() == Some(0) {
                *v = Value::Null;
            }
        }
    }
}

/// Whether merge-patching `desired` into `existing` would change anything (null = absent).
pub(crate) fn status_differs(existing: &Value, desired: &Value) -> bool {
    let Some(desired) = desired.as_object() else { return true };
    desired.iter().any(|(k, v)| existing.get(k).unwrap_or(&Value::Null) != v)
}

/// A serialisable status as JSON (null when absent or unserialisable).
pub(crate) fn to_json<T: serde::Serialize>(v: Option<&T>) -> Value {
    v.and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::Null)
}

/// The current time in the API's format (seconds precision, as `metav1.Time` serialises).
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Builds a conditions list from `(type, status, reason, message)`, keeping `lastTransitionTime` (and
/// `lastUpdateTime` when `update_time`) from `previous` where nothing changed, so an unchanged status
/// patches nothing.
pub(crate) fn conditions_with_times(previous: &Value, wanted: &[(&str, &str, &str, &str)], update_time: bool) -> Value {
    let now = now_rfc3339();
    let list = wanted
        .iter()
        .map(|(type_, status, reason, message)| {
            let prev = previous.as_array().and_then(|cs| cs.iter().find(|c| c["type"] == *type_));
            let same_status = prev.is_some_and(|p| p["status"] == *status);
            let same_all = same_status && prev.is_some_and(|p| p["reason"] == *reason && p["message"] == *message);
            let transition = match prev {
                Some(p) if same_status => p["lastTransitionTime"].clone(),
                _ => Value::String(now.clone()),
            };
            let mut c = serde_json::json!({
                "type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": transition,
            });
            if update_time {
                c["lastUpdateTime"] = match prev {
                    Some(p) if same_all => p["lastUpdateTime"].clone(),
                    _ => Value::String(now.clone()),
                };
            }
            c
        })
        .collect();
    Value::Array(list)
}

/// A running simulation; dropping it stops every loop.
pub struct ClusterHandle {
    stop: watch::Sender<bool>,
    /// Controllers and loops: they stop when `stop` says so.
    loops: JoinSet<()>,
    /// Reflectors feeding the caches: they run until aborted.
    reflectors: JoinSet<()>,
}

impl ClusterHandle {
    /// Stops every loop and waits for them to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // Loops stop between passes; one stuck in a slow API call is aborted after a grace period.
        let grace = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = self.loops.join_next() => if next.is_none() { break },
                () = &mut grace => { self.loops.shutdown().await; break }
            }
        }
        self.reflectors.shutdown().await;
    }
}

/// Starts the simulated cluster's controllers against the API server behind `client` and returns at
/// once. Must be called inside a tokio runtime.
pub fn spawn_cluster(client: kube::Client, opts: ClusterOptions) -> ClusterHandle {
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared::new(client, opts));
    let mut reflectors = JoinSet::new();
    let cache = cache::Cache::start(&shared.client, &mut reflectors);
    let until_stop = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut loops = JoinSet::new();
    loops.spawn(deployment::run(shared.clone(), until_stop()));
    loops.spawn(statefulset::run(shared.clone(), until_stop()));
    let retry = shared.opts.retry();
    let (s, c) = (&shared, &cache);
    loops.spawn(cache::drive(scheduler::Scheduler::new(s.clone(), c.clone()), c.clone(), retry, until_stop()));
    loops.spawn(cache::drive(kubelet::Kubelet::new(s.clone(), c.clone()), c.clone(), retry, until_stop()));
    loops.spawn(cache::drive(karpenter::Karpenter::new(s.clone(), c.clone()), c.clone(), retry, until_stop()));
    loops.spawn(cache::drive(capi::MachineDeployments::new(s.clone(), c.clone()), c.clone(), retry, until_stop()));
    loops.spawn(cache::drive(spot::Spot::new(s.clone(), c.clone()), c.clone(), retry, until_stop()));
    ClusterHandle { stop, loops, reflectors }
}

/// Runs the simulated cluster until `shutdown` completes (for `hybridscale sandbox` and tests that own
/// the runtime).
pub async fn run_cluster(client: kube::Client, opts: ClusterOptions, shutdown: impl Future<Output = ()>) {
    let handle = spawn_cluster(client, opts);
    shutdown.await;
    handle.shutdown().await;
}

/// Starts a sandbox API server and the simulated cluster against it (through a kube::Client over HTTP,
/// like any other client). Stop with [`ClusterHandle::shutdown`] then `Sandbox::stop`.
pub async fn start_sandbox_with_cluster(
    sandbox: crate::SandboxOptions,
    cluster: ClusterOptions,
) -> Result<(crate::Sandbox, ClusterHandle), crate::SandboxError> {
    let sandbox = crate::Sandbox::start(sandbox).await?;
    let client = sandbox.client()?;
    Ok((sandbox, spawn_cluster(client, cluster)))
}
