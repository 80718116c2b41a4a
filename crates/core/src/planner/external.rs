//! The external providers' stage of a tick: remember each provider's health from the gateway's series,
//! narrow the external path to the healthy ones before the plan is made ([`PoolConfig::for_tick`]), and
//! split the plan's external weight across them after ([`providers::split`]), with a reason per
//! provider. Pure, like the rest of the planner.

use super::forecast;
use super::providers::{self, Health, Mix, ProviderSignal, Rates};
use super::snapshot::Sample;
use super::{ChangeKind, Memory, Plan, PoolConfig, Snapshot};

/// The live mean request: the mean prompt and output tokens if the signals have them (stale or not:
/// prices only rank the providers), else an empty mix (all providers then cost the same).
pub fn mix(s: &Snapshot) -> Mix {
    let v = |x: Option<Sample>| x.map_or(0.0, |s| if s.value.is_finite() { s.value.max(0.0) } else { 0.0 });
    Mix { prompt_tokens: v(s.load.mean_input_tokens), output_tokens: v(s.load.mean_output_tokens) }
}

/// The live mean request when both means are known (finite and not negative), for pricing.
pub fn known_mix(s: &Snapshot) -> Option<Mix> {
    let v = |x: Option<Sample>| x.map(|s| s.value).filter(|v| v.is_finite() && *v >= 0.0);
    Some(Mix { prompt_tokens: v(s.load.mean_input_tokens)?, output_tokens: v(s.load.mean_output_tokens)? })
}

/// Each provider's health after this tick's gateway readings, in the config's order. Health is kept by
/// name, so a provider added, removed or reordered keeps (or starts) its own record.
pub fn observe(config: &PoolConfig, snapshot: &Snapshot, memory: &mut Memory, now: f64) -> Vec<Health> {
    let health: Vec<Health> = config
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let before = memory.provider_health.iter().find(|(n, _)| *n == p.name).map(|(_, h)| h.clone());
            let seen = snapshot.provider_signals.get(i).copied().unwrap_or(ProviderSignal::default());
            before.unwrap_or_default().update(p, seen, &config.provider_health, config.slo_latency_s, now)
        })
        .collect();
    memory.provider_health = config.providers.iter().zip(&health).map(|(p, h)| (p.name.clone(), h.clone())).collect();
    health
}

/// Split the plan's external weight across the providers, keep on the replicas what none has room for,
/// and say per provider why it got its weight. `rate` is the request rate now (0 when unknown: then only
/// the shares limit); the recent peak comes from the rate history over the route's burst window.
pub fn route(config: &PoolConfig, snapshot: &Snapshot, health: &[Health], rate: f64, now: f64, plan: &mut Plan) {
    if config.providers.is_empty() {
        plan.providers = Vec::new();
        return;
    }
    let mix = mix(snapshot);
    let rates = if rate > 0.0 {
        let window = forecast::burst_window(config.stabilization_s, config.tick_s);
        Rates { now: rate, peak: forecast::recent_peak_of(&snapshot.load, now, rate, window) }
    } else {
        Rates::default()
    };
    let split = providers::split(
        &config.providers,
        &snapshot.prices.external,
        health,
        mix,
        config.slo_latency_s,
        plan.traffic.external_weight,
        rates,
    );
    let before = plan.traffic.external_weight;
    if split.unplaced > 0 && plan.traffic.self_hosted_weight + split.unplaced <= 100 && plan_has_replicas(snapshot) {
        plan.traffic.external_weight -= split.unplaced;
        plan.traffic.self_hosted_weight += split.unplaced;
    }
    let mut parts = split.parts;
    let placed: u32 = parts.iter().map(|p| p.weight).sum();
    if plan.traffic.external_weight > placed {
        // No ready replica: everything must go external, so what no provider has room for goes to the
        // one filled first (or the first listed when all are out) rather than to no endpoint at all.
        let to = config.external.as_ref().map_or(0, |e| e.priced_by).min(parts.len() - 1);
        let part = &mut parts[to];
        part.weight += plan.traffic.external_weight - placed;
        part.reason = format!("{}: {}% (over its limits: no replica is ready)", part.name, part.weight);
    }
    plan.providers = parts;
    let detail: Vec<String> = plan.providers.iter().map(|p| p.reason.clone()).collect();
    let moved = plan.provider_weights() != snapshot.provider_weights;
    let text = detail.join(", ");
    let unplaced = if plan.traffic.external_weight < before {
        format!("; {}% no provider has room for stays self-hosted", before - plan.traffic.external_weight)
    } else {
        String::new()
    };
    match plan.changes.iter_mut().find(|c| matches!(c.kind, ChangeKind::Traffic { .. })) {
        Some(change) => {
            change.kind = ChangeKind::Traffic {
                from_external: snapshot.traffic.external_weight,
                to_external: plan.traffic.external_weight,
            };
            if config.providers.len() > 1 || !unplaced.is_empty() {
                change.reason = format!("{}; {text}{unplaced}", change.reason);
            }
        }
        None if moved && config.providers.len() > 1 => plan.changes.push(super::Change {
            kind: ChangeKind::Traffic {
                from_external: snapshot.traffic.external_weight,
                to_external: plan.traffic.external_weight,
            },
            reason: format!("external {}% across providers: {text}{unplaced}", plan.traffic.external_weight),
        }),
        None => {}
    }
    if config.providers.len() > 1 && plan.traffic.external_weight > 0 {
        let parts: Vec<String> =
            plan.providers.iter().filter(|p| p.weight > 0).map(|p| format!("{}% {}", p.weight, p.name)).collect();
        plan.summary = format!("{} ({})", plan.summary, parts.join(", "));
    }
}

