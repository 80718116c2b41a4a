//! Several external providers behind one pool: which of them takes how much of the external share.
//!
//! A team rarely has one API. Comparable models cost different amounts per token at OpenAI, Anthropic and
//! Google, each provider has its own rate limits and latency, and any of them has bad hours. The planner
//! decides the pool's external share as before ([`super::traffic`]); this step splits that share across
//! the providers:
//!
//! 1. **Eligible**: a provider is left out while it is unhealthy ([`Health`]: its error ratio or its
//!    latency from the gateway's series went bad, with hysteresis so it comes back only once it is well
//!    again), or when its typical latency alone would break the SLO.
//! 2. **Cheapest first**: the eligible providers are filled in order of their price per request at the
//!    live token mix (prompt tokens at the input price plus output tokens at the output price), each up
//!    to its own limits: its maximum share of the pool's traffic, its requests per second and its tokens
//!    per minute (turned into requests per second at the same mix).
//! 3. **Whole percent**: weights are whole numbers; with what no provider has room for ([`Split::unplaced`])
//!    they add up to the external weight exactly. The caller keeps the unplaced part on the replicas.
//!
//! Pure: configuration, observed health, the mix and the share in; weights and one reason per provider
//! out. Time only enters through [`Health::update`], as an argument.

/// One external provider as the planner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// Unique name within the pool (used in reasons, status and metrics).
    pub name: String,
    /// USD per million input (prompt) tokens.
    pub input_usd_per_m: f64,
    /// USD per million output tokens.
    pub output_usd_per_m: f64,
    /// Largest share of the pool's requests this provider may take (0..1).
    pub max_share: f64,
    /// Its rate limit, requests per second.
    pub max_rps: Option<f64>,
    /// Its token limit, tokens (prompt plus output) per minute.
    pub max_tokens_per_minute: Option<f64>,
    /// Typical end-to-end latency, seconds.
    pub latency_s: f64,
}

/// The mean request of the live token mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mix {
    pub prompt_tokens: f64,
    pub output_tokens: f64,
}

impl Provider {
    /// USD per request at a token mix.
    pub fn usd_per_request(&self, mix: Mix) -> f64 {
        (mix.prompt_tokens.max(0.0) * self.input_usd_per_m + mix.output_tokens.max(0.0) * self.output_usd_per_m) / 1e6
    }

    /// Most requests per second its rate and token limits allow at a mix (infinite without limits).
    pub fn limit_rps(&self, mix: Mix) -> f64 {
        let by_rate = self.max_rps.unwrap_or(f64::INFINITY).max(0.0);
        let tokens = (mix.prompt_tokens + mix.output_tokens).max(0.0);
        let by_tokens = match self.max_tokens_per_minute {
            Some(tpm) if tokens > 0.0 => tpm.max(0.0) / 60.0 / tokens,
            _ => f64::INFINITY,
        };
        by_rate.min(by_tokens)
    }
}

/// When a provider counts as unhealthy, from the gateway's series for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthRules {
    /// Error ratio (failed over all requests) above which a provider is taken out.
    pub max_error_ratio: f64,
    /// Latency above this multiple of its typical latency takes it out.
    pub max_latency_factor: f64,
    /// How long it must look well again before it is put back, seconds.
    pub recover_after_s: f64,
}

impl Default for HealthRules {
    fn default() -> Self {
        HealthRules { max_error_ratio: 0.05, max_latency_factor: 2.0, recover_after_s: 300.0 }
    }
}

/// What the gateway's series say of one provider this tick (`None`: no such series or no traffic).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observed {
    pub error_ratio: Option<f64>,
    pub latency_s: Option<f64>,
}

/// A provider's health as the planner remembers it across ticks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Since when it has been out, and why; `None` while it is in.
    pub out_since: Option<(f64, String)>,
    /// Since when it has looked well while out.
    pub well_since: Option<f64>,
}

