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

/// One external provider as the planner sees it. Its prices are live ([`ProviderPrice`] in the
/// snapshot, same order), the rest is configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// Unique name within the pool (used in reasons, status and metrics).
    pub name: String,
    /// Largest share of the pool's requests this provider may take (0..1).
    pub max_share: f64,
    /// Its rate limit, requests per second.
    pub max_rps: Option<f64>,
    /// Its token limit, tokens (prompt plus output) per minute.
    pub max_tokens_per_minute: Option<f64>,
    /// Typical end-to-end latency, seconds (0: not given, taken to be within the SLO).
    pub latency_s: f64,
}

/// A provider's prices in force at this tick, USD per token.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderPrice {
    /// The provider's name (the same as its [`Provider::name`]).
    pub name: String,
    /// USD per prompt token.
    pub input_token: f64,
    /// USD per output token.
    pub output_token: f64,
}

impl ProviderPrice {
    /// USD per request at a token mix.
    pub fn usd_per_request(&self, mix: Mix) -> f64 {
        mix.prompt_tokens.max(0.0) * self.input_token.max(0.0) + mix.output_tokens.max(0.0) * self.output_token.max(0.0)
    }
}

/// The mean request of the live token mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mix {
    pub prompt_tokens: f64,
    pub output_tokens: f64,
}

impl Provider {
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

    /// Whether its typical latency meets the SLO (unknown latency is taken to).
    pub fn meets_slo(&self, slo_s: f64) -> bool {
        self.latency_s <= slo_s
    }

