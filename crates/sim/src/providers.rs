//! The simulated world's external side: the pool's providers (`spec.externalProviders`, or the single
//! `spec.external` as a list of one), each with its own price, latency, rate limits and error bursts,
//! and how one step's external requests fare at each of them.
//!
//! Per step, provider `i` is sent its route weight's share of the arrivals. Requests over its own
//! limits (requests/s, and tokens/min at the step's mix) are rejected like a 429, then the policy's
//! `external.maxRequestsPerSecond` caps the providers together (the single form's only limit). Of what
//! is accepted, an error burst fails its error ratio (for the part of the step it covers). Rejected and
//! failed requests miss the SLO and are not billed; the rest are billed at the provider's token prices
//! and meet the SLO when its latency does.
//!
//! The gateway's error signal the planner sees is the bursts' errors only, not the rejections: the
//! planner knows each limit from the spec and keeps within it at the rate now, while a bursty step over
//! a quota is not the provider going bad. (A gateway that counts 429s as errors would also take a
//! provider out after a step over its quota; that is not modelled.)

use std::path::Path;

use hybridscale_api::cost_policy::CostPolicy;
use hybridscale_api::inference_pool::InferencePool;
use hybridscale_api::planner_config::providers_in_use;
use hybridscale_core::input::InputError;

/// External API latency assumed when the pool does not state one, seconds. Hosted LLM APIs answer
/// typical chat requests in a few seconds end to end.
pub const DEFAULT_EXTERNAL_LATENCY_S: f64 = 5.0;

/// Longest start or duration of an error burst, seconds (ten years: beyond any trace).
pub const MAX_BURST_S: f64 = 3.2e8;

/// One external provider of the simulated world.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSpec {
    /// Its name in the pool.
    pub name: String,
    /// USD per prompt token.
    pub usd_per_input_token: f64,
    /// USD per generated token.
    pub usd_per_output_token: f64,
    /// End-to-end latency, seconds.
    pub latency_s: f64,
    /// Its rate limit, requests per second.
    pub max_rps: Option<f64>,
    /// Its token limit, prompt plus generated tokens per minute.
    pub max_tokens_per_minute: Option<f64>,
    /// When it fails part of its requests.
    pub bursts: Vec<ErrorBurst>,
}

/// "The provider fails `error_ratio` of its requests from `start_s` to `end_s`" (seconds from the
/// trace's start).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorBurst {
    pub start_s: f64,
    pub end_s: f64,
    pub error_ratio: f64,
}

impl ProviderSpec {
    /// USD of one request of the given size.
    pub fn usd_per_request(&self, mean_input: f64, mean_output: f64) -> f64 {
        mean_input * self.usd_per_input_token + mean_output * self.usd_per_output_token
    }

    /// Requests per second its own limits accept at a mix (infinite without limits).
    pub fn limit_rps(&self, mean_input: f64, mean_output: f64) -> f64 {
        let tokens = mean_input + mean_output;
        let by_tokens = match self.max_tokens_per_minute {
            Some(tpm) if tokens > 0.0 => tpm / 60.0 / tokens,
            _ => f64::INFINITY,
        };
        self.max_rps.unwrap_or(f64::INFINITY).min(by_tokens)
    }

    /// Share of requests failing over `[t, t + dt)`: each burst's ratio weighted by how much of the
    /// step it covers, at most 1.
    pub fn error_ratio(&self, t: f64, dt: f64) -> f64 {
        let e: f64 =
            self.bursts.iter().map(|b| ((t + dt).min(b.end_s) - t.max(b.start_s)).max(0.0) / dt * b.error_ratio).sum();
        e.min(1.0)
    }
}

/// The providers a pool may use under its policy, with their prices as the operator resolves the
/// static ones (the pool's figure, else the policy's externalPrices). Empty when data may not leave.
pub fn from_resources(path: &Path, policy: &CostPolicy, pool: &InferencePool) -> Result<Vec<ProviderSpec>, InputError> {
    let fallback = policy.spec.external_prices.as_ref();
    providers_in_use(policy, pool)
        .into_iter()
        .map(|p| {
            let input = p.api.input_usd_per_million_tokens.or(fallback.map(|e| e.input_usd_per_million_tokens));
            let output = p.api.output_usd_per_million_tokens.or(fallback.map(|e| e.output_usd_per_million_tokens));
            let (Some(input), Some(output)) = (input, output) else {
                return Err(InputError::invalid(
                    path,
                    format!(
                        "external provider {:?} has no prices: set spec.externalPrices in the CostPolicy or input/output \
                         prices in the InferencePool's spec.external or spec.externalProviders[]",
                        p.name
                    ),
                ));
            };
            Ok(ProviderSpec {
                name: p.name,
                usd_per_input_token: input / 1e6,
                usd_per_output_token: output / 1e6,
                latency_s: p.api.latency_seconds.unwrap_or(DEFAULT_EXTERNAL_LATENCY_S),
                max_rps: p.max_requests_per_second,
                max_tokens_per_minute: p.max_tokens_per_minute,
                bursts: Vec::new(),
            })
        })
        .collect()
}

