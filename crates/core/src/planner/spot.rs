//! Spot interruptions: count new notices once, keep an hour of history, and halve the spot share
//! while the rate is above the policy's threshold. Spot asked for and not arriving: when it counts as
//! unavailable ([`scarcity`]) and what replaces it ([`shortage`]).

use super::economics::Economics;
use super::{Class, Memory, PoolConfig, Snapshot};

/// Interruption history kept, seconds.
const HISTORY_S: f64 = 3600.0;
/// Most interruption times kept (status bounds the list at 64).
const MAX_KEPT: usize = 64;

/// Record notices that were not there at the last tick. Returns how many are new.
pub fn record(memory: &mut Memory, snapshot: &Snapshot, now: f64) -> u32 {
    let spot = &snapshot.classes[Class::Spot];
    let seen_now = spot.interrupted.min(spot.ready);
    let new = seen_now.saturating_sub(memory.interrupted_seen);
    memory.interrupted_seen = seen_now;
    memory.spot_interruptions.retain(|t| *t > now - HISTORY_S && *t <= now);
    for _ in 0..new.min(MAX_KEPT as u32) {
        memory.spot_interruptions.push(now);
    }
    if memory.spot_interruptions.len() > MAX_KEPT {
        let extra = memory.spot_interruptions.len() - MAX_KEPT;
        memory.spot_interruptions.drain(..extra);
    }
    new
}

/// Interruptions in the last hour.
pub fn per_hour(memory: &Memory) -> f64 {
    memory.spot_interruptions.len() as f64
}

/// The spot fraction in force: halved while interruptions come more often than the threshold.
pub fn fraction(config: &PoolConfig, memory: &Memory) -> (f64, bool) {
    let f = config.max_spot_fraction.clamp(0.0, 1.0);
    if per_hour(memory) > config.interruptions_per_hour_threshold { (f / 2.0, true) } else { (f, false) }
}

/// How long spot stays "unavailable" once detected before it is tried again, seconds.
pub const SCARCE_RETRY_S: f64 = 1800.0;

/// Track spot replicas that were asked for but never became ready. Pending for more than two lead
/// times means the spot market has no capacity: spot then counts as unavailable for half an hour (or
/// two lead times, if longer), so on-demand takes its place instead of the external API covering a gap
/// that will not close. Returns whether spot is unavailable now.
pub fn scarcity(memory: &mut Memory, snapshot: &Snapshot, now: f64, lead_s: f64) -> bool {
    let spot = &snapshot.classes[Class::Spot];
    if spot.desired > spot.ready {
        let since = *memory.spot_pending_since.get_or_insert(now);
        if now - since > 2.0 * lead_s.max(60.0) {
            memory.spot_scarce_until = Some(now + SCARCE_RETRY_S.max(2.0 * lead_s));
            memory.spot_pending_since = None;
        }
    } else {
        memory.spot_pending_since = None;
    }
    match memory.spot_scarce_until {
        Some(until) if now < until => true,
        Some(_) => {
            memory.spot_scarce_until = None;
            false
        }
        None => false,
    }
}

/// What replaces spot that was asked for and does not arrive ([`scarcity`]): one answer per tick, read
/// by the fill (`allocate::Bounds`), the stabilisation (`sizing`) and the reasons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shortage {
    /// Spot arrives, or the external API alone carries the pending spot's share.
    #[default]
    None,
    /// No external API can bridge: the pending spot is cancelled and on-demand replaces it.
    Replaced,
    /// The external API bridges, and on-demand is bought for the load it pays by its own buy rule,
    /// the spot still asked for (`allocate::targets`).
    Bridged,
}

/// What to do about spot that counts as unavailable (`scarce`), given this tick's economics and
/// on-demand's rent-or-buy window.
///
/// Spot that never arrives is replaced by on-demand outright only where no external API can bridge: in
/// the simulator, on-demand brought in and out around an intermittent spot market cost more and met the
/// SLO less often than letting the external API carry the pending spot share (ServeGen m-mid on the
/// SkyPilot V100 availability trace: $132.6k at 99.78% against $128.2k at 99.92%). Where the API
/// bridges, on-demand still replaces the pending spot for the load it pays, if a fully loaded on-demand
/// replica repays its start-up and window within the scarcity period: where on-demand barely pays
/// against the API (u* 0.8), a replica bought for a gap that closes within the half hour does not
/// repay. In the simulator's capacity matrix (the V100 spot trace, a premium API) this made ServeGen
/// m-mid 4.6% cheaper and Mooncake 6-7%, the main matrix unchanged.
pub fn shortage(scarce: bool, econ: &Economics, on_demand_window_s: f64) -> Shortage {
    if !scarce {
        Shortage::None
    } else if !econ.external_substitutes() {
        Shortage::Replaced
    } else if econ.buy_after_load_s(Class::OnDemand, on_demand_window_s, 1.0) <= SCARCE_RETRY_S {
        Shortage::Bridged
    } else {
        Shortage::None
    }
}
