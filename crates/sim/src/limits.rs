//! Bounds on what one replay may ask for, so that every input, however large its numbers, gives an
//! answer or a one-line error in bounded time, never a hang or an allocation that cannot succeed.
//!
//! The simulator's work grows with the number of steps and with the replicas the load needs (the
//! baselines size M/M/c queues replica by replica, the oracle searches reservation sizes). The bounds
//! are far above any single pool: a 14-day trace at 10 s steps has 120,960 steps, and the largest
//! published LLM traces peak at a few hundred requests per second.

use std::path::Path;

use super::spec::SimSpec;
use super::trace::Trace;
use hybridscale_core::input::InputError;

/// Most steps in one replay (115 days at 10 s steps).
pub const MAX_STEPS: f64 = 1_000_000.0;
/// Longest simulation step, seconds.
pub const MAX_STEP_S: f64 = 3600.0;
/// Highest request rate of any step after scaling, requests per second. Raw series may be far above
/// one pool (the Azure Functions counts peak above 10^6 per second before the benchmarks scale them), so
/// this only keeps the arithmetic finite; what bounds the work is [`MAX_REPLICAS_NEEDED`].
pub const MAX_RPS: f64 = 1.0e9;
/// Most prompt or generated tokens of one request (beyond any model's context window).
pub const MAX_TOKENS: f64 = 1.0e8;
/// Most replicas the load of one step may need in the simulated world.
pub const MAX_REPLICAS_NEEDED: f64 = 100_000.0;

/// `what` must be a finite number in `(0, max]`.
pub fn positive_at_most(path: &Path, what: &str, v: f64, max: f64) -> Result<(), InputError> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(InputError::invalid(path, format!("{what} must be a number > 0 and <= {max}, got {v}")))
    }
}

/// A step count computed as a float (from a span and a step), or the error when there would be too many.
pub fn steps(path: &Path, steps: f64, span_s: f64, step_s: f64) -> Result<usize, InputError> {
    if steps.is_finite() && steps <= MAX_STEPS {
        Ok(steps.max(1.0) as usize)
    } else {
        Err(InputError::invalid(
            path,
            format!(
                "the replay would take {steps:.3e} steps ({span_s:.3e} s of trace after time scaling, at {step_s:.3e} s \
                 per step); at most {MAX_STEPS:e} can be replayed: shorten the trace, lower the time scale or \
                 raise the step"
            ),
        ))
    }
}

/// No step of a binned trace is above [`MAX_RPS`] (nor NaN).
pub fn check_rates(path: &Path, trace: &Trace) -> Result<(), InputError> {
    for i in 0..trace.len() {
        let rps = trace.rps(i);
        if rps.is_nan() || rps > MAX_RPS {
            return Err(InputError::invalid(
                path,
                format!(
                    "the replay reaches {rps:.3e} requests per second at {} s after scaling; at most {MAX_RPS:e} \
                     can be replayed: lower the rate scale",
                    i as f64 * trace.step_s
                ),
            ));
        }
    }
    Ok(())
}

/// The replicas the replay's load needs stay within [`MAX_REPLICAS_NEEDED`], in the simulated world and
/// by the pool's belief (the baselines size by it): checked before replaying, since the baselines and
/// the oracle size fleets replica by replica.
pub fn check_replay(path: &Path, trace: &Trace, spec: &SimSpec) -> Result<(), InputError> {
    check_rates(path, trace)?;
    for i in 0..trace.len() {
        let rps = trace.rps(i);
        let (input, output) = (trace.mean_input[i], trace.mean_output[i]);
        let mu = spec.replica_saturation_rps(input, output).min(spec.believed_saturation_rps(input, output));
        let needed = rps / mu;
        if rps > 0.0 && (needed.is_nan() || needed > MAX_REPLICAS_NEEDED) {
            return Err(InputError::invalid(
                path,
                format!(
                    "the load at {} s ({rps:.3} requests per second of {:.0} prompt and {:.0} generated tokens) \
                     needs {needed:.3e} replicas of {mu:.3e} requests per second each; at most {MAX_REPLICAS_NEEDED:e} \
                     can be replayed",
                    i as f64 * trace.step_s,
                    trace.mean_input[i],
                    trace.mean_output[i]
                ),
            ));
        }
    }
    Ok(())
}
