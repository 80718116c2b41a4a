//! Simulated external providers behind the gateway: what an AI gateway in front of several LLM APIs
//! exports per provider, so the operator's provider-health queries read real-looking series.
//!
//! Envoy AI Gateway records every request it proxies in the OpenTelemetry GenAI histogram
//! `gen_ai.server.request.duration`, which Prometheus receives as `gen_ai_server_request_duration_seconds`
//! (`_bucket`, `_count`, `_sum`) with the backend in `gen_ai_provider_name`; a request that failed also
//! carries `error_type` (OpenTelemetry's `error.type`). Those are the series the operator's default
//! queries read (src/signals/providers.rs). Each provider here has a latency and an error ratio that can
//! change at run time ([`Behaviour`]); the gateway sets the requests per second it sends it, and the
//! counters integrate that exactly over wall-clock time, as the model pods' do.

/// Bucket bounds of `gen_ai.server.request.duration` (the GenAI semantic conventions' advice, +Inf implied).
pub const GEN_AI_BUCKETS: [f64; 14] =
    [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/// `error_type` of the failed requests (the conventions' fallback value when no better type is known).
pub const ERROR_TYPE: &str = "_OTHER";

/// How a provider answers now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behaviour {
    /// End-to-end latency of each request through the gateway, seconds.
    pub latency_s: f64,
    /// Fraction (0..1) of requests that fail.
    pub error_ratio: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { latency_s: 2.0, error_ratio: 0.0 }
    }
}

/// The latency histogram of one outcome of a provider's requests (succeeded, or failed), as Envoy AI
/// Gateway's `gen_ai_server_request_duration_seconds` has it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Cumulative counts per bucket of [`GEN_AI_BUCKETS`].
    pub buckets: [f64; GEN_AI_BUCKETS.len()],
    pub count: f64,
    pub sum: f64,
}

impl LatencyHistogram {
    fn observe(&mut self, n: f64, latency_s: f64) {
        self.count += n;
        self.sum += n * latency_s;
        for (b, le) in self.buckets.iter_mut().zip(GEN_AI_BUCKETS) {
            if latency_s <= le {
                *b += n;
            }
        }
    }
}

/// One simulated provider: its model, behaviour, the rate the gateway sends it and its counters.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderState {
    pub model: String,
    pub behaviour: Behaviour,
    /// Requests per second the gateway sends it now.
    pub rps: f64,
    pub succeeded: LatencyHistogram,
    pub failed: LatencyHistogram,
    last: f64,
}

impl ProviderState {
    pub(crate) fn new(model: &str, behaviour: Behaviour, now: f64) -> Self {
        ProviderState {
            model: model.to_string(),
            behaviour,
            rps: 0.0,
            succeeded: LatencyHistogram::default(),
            failed: LatencyHistogram::default(),
            last: now,
        }
    }

    /// Integrate the requests sent since the last call at the rate and behaviour in force then.
    pub(crate) fn advance(&mut self, now: f64) {
        let dt = (now - self.last).max(0.0);
        self.last = now.max(self.last);
        let n = self.rps.max(0.0) * dt;
        if n <= 0.0 {
            return;
        }
        let b = self.behaviour;
        let failed = n * b.error_ratio.clamp(0.0, 1.0);
        let latency = b.latency_s.max(0.0);
        self.succeeded.observe(n - failed, latency);
        if failed > 0.0 {
            self.failed.observe(failed, latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_integrate_the_rate_and_split_failures_off() {
        let mut p = ProviderState::new("m", Behaviour { latency_s: 3.0, error_ratio: 0.25 }, 0.0);
        p.advance(5.0);
        assert_eq!(p.succeeded.count, 0.0, "nothing sent, nothing counted");
        p.rps = 4.0;
        p.advance(7.0);
        assert!((p.succeeded.count - 6.0).abs() < 1e-9 && (p.failed.count - 2.0).abs() < 1e-9, "{p:?}");
        assert!((p.succeeded.sum - 18.0).abs() < 1e-9, "{p:?}");
        // 3 s falls in the 5.12 bucket and every one above it, none below.
        assert_eq!(p.succeeded.buckets[8], 0.0);
        assert!((p.succeeded.buckets[9] - 6.0).abs() < 1e-9 && (p.succeeded.buckets[13] - 6.0).abs() < 1e-9);
    }
}
