//! A trace binned to the simulator's step: arrivals and mean token sizes per step.
//!
//! Every loader ends here, whether it read individual requests or a rate series, so the cluster model
//! and the strategies never care where the load came from. Arrivals are fractional after scaling: the
//! model is a fluid one (see `model.rs`), so 0.4 requests in a step is meaningful.

/// Load per simulation step.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Name shown in reports (the file name, or the embedded excerpt's name).
    pub name: String,
    /// Seconds per step.
    pub step_s: f64,
    /// Requests arriving in each step.
    pub arrivals: Vec<f64>,
    /// Mean prompt tokens of the requests of each step.
    pub mean_input: Vec<f64>,
    /// Mean generated tokens of the requests of each step.
    pub mean_output: Vec<f64>,
}

/// Summary figures of a trace, as printed in reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TraceStats {
    /// Trace name.
    pub name: String,
    /// Requests in the whole trace (fractional after rate scaling).
    pub requests: f64,
    /// Seconds covered.
    pub duration_s: f64,
    /// Requests per second over the whole trace.
    pub mean_rps: f64,
    /// Highest requests per second over one step.
    pub peak_rps: f64,
}

impl Trace {
    /// The same requests with every prompt `factor` times as long: long-context traffic (RAG,
    /// agents, whole files) from a chat trace.
    pub fn with_prompts_scaled(mut self, factor: f64) -> Trace {
        for m in &mut self.mean_input {
            *m *= factor;
        }
        self
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// True when the trace has no steps.
    pub fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    /// Requests per second in step `i`.
    pub fn rps(&self, i: usize) -> f64 {
        self.arrivals[i] / self.step_s
    }

    /// Summary figures.
    pub fn stats(&self) -> TraceStats {
        let requests: f64 = self.arrivals.iter().sum();
        let duration_s = self.len() as f64 * self.step_s;
        let peak = self.arrivals.iter().cloned().fold(0.0, f64::max);
        TraceStats {
            name: self.name.clone(),
            requests,
            duration_s,
            mean_rps: if duration_s > 0.0 { requests / duration_s } else { 0.0 },
            peak_rps: peak / self.step_s,
        }
    }

    /// A constant load for tests: `rps` for `steps` steps of `step_s` seconds, 1,000 prompt and 200
    /// generated tokens per request.
    #[cfg(test)]
    pub(crate) fn flat(rps: f64, steps: usize, step_s: f64) -> Trace {
        Trace {
            name: "flat".into(),
            step_s,
            arrivals: vec![rps * step_s; steps],
            mean_input: vec![1000.0; steps],
            mean_output: vec![200.0; steps],
        }
    }

    /// Request-weighted mean prompt and generated tokens over the whole trace.
    pub fn mean_tokens(&self) -> (f64, f64) {
        let total: f64 = self.arrivals.iter().sum();
        if total <= 0.0 {
            return (0.0, 0.0);
        }
        let input: f64 = self.arrivals.iter().zip(&self.mean_input).map(|(a, t)| a * t).sum();
        let output: f64 = self.arrivals.iter().zip(&self.mean_output).map(|(a, t)| a * t).sum();
        (input / total, output / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_request_weighted() {
        let t = Trace {
            name: "t".into(),
            step_s: 10.0,
            arrivals: vec![10.0, 30.0, 0.0, 0.0],
            mean_input: vec![100.0, 200.0, 0.0, 0.0],
            mean_output: vec![10.0, 20.0, 0.0, 0.0],
        };
        let s = t.stats();
        assert_eq!(s.requests, 40.0);
        assert_eq!(s.duration_s, 40.0);
        assert_eq!(s.mean_rps, 1.0);
        assert_eq!(s.peak_rps, 3.0);
        assert_eq!(t.mean_tokens(), (175.0, 17.5));
    }
}