/// Whether any replica is ready: without one the route must send everything external, placed or not.
fn plan_has_replicas(s: &Snapshot) -> bool {
    s.classes.iter().any(|c| c.ready > c.interrupted.min(c.ready))
}

#[cfg(test)]
mod tests {
    use super::super::providers::{Provider, ProviderPrice, ProviderSignal};
    use super::super::tests::{T0, config, snapshot};
    use super::super::{Memory, PoolConfig, Snapshot, plan};

    /// Three providers at the prices ($0.04, $0.05 and $0.06 per million tokens); the cheapest
    /// may take 4 rps.
    fn three() -> (PoolConfig, Vec<ProviderPrice>) {
        let mut c = config();
        let p = |name: &str, max_rps: Option<f64>| Provider {
            name: name.into(),
            max_share: 1.0,
            max_rps,
            max_tokens_per_minute: None,
            latency_s: 2.0,
        };
        c.providers = vec![p("openai", None), p("gemini", Some(4.0)), p("claude", None)];
        let price =
            |name: &str, usd: f64| ProviderPrice { name: name.into(), input_token: usd / 1e6, output_token: usd / 1e6 };
        (c, vec![price("openai", 0.06), price("gemini", 0.04), price("claude", 0.05)])
    }

    /// 20 rps against two ready reserved replicas of 5 rps: half of it must go external.
    fn overloaded(prices: &[ProviderPrice]) -> Snapshot {
        let mut s = snapshot(|_| 20.0, [(2, 2), (0, 0), (0, 0)]);
        s.prices.external = prices.to_vec();
        s
    }

    #[test]
    fn the_external_share_goes_cheapest_first_within_each_limit_with_a_reason_each() {
        let (c, prices) = three();
        let p = plan(&c, &overloaded(&prices), &Memory::default(), T0);
        let external = p.traffic.external_weight;
        assert!(external >= 40, "{}", p.summary);
        // Gemini is cheapest and takes its 4 rps (20% of 20 rps); claude, next cheapest, the rest.
        assert_eq!(p.provider_weights(), [0, 20, external - 20], "{:?}", p.providers);
        assert!(p.providers[1].reason.starts_with("gemini: 20% (cheapest"), "{:?}", p.providers[1]);
        assert!(p.providers[1].reason.contains("at its limit of 4 rps"), "{:?}", p.providers[1]);
        assert!(p.summary.contains("20% gemini"), "{}", p.summary);
        let route = p.changes.iter().find(|c| c.reason.starts_with("external ")).expect("a route change");
        assert!(
            route.reason.contains("gemini: 20%") && route.reason.contains("openai: none needed"),
            "{}",
            route.reason
        );
    }

    #[test]
    fn a_failing_provider_loses_its_share_at_once_and_gets_it_back_after_looking_well() {
        let (c, prices) = three();
        let mut s = overloaded(&prices);
        let bad = ProviderSignal { error_ratio: Some(0.3), latency_s: Some(2.0) };
        s.provider_signals = vec![ProviderSignal::default(), bad, ProviderSignal::default()];
        let p = plan(&c, &s, &Memory::default(), T0);
        assert_eq!(p.provider_weights()[1], 0, "{:?}", p.providers);
        assert!(!p.providers[1].healthy);
        assert_eq!(p.providers[1].reason, "gemini: none, unhealthy (error ratio 30.0% > 5.0%)");
        assert_eq!(p.provider_weights().iter().sum::<u32>(), p.traffic.external_weight);
        // Well again: it stays out for recoverAfterSeconds (300 s by default), then comes back.
        s.provider_signals[1] = ProviderSignal { error_ratio: Some(0.0), latency_s: Some(2.0) };
        let at = |s: &mut Snapshot, before: &super::super::Plan, t: f64| {
            s.load.request_rate = Some(super::super::Sample { value: 20.0, at: t });
            s.traffic = before.traffic;
            s.provider_weights = before.provider_weights();
        };
        at(&mut s, &p, T0 + 15.0);
        let held = plan(&c, &s, &p.memory, T0 + 15.0);
        assert_eq!(held.provider_weights()[1], 0);
        at(&mut s, &held, T0 + 315.0);
        let back = plan(&c, &s, &held.memory, T0 + 315.0);
        assert_eq!(back.provider_weights()[1], 20, "{:?}", back.providers);
        assert!(back.changes.iter().any(|ch| ch.reason.contains("gemini: 20%")), "{:?}", back.changes);
    }

    #[test]
    fn with_every_provider_out_there_is_no_external_path() {
        let (c, prices) = three();
        let mut s = overloaded(&prices);
        let bad = ProviderSignal { error_ratio: Some(1.0), latency_s: None };
        s.provider_signals = vec![bad; 3];
        let p = plan(&c, &s, &Memory::default(), T0);
        assert_eq!(p.traffic.external_weight, 0, "{}", p.summary);
        assert!(p.replicas.total() > 2, "the replicas must take the load: {}", p.summary);
    }
}
