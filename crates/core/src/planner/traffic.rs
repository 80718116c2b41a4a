//! Route weights. Self-hosted gets what the replicas that are ready (and not about to be interrupted
//! or removed) can serve within the SLO; the external API takes the rest, within its share and rate.
//! Weights follow READY capacity, never desired: a replica still starting serves nothing.

use super::{PoolConfig, TrafficWeights};

/// Weights for a demand and the self-hosted capacity that is ready for it. `demand_rps` is the rate the
/// weights are set for (the recent peak: they hold until the next tick); `now_rps` is the rate now.
///
/// - No external API: everything self-hosted (it is the only path).
/// - No ready capacity: everything external, even past the external share, because the self-hosted
///   backend has no endpoints and requests sent there would fail.
/// - Otherwise the overflow share at `demand_rps`, rounded up to a whole percent (rounding down would
///   overload the replicas), capped by the external share and by the rate limit at `now_rps`.
///
/// Why the rate limit is taken at the rate now and not at the peak: a request over the API's limit is
/// rejected on its own, while a request over the replicas' capacity queues and delays every request
/// behind it until the backlog drains. Capping the share by the limit at the peak sent the replicas,
/// between bursts, load the API could have taken, and the next burst then overflowed them for a whole
/// tick (Azure code with three reserved replicas against a 50 rps limit: 43.6% of requests within the
/// SLO, against 70.7% with the cap taken now).
pub fn weights(config: &PoolConfig, demand_rps: f64, now_rps: f64, ready_rps: f64) -> TrafficWeights {
    let Some(ext) = config.external_path() else {
        return TrafficWeights { self_hosted_weight: 100, external_weight: 0 };
    };
    if ready_rps <= 0.0 {
        return TrafficWeights { self_hosted_weight: 0, external_weight: 100 };
    }
    if demand_rps <= 0.0 || !demand_rps.is_finite() {
        return TrafficWeights::default();
    }
    let overflow = ((demand_rps - ready_rps) / demand_rps).clamp(0.0, 1.0);
    let mut cap = ext.max_share.clamp(0.0, 1.0);
    if let Some(r) = ext.max_rps {
        // No traffic now: nothing is over the limit now (the floor keeps a zero limit at zero).
        let limited = if now_rps.is_finite() { now_rps.min(demand_rps).max(1e-9) } else { demand_rps };
        cap = cap.min((r.max(0.0) / limited).clamp(0.0, 1.0));
    }
    let want = (overflow * 100.0 - 1e-6).ceil().max(0.0) as u32;
    let limit = (cap * 100.0 + 1e-6).floor() as u32;
    let external_weight = want.min(limit).min(100);
    TrafficWeights { self_hosted_weight: 100 - external_weight, external_weight }
}

/// Weights held while signals are stale: the current weights, except that interrupted replicas' share
/// moves to the external API at once, and traffic never goes to a path that cannot take it.
pub fn held(config: &PoolConfig, current: TrafficWeights, ready: u32, healthy: u32) -> TrafficWeights {
    let Some(ext) = config.external_path() else {
        return TrafficWeights { self_hosted_weight: 100, external_weight: 0 };
    };
    if healthy == 0 {
        return TrafficWeights { self_hosted_weight: 0, external_weight: 100 };
    }
    let cur_ext = current.external_weight.min(100);
    let mut ext_w = cur_ext;
    if healthy < ready {
        let moved = f64::from(100 - cur_ext) * f64::from(ready - healthy) / f64::from(ready);
        let limit = (ext.max_share.clamp(0.0, 1.0) * 100.0 + 1e-6).floor() as u32;
        ext_w = (cur_ext + moved.ceil() as u32).min(limit.max(cur_ext)).min(100);
    }
    TrafficWeights { self_hosted_weight: 100 - ext_w, external_weight: ext_w }
}