impl Health {
    /// The health after one tick's observation. A bad reading takes the provider out at once (its
    /// requests fail or are late now); it comes back once it has looked well for `recover_after_s`, so
    /// a provider that flaps does not take share back on every good minute. No reading (no traffic
    /// sent to it, so no series) counts as well: nothing says it is still bad, and without a trial it
    /// never could, so the hold ends after `recover_after_s` of silence.
    pub fn update(&self, p: &Provider, seen: Observed, rules: &HealthRules, now: f64) -> Health {
        let bad = match (seen.error_ratio, seen.latency_s) {
            (Some(e), _) if e > rules.max_error_ratio => {
                Some(format!("error ratio {:.1}% > {:.1}%", e * 100.0, rules.max_error_ratio * 100.0))
            }
            (_, Some(l)) if l > rules.max_latency_factor * p.latency_s => {
                Some(format!("latency {l:.1} s > {:.1} s", rules.max_latency_factor * p.latency_s))
            }
            _ => None,
        };
        match (bad, &self.out_since) {
            (Some(why), Some((since, _))) => Health { out_since: Some((*since, why)), well_since: None },
            (Some(why), None) => Health { out_since: Some((now, why)), well_since: None },
            (None, None) => Health::default(),
            (None, Some(out)) => {
                let well_since = self.well_since.unwrap_or(now);
                if now - well_since >= rules.recover_after_s {
                    Health::default()
                } else {
                    Health { out_since: Some(out.clone()), well_since: Some(well_since) }
                }
            }
        }
    }

    pub fn is_out(&self) -> bool {
        self.out_since.is_some()
    }
}

/// One provider's part of the split.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// Index into the providers.
    pub provider: usize,
    /// Route weight, in percent of the pool's traffic.
    pub weight: u32,
    /// Why it got that weight ("cheapest, under its 40 rps limit", "unhealthy: error ratio 12.0% > 5.0%").
    pub reason: String,
}

/// The split of the external share.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// One part per provider, in the providers' order (weight 0 for those given nothing).
    pub parts: Vec<Part>,
    /// Percent of the pool's traffic the providers had no room for.
    pub unplaced: u32,
}

impl Split {
    /// The weights, in the providers' order.
    pub fn weights(&self) -> Vec<u32> {
        self.parts.iter().map(|p| p.weight).collect()
    }
}

/// Split `external_weight` percent of `demand_rps` across the providers: cheapest eligible first, each
/// within its share and limits. `health` is parallel to `providers`; `slo_s` is the pool's SLO latency.
pub fn split(
    providers: &[Provider],
    health: &[Health],
    mix: Mix,
    slo_s: f64,
    external_weight: u32,
    demand_rps: f64,
) -> Split {
    let mut order: Vec<usize> = (0..providers.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (providers[a].usd_per_request(mix), providers[b].usd_per_request(mix));
        pa.total_cmp(&pb).then(a.cmp(&b))
    });
    let mut parts: Vec<Part> =
        (0..providers.len()).map(|i| Part { provider: i, weight: 0, reason: String::new() }).collect();
    let mut left = external_weight.min(100);
    let mut first_eligible = true;
    for &i in &order {
        let p = &providers[i];
        if let Some((_, why)) = health.get(i).and_then(|h| h.out_since.as_ref()) {
            parts[i].reason = format!("{}: none, unhealthy ({why})", p.name);
            continue;
        }
        if p.latency_s > slo_s {
            parts[i].reason =
                format!("{}: none, its latency {:.1} s is over the SLO {:.1} s", p.name, p.latency_s, slo_s);
            continue;
        }
        let room = room_percent(p, mix, demand_rps);
        let take = left.min(room);
        parts[i].weight = take;
        left -= take;
        let price = format!("${:.4}/request", p.usd_per_request(mix));
        let rank = if first_eligible { "cheapest" } else { "next cheapest" };
        first_eligible = false;
        parts[i].reason = match (take, take == room) {
            (0, _) if room == 0 => format!("{}: none, no room within its limits ({price})", p.name),
            (0, _) => format!("{}: none needed ({price})", p.name),
            (_, true) => format!("{}: {take}% ({rank}, {price}, at its limit)", p.name),
            (_, false) => format!("{}: {take}% ({rank}, {price}, under its limit)", p.name),
        };
    }
    Split { parts, unplaced: left }
}

