//! The behaviour of simulated vLLM replicas: a fluid queue per pod whose counters integrate the
//! offered load exactly over time, and gauges derived from it. Deterministic: the same script gives
//! the same metrics.

use std::collections::BTreeMap;

/// Upper bounds of vLLM's `vllm:e2e_request_latency_seconds` histogram buckets (+Inf is implied).
pub const LATENCY_BUCKETS: [f64; 21] = [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
];

/// Offered load on one model, spread evenly over its pods.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// Requests per second arriving.
    pub rps: f64,
    /// Prompt tokens per request.
    pub mean_input_tokens: f64,
    /// Generated tokens per request.
    pub mean_output_tokens: f64,
}

impl Load {
    /// `rps` requests per second of 512 prompt and 128 generated tokens.
    pub fn rps(rps: f64) -> Self {
        Load { rps, mean_input_tokens: 512.0, mean_output_tokens: 128.0 }
    }
}

impl Default for Load {
    fn default() -> Self {
        Load::rps(0.0)
    }
}

/// How one replica of a model performs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    /// Requests per second one pod completes at most.
    pub capacity_rps: f64,
    /// Mean end-to-end latency of a request on an idle pod, seconds.
    pub base_latency_s: f64,
    /// GPUs per pod (one DCGM series each).
    pub gpus_per_pod: u32,
    /// When set, every request's mean latency is this, whatever the load (for tests that need an
    /// exact quantile).
    pub fixed_latency_s: Option<f64>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile { capacity_rps: 5.0, base_latency_s: 1.0, gpus_per_pod: 1, fixed_latency_s: None }
    }
}

/// A load that changes over time: step `i` holds from `steps[i].0` seconds after the script was set
/// until the next step; before the first step the first step's load holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// (seconds after start, load), in increasing time.
    pub steps: Vec<(f64, Load)>,
    /// Restart from the beginning every this many seconds.
    pub repeat_every_s: Option<f64>,
}

impl Script {
    /// Load at `t` seconds after the start, and when it next changes (seconds after the start).
    fn at(&self, t: f64) -> (Load, f64) {
        let Some(first) = self.steps.first() else {
            return (Load::default(), f64::INFINITY);
        };
        let (base, local) = match self.repeat_every_s {
            Some(p) if p > 0.0 => {
                let cycle = (t / p).floor();
                (cycle * p, t - cycle * p)
            }
            _ => (0.0, t),
        };
        let idx = self.steps.iter().rposition(|(s, _)| *s <= local);
        let load = idx.map(|i| self.steps[i].1).unwrap_or(first.1);
        let next_local = match idx {
            Some(i) => self.steps.get(i + 1).map(|s| s.0),
            None => Some(first.0),
        };
        let next = match (next_local, self.repeat_every_s) {
            (Some(n), _) => base + n,
            (None, Some(p)) if p > 0.0 => base + p,
            (None, _) => f64::INFINITY,
        };
        // Guard against a step at the same instant (never loop on a zero-length segment).
        (load, if next > t { next } else { t + 1e-9 })
    }
}

/// Where a model's load comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LoadPlan {
    Constant(Load),
    Script { started_at: f64, script: Script },
}

impl LoadPlan {
    fn at(&self, t: f64) -> (Load, f64) {
        match self {
            LoadPlan::Constant(l) => (*l, f64::INFINITY),
            LoadPlan::Script { started_at, script } => {
                let (l, next) = script.at(t - started_at);
                (l, next + started_at)
            }
        }
    }
}

/// Cumulative counters and queue of one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodState {
    /// Requests completed.
    pub success: f64,
    /// Prompt tokens processed.
    pub prompt_tokens: f64,
    /// Tokens generated.
    pub generation_tokens: f64,
    /// Sum of request latencies, seconds.
    pub latency_sum: f64,
    /// Cumulative counts per latency bucket (same order as [`LATENCY_BUCKETS`]).
    pub latency_buckets: [f64; 21],
    /// Requests queued.
    pub waiting: f64,
    /// Requests arriving per second now.
    pub arrival_rps: f64,
    /// Requests completing per second now.
    pub served_rps: f64,
    /// Mean latency of requests completing now, seconds.
    pub latency_s: f64,
}

/// One model in one namespace: its pods, their performance and their load.
#[derive(Clone, Debug)]
pub(crate) struct ModelState {
    pub profile: Profile,
    pub plan: LoadPlan,
    pub pods: BTreeMap<String, PodState>,
    /// Time (seconds on the exporter's clock) up to which the counters are integrated.
    pub until: f64,
}

/// Share of requests at most `x` seconds when latencies spread evenly over [0.5·mean, 1.5·mean].
fn latency_cdf(x: f64, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    ((x - 0.5 * mean) / mean).clamp(0.0, 1.0)
}

impl ModelState {
    pub fn new(now: f64) -> Self {
        ModelState {
            profile: Profile::default(),
            plan: LoadPlan::Constant(Load::default()),
            pods: BTreeMap::new(),
            until: now,
        }
    }

    fn mean_latency(&self, rho: f64, waiting: f64) -> f64 {
        if let Some(l) = self.profile.fixed_latency_s {
            return l;
        }
        // M/M/1-like growth as a pod fills, plus the time to work off the queue ahead.
        let cap = self.profile.capacity_rps.max(1e-9);
        self.profile.base_latency_s / (1.0 - rho.min(0.95)) + waiting / cap
    }