/// Parse `NAME:START_S:DURATION_S[:ERROR_RATIO]` (the ratio defaults to 1: every request fails).
pub fn parse_outage(text: &str) -> Result<(String, ErrorBurst), String> {
    let bad =
        |why: String| format!("--provider-outage {text:?}: {why}; expected NAME:START_S:DURATION_S[:ERROR_RATIO]");
    let parts: Vec<&str> = text.split(':').collect();
    if !(3..=4).contains(&parts.len()) || parts[0].is_empty() {
        return Err(bad("wrong number of fields".into()));
    }
    let num = |what: &str, s: &str| s.trim().parse::<f64>().map_err(|_| bad(format!("{what} {s:?} is not a number")));
    let start = num("start", parts[1])?;
    let duration = num("duration", parts[2])?;
    let ratio = parts.get(3).map_or(Ok(1.0), |s| num("error ratio", s))?;
    if !(start.is_finite() && (0.0..=MAX_BURST_S).contains(&start)) {
        return Err(bad(format!("start must be a number of seconds in 0..={MAX_BURST_S:e}, got {start}")));
    }
    // At least a millisecond: a shorter one would end where it starts (and covers no step anyway).
    if !(duration.is_finite() && (1e-3..=MAX_BURST_S).contains(&duration)) {
        return Err(bad(format!(
            "duration must be a number of seconds >= 0.001 and <= {MAX_BURST_S:e}, got {duration}"
        )));
    }
    if !(ratio.is_finite() && ratio > 0.0 && ratio <= 1.0) {
        return Err(bad(format!("error ratio must be > 0 and <= 1, got {ratio}")));
    }
    Ok((parts[0].to_string(), ErrorBurst { start_s: start, end_s: start + duration, error_ratio: ratio }))
}

/// What one provider did with one step's requests.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Served {
    /// Requests sent to it.
    pub sent: f64,
    /// Rejected over its limits (or the policy's).
    pub rejected: f64,
    /// Accepted but failed (an error burst).
    pub failed: f64,
    /// Answered within the SLO.
    pub within: f64,
    /// Billed, USD.
    pub usd: f64,
}

/// Index of the cheapest provider at a mix (the first listed on a tie), for a route that names none.
pub fn cheapest(providers: &[ProviderSpec], mean_input: f64, mean_output: f64) -> usize {
    let mut best = 0;
    for (i, p) in providers.iter().enumerate() {
        if p.usd_per_request(mean_input, mean_output) < providers[best].usd_per_request(mean_input, mean_output) {
            best = i;
        }
    }
    best
}

/// One step `[t, t + dt)` of external traffic: `to[i]` requests sent to provider `i`, `cap_rps` the
/// policy's limit on them together.
#[allow(clippy::too_many_arguments)] // one step's load, spelled out
pub fn serve(
    providers: &[ProviderSpec],
    to: &[f64],
    cap_rps: Option<f64>,
    t: f64,
    dt: f64,
    mean_input: f64,
    mean_output: f64,
    slo_s: f64,
) -> Vec<Served> {
    let mut accepted: Vec<f64> = providers
        .iter()
        .zip(to)
        .map(|(p, &sent)| {
            let limit = p.limit_rps(mean_input, mean_output);
            if limit.is_finite() { sent.min(limit * dt) } else { sent }
        })
        .collect();
    let total: f64 = accepted.iter().sum();
    if let Some(cap) = cap_rps.map(|r| r * dt)
        && total > cap
    {
        for a in &mut accepted {
            // One provider alone takes exactly the cap (no rounding of a ratio).
            *a = if *a == total { cap } else { *a * cap / total };
        }
    }
    providers
        .iter()
        .zip(to)
        .zip(accepted)
        .map(|((p, &sent), accepted)| {
            let failed = accepted * p.error_ratio(t, dt);
            let ok = accepted - failed;
            Served {
                sent,
                rejected: sent - accepted,
                failed,
                within: if p.latency_s <= slo_s { ok } else { 0.0 },
                usd: if ok > 0.0 { ok * p.usd_per_request(mean_input, mean_output) } else { 0.0 },
            }
        })
        .collect()
}

