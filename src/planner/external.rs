//! The external providers' stage of a tick: remember each provider's health from the gateway's series,
//! narrow the external path to the healthy ones before the plan is made ([`PoolConfig::for_tick`]), and
//! split the plan's external weight across them after ([`providers::split`]), with a reason per
//! provider. Pure, like the rest of the planner.

use super::providers::{self, Health, Mix, Observed};
use super::snapshot::Sample;
use super::{ChangeKind, Memory, Plan, PoolConfig, Snapshot};

/// The live mean request: the mean prompt and output tokens if the signals have them (stale or not:
/// prices only rank the providers), else an empty mix (all providers then cost the same).
pub fn mix(s: &Snapshot) -> Mix {
    let v = |x: Option<Sample>| x.map_or(0.0, |s| if s.value.is_finite() { s.value.max(0.0) } else { 0.0 });
    Mix { prompt_tokens: v(s.load.mean_input_tokens), output_tokens: v(s.load.mean_output_tokens) }
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
            let seen = snapshot.provider_signals.get(i).copied().unwrap_or(Observed::default());
            before.unwrap_or_default().update(p, seen, &config.provider_health, config.slo_latency_s, now)
        })
        .collect();
    memory.provider_health = config.providers.iter().zip(&health).map(|(p, h)| (p.name.clone(), h.clone())).collect();
    health
}

/// Split the plan's external weight across the providers, keep on the replicas what none has room for,
/// and say per provider why it got its weight. `demand_rps` is the rate the limits are judged at (the
/// rate now; 0 when unknown, and only the shares limit).
pub fn route(config: &PoolConfig, snapshot: &Snapshot, health: &[Health], demand_rps: f64, plan: &mut Plan) {
    if config.providers.is_empty() {
        plan.providers = Vec::new();
        return;
    }
    let mix = mix(snapshot);
    let split = providers::split(
        &config.providers,
        &snapshot.prices.external,
        health,
        mix,
        config.slo_latency_s,
        plan.traffic.external_weight,
        demand_rps,
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
