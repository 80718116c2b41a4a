//! Deterministic fault injection: per verb and resource error rates (409, 429, 500, timeouts), added
//! latency, and watch streams cut mid-flight. One seeded ChaCha stream decides every fault, so the same
//! seed and the same request sequence give the same faults.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::ApiError;

/// API verbs, as RBAC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET one object.
    Get,
    /// GET a collection.
    List,
    /// GET with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
}

impl FromStr for Verb {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "get" => Verb::Get,
            "list" => Verb::List,
            "watch" => Verb::Watch,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            "deletecollection" => Verb::DeleteCollection,
            other => return Err(FaultParseError(format!("unknown verb {other:?}"))),
        })
    }
}

/// The injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 409 Conflict (stale resourceVersion wording).
    Conflict,
    /// 429 TooManyRequests with Retry-After: 1.
    TooManyRequests,
    /// 500 InternalError.
    Internal,
    /// Hold the request for `FaultConfig::timeout`, then 504 Timeout.
    Timeout,
}

/// One rule: a verb and resource (None matches all) fail with `fault` at `rate` (0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Verb, or any.
    pub verb: Option<Verb>,
    /// Resource plural (e.g. `deployments`), or any.
    pub resource: Option<String>,
    /// What fails.
    pub fault: Fault,
    /// Probability per matching request.
    pub rate: f64,
}

/// A `--fault` flag that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid fault rule: {0} (expected VERB:RESOURCE:409|429|500|timeout:RATE, `*` for any)")]
pub struct FaultParseError(String);

impl FromStr for FaultRule {
    type Err = FaultParseError;
    /// `VERB:RESOURCE:FAULT:RATE`, e.g. `patch:deployments:409:0.2` or `*:*:500:0.01`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let [verb, resource, fault, rate] = parts[..] else {
            return Err(FaultParseError(s.to_string()));
        };
        let verb = if verb == "*" { None } else { Some(verb.parse()?) };
        let resource = if resource == "*" { None } else { Some(resource.to_string()) };
        let fault = match fault.to_ascii_lowercase().as_str() {
            "409" | "conflict" => Fault::Conflict,
            "429" | "throttle" => Fault::TooManyRequests,
            "500" | "internal" => Fault::Internal,
            "504" | "timeout" => Fault::Timeout,
            other => return Err(FaultParseError(format!("unknown fault {other:?}"))),
        };
        let rate: f64 = rate.parse().map_err(|_| FaultParseError(format!("rate {rate:?} is not a number")))?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(FaultParseError(format!("rate {rate} is outside 0..1")));
        }
        Ok(FaultRule { verb, resource, fault, rate })
    }
}

/// How watch streams are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchCut {
    /// Cut after a number of events drawn uniformly from 1..=max_events (0: no event limit).
    pub max_events: u32,
    /// Cut after a duration drawn uniformly from max_age/2..=max_age (zero: no time limit).
    pub max_age: Duration,
}

/// Everything fault injection does; `Default` injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the decision stream.
    pub seed: u64,
    /// Error rules, checked in order; the first that fires wins.
    pub rules: Vec<FaultRule>,
    /// Added to every request.
    pub latency: Duration,
    /// How long a `Timeout` fault holds the request before answering 504.
    pub timeout: Duration,
    /// Watch stream cuts.
    pub watch_cut: Option<WatchCut>,
}

/// How many faults have been injected so far (tests assert their faults really fired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests answered with an injected error.
    pub errors: u64,
    /// Watch streams cut.
    pub watch_cuts: u64,
}

/// The live fault injector.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<(FaultConfig, ChaCha8Rng)>,
    errors: AtomicU64,
    watch_cuts: AtomicU64,
}

impl Faults {
    /// An injector for a configuration.
    pub fn new(config: FaultConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Faults { state: Mutex::new((config, rng)), errors: AtomicU64::new(0), watch_cuts: AtomicU64::new(0) }
    }

    /// Faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        FaultCounts { errors: self.errors.load(Ordering::Relaxed), watch_cuts: self.watch_cuts.load(Ordering::Relaxed) }
    }

    /// Record a watch cut.
    pub fn record_watch_cut(&self) {
        self.watch_cuts.fetch_add(1, Ordering::Relaxed);
    }

    /// Replace the configuration and restart the decision stream from its seed.
    pub fn set(&self, config: FaultConfig) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = ChaCha8Rng::seed_from_u64(config.seed);
        s.0 = config;
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Latency to add, and the fault (if any) for one request.
    pub fn decide(&self, verb: Verb, resource: &str) -> (Duration, Option<(Fault, Duration)>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (config, rng) = &mut *s;
        for r in &config.rules {
            let matches = r.verb.is_none_or(|v| v == verb) && r.resource.as_deref().is_none_or(|x| x == resource);
            // Draw for every matching rule so one rule's rate does not shift another's stream.
            if matches && rng.random_bool(r.rate) {
                self.errors.fetch_add(1, Ordering::Relaxed);
                return (config.latency, Some((r.fault, config.timeout)));
            }
        }
        (config.latency, None)
    }

    /// For a new watch: after how many events and how long to cut it, if at all.
    pub fn watch_cut(&self) -> Option<(Option<u64>, Option<Duration>)> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (config, rng) = &mut *s;
        let cut = config.watch_cut?;
        let events = (cut.max_events > 0).then(|| rng.random_range(1..=u64::from(cut.max_events)));
        let age = (!cut.max_age.is_zero()).then(|| {
            let max = cut.max_age.as_millis() as u64;
            Duration::from_millis(rng.random_range(max / 2..=max))
        });
        Some((events, age))
    }
}

/// The error a fault produces for a resource.
pub fn error_for(fault: Fault, group: &str, plural: &str, name: &str) -> ApiError {
    match fault {
        Fault::Conflict => ApiError::conflict(group, plural, name),
        Fault::TooManyRequests => {
            let mut e = ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.");
            e.details = Some(serde_json::json!({"retryAfterSeconds": 1}));
            e
        }
        Fault::Internal => ApiError::internal("Internal error occurred: injected fault"),
        Fault::Timeout => ApiError::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let r: FaultRule = "patch:deployments:409:0.5".parse().unwrap();
        assert_eq!(r.verb, Some(Verb::Patch));
        assert_eq!(r.fault, Fault::Conflict);
        let any: FaultRule = "*:*:timeout:1".parse().unwrap();
        assert!(any.verb.is_none() && any.resource.is_none());
        assert!("patch:x:418:0.1".parse::<FaultRule>().is_err());
        assert!("patch:x:500:2".parse::<FaultRule>().is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let cfg = FaultConfig { seed: 7, rules: vec!["*:pods:500:0.3".parse().unwrap()], ..FaultConfig::default() };
        let run = || {
            let f = Faults::new(cfg.clone());
            (0..200).map(|_| f.decide(Verb::Get, "pods").1.is_some()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| **x).count();
        assert!((30..=90).contains(&hits), "{hits} of 200 at rate 0.3");
        let f = Faults::new(cfg);
        assert!(f.decide(Verb::Get, "nodes").1.is_none());
    }
}