    /// Integrate every pod from `self.until` to `now`, splitting at the script's steps.
    pub fn advance(&mut self, now: f64) {
        while self.until < now {
            let (load, next) = self.plan.at(self.until);
            let end = next.min(now);
            self.integrate(load, end - self.until);
            self.until = end;
        }
        // Gauges describe the load in force now, even right after a change.
        let (load, _) = self.plan.at(now);
        self.integrate(load, 0.0);
    }

    fn integrate(&mut self, load: Load, dt: f64) {
        let n = self.pods.len();
        if n == 0 {
            return;
        }
        let cap = self.profile.capacity_rps.max(0.0);
        let arrival = load.rps.max(0.0) / n as f64;
        let profile_rho = |served: f64| if cap > 0.0 { served / cap } else { 1.0 };
        let pods = std::mem::take(&mut self.pods);
        let mut out = BTreeMap::new();
        for (name, mut pod) in pods {
            // Fluid queue: arrivals beyond capacity wait; a queue drains at the spare capacity.
            let (served, waiting_end) = if arrival >= cap {
                (cap * dt, pod.waiting + (arrival - cap) * dt)
            } else if pod.waiting > 0.0 {
                let drain = cap - arrival;
                let empty_after = pod.waiting / drain;
                if dt <= empty_after {
                    (cap * dt, pod.waiting - drain * dt)
                } else {
                    (cap * empty_after + arrival * (dt - empty_after), 0.0)
                }
            } else {
                (arrival * dt, 0.0)
            };
            let served_rps = if waiting_end > 0.0 || arrival >= cap { cap } else { arrival };
            let latency = self.mean_latency(profile_rho(served_rps), pod.waiting.max(waiting_end));
            pod.success += served;
            pod.prompt_tokens += served * load.mean_input_tokens;
            pod.generation_tokens += served * load.mean_output_tokens;
            pod.latency_sum += served * latency;
            for (count, le) in pod.latency_buckets.iter_mut().zip(LATENCY_BUCKETS) {
                *count += served * latency_cdf(le, latency);
            }
            pod.waiting = waiting_end;
            pod.arrival_rps = arrival;
            pod.served_rps = served_rps;
            pod.latency_s = latency;
            out.insert(name, pod);
        }
        self.pods = out;
    }

    /// Utilisation of a pod's capacity now, 0..1.
    pub fn utilization(&self, pod: &PodState) -> f64 {
        if self.profile.capacity_rps <= 0.0 {
            1.0
        } else {
            (pod.served_rps / self.profile.capacity_rps).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(pods: &[&str]) -> ModelState {
        let mut m = ModelState::new(0.0);
        for p in pods {
            m.pods.insert(p.to_string(), PodState::default());
        }
        m
    }

    #[test]
    fn counters_integrate_the_load_over_pods() {
        let mut m = model(&["a", "b"]);
        m.plan = LoadPlan::Constant(Load { rps: 4.0, mean_input_tokens: 100.0, mean_output_tokens: 10.0 });
        m.advance(10.0);
        let a = &m.pods["a"];
        assert!((a.success - 20.0).abs() < 1e-9, "{a:?}");
        assert!((a.prompt_tokens - 2000.0).abs() < 1e-6);
        assert_eq!(a.waiting, 0.0);
        assert!((m.utilization(a) - 0.4).abs() < 1e-9);
        // Cumulative buckets never decrease along `le` and end at the count.
        assert!(a.latency_buckets.windows(2).all(|w| w[0] <= w[1]));
        assert!((a.latency_buckets[20] - a.success).abs() < 1e-9);
    }

    #[test]
    fn overload_queues_then_drains() {
        let mut m = model(&["a"]);
        let script = Script { steps: vec![(0.0, Load::rps(8.0)), (10.0, Load::rps(2.0))], repeat_every_s: None };
        m.plan = LoadPlan::Script { started_at: 0.0, script };
        m.advance(10.0);
        // 8 offered, 5 served per second: 30 queued after 10 s.
        assert!((m.pods["a"].waiting - 30.0).abs() < 1e-9, "{:?}", m.pods["a"]);
        assert!((m.pods["a"].success - 50.0).abs() < 1e-9);
        // Drains at 3/s: empty after 10 more seconds, then serves the offered 2/s.
        m.advance(25.0);
        let a = &m.pods["a"];
        assert_eq!(a.waiting, 0.0);
        assert!((a.success - (50.0 + 50.0 + 10.0)).abs() < 1e-9, "{a:?}");
        assert_eq!(a.served_rps, 2.0);
    }

    #[test]
    fn scripts_repeat_and_split_exactly() {
        let s = Script { steps: vec![(0.0, Load::rps(1.0)), (5.0, Load::rps(3.0))], repeat_every_s: Some(10.0) };
        assert_eq!(s.at(2.0), (Load::rps(1.0), 5.0));
        assert_eq!(s.at(7.0), (Load::rps(3.0), 10.0));
        assert_eq!(s.at(12.0), (Load::rps(1.0), 15.0));
        let mut m = model(&["a"]);
        m.plan = LoadPlan::Script { started_at: 0.0, script: s };
        m.advance(20.0);
        assert!((m.pods["a"].success - 40.0).abs() < 1e-9);
    }
}