/// Whole percent of the pool's traffic a provider may take: its share, and its rate limit at the demand.
fn room_percent(p: &Provider, mix: Mix, demand_rps: f64) -> u32 {
    let mut share = p.max_share.clamp(0.0, 1.0);
    let limit = p.limit_rps(mix);
    if limit.is_finite() && demand_rps > 0.0 {
        share = share.min(limit / demand_rps);
    }
    (share * 100.0 + 1e-6).floor().clamp(0.0, 100.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2026 price table: $0.06, $0.05 and $0.04 per million tokens.
    fn providers() -> Vec<Provider> {
        let p = |name: &str, usd: f64, max_rps: Option<f64>| Provider {
            name: name.into(),
            input_usd_per_m: usd,
            output_usd_per_m: usd,
            max_share: 1.0,
            max_rps,
            max_tokens_per_minute: None,
            latency_s: 4.0,
        };
        vec![p("openai", 0.06, None), p("claude", 0.05, None), p("gemini", 0.04, Some(40.0))]
    }

    const MIX: Mix = Mix { prompt_tokens: 1000.0, output_tokens: 250.0 };

    fn healthy() -> Vec<Health> {
        vec![Health::default(); 3]
    }

    #[test]
    fn fills_cheapest_first_within_each_limit() {
        // 18% of 200 rps is 36 rps: gemini's 40 rps limit holds it all.
        let s = split(&providers(), &healthy(), MIX, 20.0, 18, 200.0);
        assert_eq!(s.weights(), [0, 0, 18]);
        assert_eq!(s.unplaced, 0);
        assert!(s.parts[2].reason.starts_with("gemini: 18% (cheapest,"), "{:?}", s.parts[2]);
        // 30% of 200 rps is 60: gemini takes its 40 (20%), claude the rest.
        let s = split(&providers(), &healthy(), MIX, 20.0, 30, 200.0);
        assert_eq!(s.weights(), [0, 10, 20]);
        assert!(s.parts[2].reason.contains("at its limit"), "{:?}", s.parts[2]);
        assert!(s.parts[1].reason.starts_with("claude: 10% (next cheapest"), "{:?}", s.parts[1]);
        assert_eq!(s.parts[0].reason, "openai: none needed ($0.0001/request)");
    }

    #[test]
    fn weights_add_up_or_the_rest_is_unplaced() {
        let mut ps = providers();
        for p in &mut ps {
            p.max_share = 0.1;
        }
        for ext in 0..=100 {
            let s = split(&ps, &healthy(), MIX, 20.0, ext, 200.0);
            assert_eq!(s.weights().iter().sum::<u32>() + s.unplaced, ext, "{s:?}");
            assert!(s.weights().iter().all(|w| *w <= 10), "{s:?}");
        }
    }

    #[test]
    fn token_limits_are_requests_at_the_mix() {
        let mut ps = providers();
        ps[2].max_rps = None;
        // 1,250 tokens a request: 1.5M tokens a minute is 20 rps, 10% of 200 rps.
        ps[2].max_tokens_per_minute = Some(1_500_000.0);
        let s = split(&ps, &healthy(), MIX, 20.0, 25, 200.0);
        assert_eq!(s.weights(), [0, 15, 10]);
    }

    #[test]
    fn an_unhealthy_or_too_slow_provider_gets_nothing_and_says_why() {
        let mut h = healthy();
        h[2].out_since = Some((0.0, "error ratio 12.0% > 5.0%".into()));
        let mut ps = providers();
        ps[1].latency_s = 25.0;
        let s = split(&ps, &h, MIX, 20.0, 18, 200.0);
        assert_eq!(s.weights(), [18, 0, 0]);
        assert_eq!(s.parts[2].reason, "gemini: none, unhealthy (error ratio 12.0% > 5.0%)");
        assert_eq!(s.parts[1].reason, "claude: none, its latency 25.0 s is over the SLO 20.0 s");
    }

    #[test]
    fn a_bad_provider_goes_at_once_and_comes_back_after_looking_well() {
        let p = &providers()[0];
        let rules = HealthRules::default();
        let bad = Observed { error_ratio: Some(0.2), latency_s: Some(3.0) };
        let well = Observed { error_ratio: Some(0.0), latency_s: Some(3.0) };
        let h = Health::default().update(p, well, &rules, 0.0);
        assert!(!h.is_out());
        let h = h.update(p, bad, &rules, 10.0);
        assert_eq!(h.out_since, Some((10.0, "error ratio 20.0% > 5.0%".into())));
        let h = h.update(p, well, &rules, 20.0);
        assert!(h.is_out(), "one good tick is not enough");
        let h = h.update(p, bad, &rules, 100.0);
        assert_eq!(h.well_since, None, "a relapse restarts the wait");
        let h = h.update(p, well, &rules, 110.0).update(p, well, &rules, 300.0);
        assert!(h.is_out());
        let h = h.update(p, well, &rules, 410.0);
        assert!(!h.is_out(), "well for 300 s: back in");
        let slow = Observed { error_ratio: None, latency_s: Some(9.0) };
        assert_eq!(
            Health::default().update(p, slow, &rules, 0.0).out_since,
            Some((0.0, "latency 9.0 s > 8.0 s".into()))
        );
    }
}