/// One provider's figures over a replay.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProviderResult {
    /// The provider's name.
    pub name: String,
    /// Requests sent to it.
    pub requests: f64,
    /// Requests rejected over its limits (429).
    pub rate_limited: f64,
    /// Requests it failed (error bursts).
    pub errors: f64,
    /// Share of the requests sent to it answered within the SLO (1 when none was sent).
    pub slo_attainment: f64,
    /// Its token bill, USD.
    pub cost_usd: f64,
    #[serde(skip)]
    pub(crate) within: f64,
}

impl ProviderResult {
    /// Add one step.
    pub(crate) fn add(&mut self, s: &Served) {
        self.requests += s.sent;
        self.rate_limited += s.rejected;
        self.errors += s.failed;
        self.within += s.within;
        self.cost_usd += s.usd;
        self.slo_attainment = if self.requests > 0.0 { self.within / self.requests } else { 1.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, usd: f64, max_rps: Option<f64>) -> ProviderSpec {
        ProviderSpec {
            name: name.into(),
            usd_per_input_token: usd / 1e6,
            usd_per_output_token: usd / 1e6,
            latency_s: 5.0,
            max_rps,
            max_tokens_per_minute: None,
            bursts: Vec::new(),
        }
    }

    #[test]
    fn limits_reject_bursts_fail_and_neither_is_billed() {
        let mut ps = vec![p("gemini", 0.04, Some(40.0)), p("claude", 0.05, None)];
        ps[1].bursts.push(ErrorBurst { start_s: 5.0, end_s: 100.0, error_ratio: 0.5 });
        // 50 rps to gemini over 10 s: 100 rejected. Claude fails half of its requests for half the step.
        let s = serve(&ps, &[500.0, 100.0], None, 0.0, 10.0, 1000.0, 250.0, 20.0);
        assert_eq!((s[0].rejected, s[0].failed, s[0].within), (100.0, 0.0, 400.0));
        assert!((s[0].usd - 400.0 * 1250.0 * 0.04e-6).abs() < 1e-12);
        assert_eq!((s[1].rejected, s[1].failed, s[1].within), (0.0, 25.0, 75.0));
        // The policy's cap is shared in proportion; a slow provider's answers miss the SLO.
        ps[1].latency_s = 30.0;
        let s = serve(&ps, &[200.0, 200.0], Some(20.0), 200.0, 10.0, 1000.0, 250.0, 20.0);
        assert_eq!((s[0].rejected, s[1].rejected, s[1].within), (100.0, 100.0, 0.0));
        // Token limits are requests at the mix: 1.5M tokens a minute of 1,250-token requests is 20 rps.
        ps[0].max_tokens_per_minute = Some(1.5e6);
        assert_eq!(ps[0].limit_rps(1000.0, 250.0), 20.0);
        assert_eq!(cheapest(&ps, 1000.0, 250.0), 0);
    }

    #[test]
    fn outage_flags_parse_or_say_why_in_one_line() {
        assert_eq!(
            parse_outage("gemini:600:300:0.3"),
            Ok(("gemini".into(), ErrorBurst { start_s: 600.0, end_s: 900.0, error_ratio: 0.3 }))
        );
        assert_eq!(parse_outage("claude:0:60").map(|(_, b)| b.error_ratio), Ok(1.0));
        for bad in [
            "gemini",
            ":1:2",
            "g:x:1",
            "g:1:0",
            "g:-1:5",
            "g:1:NaN",
            "g:1:1e300",
            "g:1:5:1.5",
            "g:1:5:0",
            "g:1:2:3:4",
            // Found by fuzzing: a duration too small to move the end past the start.
            "g:1:2.3e-66",
        ] {
            let e = parse_outage(bad).unwrap_err();
            assert!(e.starts_with("--provider-outage") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn a_burst_counts_for_the_part_of_the_step_it_covers() {
        let mut g = p("g", 0.04, None);
        g.bursts = vec![ErrorBurst { start_s: 15.0, end_s: 20.0, error_ratio: 0.8 }];
        assert_eq!(g.error_ratio(0.0, 10.0), 0.0);
        assert!((g.error_ratio(10.0, 10.0) - 0.4).abs() < 1e-12);
        assert_eq!(g.error_ratio(20.0, 10.0), 0.0);
    }
}
