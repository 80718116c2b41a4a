//! Commitment advice from observed demand: the pool's request and token rates of the last weeks (read
//! from Prometheus by the caller) turned into a [`Trace`], replayed by [`super::reservation::recommend`]
//! (the same replay as `simulate --recommend-reservation`), and summarised as the figures a buyer asks
//! for: replicas and GPUs to commit, the monthly saving against today's commitment, and the utilisation
//! a reserved GPU breaks even at.
//!
//! Pure: the history comes in as points, time as numbers. Monthly figures scale the replayed period's
//! cost difference to an average month (30.44 days). Break-even utilisation is the reserved price over
//! the on-demand price: a reserved GPU busy less than that share of the time costs more than buying the
//! same GPU-hours on demand (the usual reserved-instance rule; spot and the external API can only lower
//! it further, and the replay already accounts for them).

use serde::Serialize;

use super::reservation::Recommendation;
use super::trace::Trace;

/// Seconds in an average month.
pub const MONTH_S: f64 = 30.44 * 86400.0;

/// The advice for one pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Advice {
    /// Reserved replicas committed today.
    pub current_replicas: u32,
    /// Reserved replicas recommended.
    pub recommended_replicas: u32,
    /// GPUs of the recommended commitment.
    pub recommended_gpus: u32,
    /// Cost of the current commitment minus the recommended one, per month, USD.
    pub monthly_saving_usd: f64,
    /// Share of the time a reserved GPU must be busy to be cheaper than on-demand.
    pub break_even_utilization: f64,
    /// Days of history replayed.
    pub history_days: f64,
    /// Why this size.
    pub reason: String,
}

/// Build a trace from `rps` (time, requests per second) at `step_s`, with mean token counts from the
/// prompt and output token rates at the same times. Steps without a token reading take the mean of the
/// steps that have one (0 when none has: the pool's configured replica capacity then applies).
pub fn trace_from_history(
    name: &str,
    step_s: f64,
    rps: &[(f64, f64)],
    prompt_tps: &[(f64, f64)],
    output_tps: &[(f64, f64)],
) -> Result<Trace, String> {
    if !(step_s.is_finite() && step_s > 0.0) {
        return Err(format!("history step must be a positive number of seconds, got {step_s}"));
    }
    let points: Vec<(f64, f64)> = rps.iter().copied().filter(|(t, v)| t.is_finite() && v.is_finite()).collect();
    if points.is_empty() {
        return Err("no request-rate history in the window: nothing to replay".into());
    }
    let at = |series: &[(f64, f64)], t: f64| {
        series.iter().find(|(s, v)| (s - t).abs() < step_s / 2.0 && v.is_finite()).map(|(_, v)| *v)
    };
    let mean_of = |series: &[(f64, f64)]| -> Vec<Option<f64>> {
        points.iter().map(|(t, r)| at(series, *t).filter(|_| *r > 1e-9).map(|tok| (tok / r).max(0.0))).collect()
    };
    let fill = |v: Vec<Option<f64>>| -> Vec<f64> {
        let known: Vec<f64> = v.iter().flatten().copied().collect();
        let mean = if known.is_empty() { 0.0 } else { known.iter().sum::<f64>() / known.len() as f64 };
        v.into_iter().map(|x| x.unwrap_or(mean)).collect()
    };
    Ok(Trace {
        name: name.to_string(),
        step_s,
        arrivals: points.iter().map(|(_, r)| r.max(0.0) * step_s).collect(),
        mean_input: fill(mean_of(prompt_tps)),
        mean_output: fill(mean_of(output_tps)),
    })
}

/// The figures of `rec` for a trace of `trace_s` seconds, reserved and on-demand GPU prices per hour.
pub fn advice(rec: &Recommendation, trace_s: f64, gpus_per_replica: u32, reserved: f64, on_demand: f64) -> Advice {
    let cost = |n: u32| rec.candidate(n).map(|c| c.cost_usd);
    let saving = match (cost(rec.current), cost(rec.recommended)) {
        (Some(now), Some(best)) if trace_s > 0.0 => (now - best) * MONTH_S / trace_s,
        _ => 0.0,
    };
    Advice {
        current_replicas: rec.current,
        recommended_replicas: rec.recommended,
        recommended_gpus: rec.recommended.saturating_mul(gpus_per_replica),
        monthly_saving_usd: saving,
        break_even_utilization: if on_demand > 0.0 { (reserved / on_demand).min(1.0) } else { 1.0 },
        history_days: trace_s / 86400.0,
        reason: rec.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservation::Candidate;

    #[test]
    fn history_becomes_a_trace_with_token_means() {
        let rps = [(0.0, 10.0), (60.0, 20.0), (120.0, 0.0), (180.0, f64::NAN)];
        let prompt = [(0.0, 10_000.0), (60.0, 30_000.0)];
        let out = [(60.0, 4000.0)];
        let t = trace_from_history("h", 60.0, &rps, &prompt, &out).unwrap();
        assert_eq!(t.arrivals, vec![600.0, 1200.0, 0.0]);
        assert_eq!(t.mean_input, vec![1000.0, 1500.0, 1250.0]);
        assert_eq!(t.mean_output, vec![200.0, 200.0, 200.0]);
        assert!(trace_from_history("h", 60.0, &[], &[], &[]).unwrap_err().contains("no request-rate history"));
        assert!(trace_from_history("h", 0.0, &rps, &[], &[]).is_err());
    }

    #[test]
    fn saving_is_scaled_to_a_month_and_break_even_is_the_price_ratio() {
        let c = |reserved: u32, cost_usd: f64| Candidate { reserved, cost_usd, slo_attainment: 1.0 };
        let rec = Recommendation {
            current: 1,
            recommended: 3,
            reason: "cheapest".into(),
            candidates: vec![c(0, 150.0), c(1, 120.0), c(2, 100.0), c(3, 90.0), c(4, 95.0)],
        };
        // Two weeks replayed: $30 saved in 14 days.
        let a = advice(&rec, 14.0 * 86400.0, 8, 2.0, 4.0);
        assert!((a.monthly_saving_usd - 30.0 * 30.44 / 14.0).abs() < 1e-9, "{a:?}");
        assert_eq!((a.recommended_replicas, a.recommended_gpus), (3, 24));
        assert_eq!(a.break_even_utilization, 0.5);
        assert_eq!(a.history_days, 14.0);
    }
}
