//! What a plan costs per hour once its replicas are ready: their GPUs plus the external share the
//! route would then need. The fresh path judges budget additions with it, [`usd_per_hour`] prices any
//! replica counts as [`plan`](super::plan) would (the ledger's projections, the simulator, the budget
//! property), and [`node_pool_gpus`] turns replicas into the GPUs their node pools must offer.

use super::economics::Economics;
use super::external;
use super::forecast;
use super::tick::{ClassCounts, fresh_rate, overload_economics};
use super::{Memory, PoolConfig, Snapshot, traffic};
use crate::status::PerClass;

pub(crate) fn ext_usd_per_hour(econ: &Economics, ext_rps: f64) -> f64 {
    econ.ext_cost_per_request.map_or(0.0, |c| c * ext_rps * 3600.0)
}

/// The burn of replica counts once they are ready: their GPUs plus the external share the route would
/// then need at the current demand (a replica that takes load off a dearer external API lowers it).
/// `rates` is the current rate and the recent peak the weights are set for; without them, GPUs only.
pub(crate) fn burn(
    config: &PoolConfig,
    econ: &Economics,
    obs: &ClassCounts,
    rates: Option<(f64, f64)>,
    t: &PerClass<u32>,
) -> f64 {
    let gpus = econ.gpu_usd_per_hour(*t);
    let Some((rate, peak)) = rates else { return gpus };
    let healthy_cap = f64::from(t.iter().sum::<u32>().saturating_sub(obs.interrupted_total())) * econ.mu;
    let w = traffic::weights(config, peak.max(rate), rate, healthy_cap);
    gpus + ext_usd_per_hour(econ, rate * f64::from(w.external_weight) / 100.0)
}

/// What `replicas` would cost per hour once ready, priced as [`plan`](super::plan()) prices its own `usd_per_hour`:
/// for the ledger's projections, the simulator and checks that additions stay within budget.
pub fn usd_per_hour(
    config: &PoolConfig,
    snapshot: &Snapshot,
    memory: &Memory,
    now: f64,
    replicas: PerClass<u32>,
) -> f64 {
    // The external path of this tick, as `plan` narrows it to the healthy providers.
    let health = external::observe(config, snapshot, &mut memory.clone(), now);
    let config = &config.for_tick(&snapshot.prices, &health, external::mix(snapshot));
    let believed = Economics::new(config, snapshot, memory);
    let obs = ClassCounts::new(snapshot);
    let capped = fresh_rate(config, snapshot, now)
        .ok()
        .and_then(|rate| overload_economics(config, snapshot, memory, &believed, &obs, now, rate).0);
    let econ = capped.unwrap_or(believed);
    let rates = fresh_rate(config, snapshot, now).ok().map(|rate| {
        let burst = forecast::burst_window(config.stabilization_s, config.tick_s);
        (rate, forecast::recent_peak_of(&snapshot.load, now, rate, burst))
    });
    burn(config, &econ, &obs, rates, &replicas)
}

/// GPUs the node pool of a class must offer for its replicas, in whole nodes: replicas are packed
/// `gpus_per_node / gpus_per_replica` to a node, and a replica larger than a node takes whole nodes.
pub fn node_pool_gpus(config: &PoolConfig, replicas: PerClass<u32>) -> PerClass<u32> {
    let g = config.gpus_per_replica.max(1);
    PerClass::from_fn(|c| {
        let n = replicas[c];
        match config.class(c).and_then(|cc| cc.gpus_per_node) {
            Some(per_node) if per_node > 0 => {
                let nodes =
                    if g <= per_node { n.div_ceil(per_node / g) } else { n.saturating_mul(g.div_ceil(per_node)) };
                nodes.saturating_mul(per_node)
            }
            _ => n.saturating_mul(g),
        }
    })
}