    /// The latency above which it counts as unhealthy: `factor` times its typical latency, or the SLO
    /// when no typical latency is given.
    pub fn latency_limit(&self, rules: &HealthRules, slo_s: f64) -> f64 {
        if self.latency_s > 0.0 { rules.max_latency_factor * self.latency_s } else { slo_s }
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

/// What the gateway's series say of one provider's health this tick (`None`: no such series or no
/// traffic): the evidence [`Health::update`] judges, not the cluster's observed state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProviderSignal {
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
    pub fn update(&self, p: &Provider, seen: ProviderSignal, rules: &HealthRules, slo_s: f64, now: f64) -> Health {
        let latency_limit = p.latency_limit(rules, slo_s);
        let bad = match (seen.error_ratio, seen.latency_s) {
            (Some(e), _) if e > rules.max_error_ratio => {
                Some(format!("error ratio {:.1}% > {:.1}%", e * 100.0, rules.max_error_ratio * 100.0))
            }
            (_, Some(l)) if l > latency_limit => Some(format!("latency {l:.1} s > {latency_limit:.1} s")),
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
    /// The provider's name.
    pub name: String,
    /// Whether it may take traffic now (not kept out for its errors or latency).
    pub healthy: bool,
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

/// Split `external_weight` percent of the pool's traffic across the providers: eligible (healthy) ones
/// only, those within the SLO before those over it, cheapest first, each within its share and limits.
/// `prices` and `health` are parallel to `providers`; `slo_s` is the pool's SLO latency.
///
/// A provider's rate limits are judged twice. First at `rates.peak` (the recent peak the route's
/// weights are set for): a burst before the next tick must not run the cheap provider into its quota
/// while a dearer one had room (its requests would be rejected, not queued). What is left is then placed
/// within the limits at `rates.now`, as the external path as a whole is (`traffic.rs`): a request over
/// a quota fails on its own, one over the replicas' capacity delays every request behind it.
pub fn split(
    providers: &[Provider],
    prices: &[ProviderPrice],
    health: &[Health],
    mix: Mix,
    slo_s: f64,
    external_weight: u32,
    rates: Rates,
) -> Split {
    let price = |i: usize| prices.get(i).map_or(f64::INFINITY, |p| p.usd_per_request(mix));
    let mut order: Vec<usize> = (0..providers.len()).collect();
    order.sort_by(|&a, &b| {
        let slow = |i: usize| !providers[i].meets_slo(slo_s);
        slow(a).cmp(&slow(b)).then(price(a).total_cmp(&price(b))).then(a.cmp(&b))
    });
    let out = |i: usize| health.get(i).and_then(|h| h.out_since.as_ref());
    let mut parts: Vec<Part> = (0..providers.len())
        .map(|i| Part {
            provider: i,
            name: providers[i].name.clone(),
            healthy: out(i).is_none(),
            weight: 0,
            reason: String::new(),
        })
        .collect();
    let mut left = external_weight.min(100);
    for demand in [rates.peak.max(rates.now), rates.now] {
        for &i in order.iter().filter(|&&i| out(i).is_none()) {
            let take = left.min(room_percent(&providers[i], mix, demand).saturating_sub(parts[i].weight));
            parts[i].weight += take;
            left -= take;
        }
    }
    let mut rank = 0;
    for &i in &order {
        let p = &providers[i];
        if let Some((_, why)) = out(i) {
            parts[i].reason = format!("{}: none, unhealthy ({why})", p.name);
            continue;
        }
        let (take, room) = (parts[i].weight, room_percent(p, mix, rates.now));
        let usd = format!("${}/1k requests", sig3(price(i) * 1000.0));
        let what = match (p.meets_slo(slo_s), rank) {
            (false, _) => format!("{usd}, its latency {:.1} s is over the SLO: last resort", p.latency_s),
            (true, 0) => format!("cheapest, {usd}"),
            (true, _) => format!("next cheapest, {usd}"),
        };
        rank += 1;
        let limit = limit_note(p, mix, rates.now);
        parts[i].reason = match (take, take >= room) {
            (0, _) if room == 0 => format!("{}: none, no room within its limits ({what})", p.name),
            (0, _) => format!("{}: none needed ({what})", p.name),
            (_, true) => format!("{}: {take}% ({what}, at its {limit})", p.name),
            (_, false) => format!("{}: {take}% ({what}, under its {limit})", p.name),
        };
    }
    Split { parts, unplaced: left }
}

/// The request rates a split is judged at: now, and the recent peak the route's weights are set for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub now: f64,
    pub peak: f64,
}

/// Three significant digits, for prices that span cents to fractions of a cent.
fn sig3(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        return "0".into();
    }
    let decimals = (2 - x.log10().floor() as i32).clamp(0, 9) as usize;
    format!("{x:.decimals$}")
}

/// Which limit binds: "limit of 40 rps" when its rate or token limit is below its share of the demand,
/// else "max share 40%" (also while the demand is unknown and only the share can be judged).
fn limit_note(p: &Provider, mix: Mix, demand_rps: f64) -> String {
    let l = p.limit_rps(mix);
    let share = p.max_share.clamp(0.0, 1.0);
    if l.is_finite() && demand_rps > 0.0 && l < share * demand_rps {
        format!("limit of {l:.0} rps")
    } else {
        format!("max share {:.0}%", share * 100.0)
    }
}

/// The providers taken together, as the rest of the planner sees the external path this tick: the
/// eligible (healthy) providers' shares and limits added up, the fastest one's latency, and the
/// cheapest one's price (the first filled). `None` when no provider is eligible.
pub fn together(
    providers: &[Provider],
    prices: &[ProviderPrice],
    health: &[Health],
    mix: Mix,
    slo_s: f64,
) -> Option<Together> {
    let eligible: Vec<usize> = (0..providers.len()).filter(|&i| !health.get(i).is_some_and(Health::is_out)).collect();
    let first = *eligible.iter().min_by(|&&a, &&b| {
        let key = |i: usize| {
            (!providers[i].meets_slo(slo_s), prices.get(i).map_or(f64::INFINITY, |p| p.usd_per_request(mix)))
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    })?;
    let max_share = eligible.iter().map(|&i| providers[i].max_share.clamp(0.0, 1.0)).sum::<f64>().min(1.0);
    let limits: Vec<f64> = eligible.iter().map(|&i| providers[i].limit_rps(mix)).collect();
    let max_rps = if limits.iter().all(|l| l.is_finite()) { Some(limits.iter().sum()) } else { None };
    let latency_s = eligible.iter().map(|&i| providers[i].latency_s).fold(f64::INFINITY, f64::min);
    Some(Together { max_share, max_rps, latency_s, priced_by: first })
}

/// The eligible providers taken together ([`together`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Together {
    /// Sum of their shares, at most 1.
    pub max_share: f64,
    /// Sum of their rate limits at the mix; `None` when one of them has none.
    pub max_rps: Option<f64>,
    /// The fastest one's typical latency.
    pub latency_s: f64,
    /// Index of the provider filled first: the external path is priced at its price.
    pub priced_by: usize,
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
        let p = |name: &str, max_rps: Option<f64>| Provider {
            name: name.into(),
            max_share: 1.0,
            max_rps,
            max_tokens_per_minute: None,
            latency_s: 4.0,
        };
        vec![p("openai", None), p("claude", None), p("gemini", Some(40.0))]
    }

    fn prices() -> Vec<ProviderPrice> {
        let p =
            |name: &str, usd: f64| ProviderPrice { name: name.into(), input_token: usd / 1e6, output_token: usd / 1e6 };
        vec![p("openai", 0.06), p("claude", 0.05), p("gemini", 0.04)]
    }

    const MIX: Mix = Mix { prompt_tokens: 1000.0, output_tokens: 250.0 };

    fn at(rps: f64) -> Rates {
        Rates { now: rps, peak: rps }
    }

    #[test]
    fn a_quota_is_judged_at_the_recent_peak_first() {
        // 200 rps now after a 400 rps burst: gemini's 40 rps is 10% of the peak, so claude takes the rest
        // of 30%; at the rate now gemini could have taken 20%, and would have been over its quota in the
        // next burst.
        let s = split(&providers(), &prices(), &healthy(), MIX, 20.0, 30, Rates { now: 200.0, peak: 400.0 });
        assert_eq!(s.weights(), [0, 20, 10]);
        // With only gemini: what the peak leaves is placed within its quota at the rate now.
        let mut h = healthy();
        h[0].out_since = Some((0.0, "down".into()));
        h[1].out_since = Some((0.0, "down".into()));
        let s = split(&providers(), &prices(), &h, MIX, 20.0, 30, Rates { now: 200.0, peak: 400.0 });
        assert_eq!((s.weights(), s.unplaced), (vec![0, 0, 20], 10));
    }

    fn healthy() -> Vec<Health> {
        vec![Health::default(); 3]
    }

    #[test]
    fn fills_cheapest_first_within_each_limit() {
        // 18% of 200 rps is 36 rps: gemini's 40 rps limit holds it all.
        let s = split(&providers(), &prices(), &healthy(), MIX, 20.0, 18, at(200.0));
        assert_eq!(s.weights(), [0, 0, 18]);
        assert_eq!(s.unplaced, 0);
        assert!(s.parts[2].reason.starts_with("gemini: 18% (cheapest,"), "{:?}", s.parts[2]);
        assert!(s.parts[2].reason.ends_with("under its limit of 40 rps)"), "{:?}", s.parts[2]);
        // 30% of 200 rps is 60: gemini takes its 40 (20%), claude the rest.
        let s = split(&providers(), &prices(), &healthy(), MIX, 20.0, 30, at(200.0));
        assert_eq!(s.weights(), [0, 10, 20]);
        assert!(s.parts[2].reason.contains("at its limit"), "{:?}", s.parts[2]);
        assert!(s.parts[1].reason.starts_with("claude: 10% (next cheapest"), "{:?}", s.parts[1]);
        assert_eq!(s.parts[0].reason, "openai: none needed (next cheapest, $0.0750/1k requests)");
    }

    #[test]
    fn weights_add_up_or_the_rest_is_unplaced() {
        let mut ps = providers();
        for p in &mut ps {
            p.max_share = 0.1;
        }
        for ext in 0..=100 {
            let s = split(&ps, &prices(), &healthy(), MIX, 20.0, ext, at(200.0));
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
        let s = split(&ps, &prices(), &healthy(), MIX, 20.0, 25, at(200.0));
        assert_eq!(s.weights(), [0, 15, 10]);
    }

    #[test]
    fn an_unhealthy_provider_gets_nothing_and_a_slow_one_only_what_the_others_cannot_take() {
        let mut h = healthy();
        h[2].out_since = Some((0.0, "error ratio 12.0% > 5.0%".into()));
        let mut ps = providers();
        ps[1].latency_s = 25.0;
        let s = split(&ps, &prices(), &h, MIX, 20.0, 18, at(200.0));
        assert_eq!(s.weights(), [18, 0, 0]);
        assert_eq!(s.parts[2].reason, "gemini: none, unhealthy (error ratio 12.0% > 5.0%)");
        assert!(!s.parts[2].healthy && s.parts[0].healthy);
        assert!(s.parts[1].reason.contains("over the SLO: last resort"), "{:?}", s.parts[1]);
        // The fast one limited to 10%: the slow one takes the rest rather than nobody.
        ps[0].max_share = 0.1;
        let s = split(&ps, &prices(), &h, MIX, 20.0, 18, at(200.0));
        assert_eq!(s.weights(), [10, 8, 0]);
    }

    #[test]
    fn together_adds_up_the_healthy_and_prices_at_the_first_filled() {
        let t = together(&providers(), &prices(), &healthy(), MIX, 20.0).unwrap();
        assert_eq!(t.priced_by, 2, "gemini is cheapest");
        assert_eq!(t.max_rps, None, "openai and claude have no limit");
        assert_eq!(t.max_share, 1.0);
        let mut h = healthy();
        h[0].out_since = Some((0.0, "down".into()));
        h[1].out_since = Some((0.0, "down".into()));
        let t = together(&providers(), &prices(), &h, MIX, 20.0).unwrap();
        assert_eq!((t.priced_by, t.max_rps), (2, Some(40.0)), "only gemini is left");
        h[2].out_since = Some((0.0, "down".into()));
        assert_eq!(together(&providers(), &prices(), &h, MIX, 20.0), None, "nobody to send to");
    }

    #[test]
    fn a_bad_provider_goes_at_once_and_comes_back_after_looking_well() {
        let p = &providers()[0];
        let rules = HealthRules::default();
        let bad = ProviderSignal { error_ratio: Some(0.2), latency_s: Some(3.0) };
        let well = ProviderSignal { error_ratio: Some(0.0), latency_s: Some(3.0) };
        let h = Health::default().update(p, well, &rules, 20.0, 0.0);
        assert!(!h.is_out());
        let h = h.update(p, bad, &rules, 20.0, 10.0);
        assert_eq!(h.out_since, Some((10.0, "error ratio 20.0% > 5.0%".into())));
        let h = h.update(p, well, &rules, 20.0, 20.0);
        assert!(h.is_out(), "one good tick is not enough");
        let h = h.update(p, bad, &rules, 20.0, 100.0);
        assert_eq!(h.well_since, None, "a relapse restarts the wait");
        let h = h.update(p, well, &rules, 20.0, 110.0).update(p, well, &rules, 20.0, 300.0);
        assert!(h.is_out());
        let h = h.update(p, well, &rules, 20.0, 410.0);
        assert!(!h.is_out(), "well for 300 s: back in");
        let slow = ProviderSignal { error_ratio: None, latency_s: Some(9.0) };
        assert_eq!(
            Health::default().update(p, slow, &rules, 20.0, 0.0).out_since,
            Some((0.0, "latency 9.0 s > 8.0 s".into()))
        );
        // Without a typical latency, the SLO is the bar.
        let unknown = Provider { latency_s: 0.0, ..p.clone() };
        assert!(!Health::default().update(&unknown, slow, &rules, 20.0, 0.0).is_out());
        let late = ProviderSignal { error_ratio: None, latency_s: Some(21.0) };
        assert!(Health::default().update(&unknown, late, &rules, 20.0, 0.0).is_out());
    }
}
