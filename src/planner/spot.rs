//! Spot interruptions: count new notices once, keep an hour of history, and halve the spot share
//! while the rate is above the policy's threshold.

use super::{Memory, PoolConfig, Snapshot};

/// Interruption history kept, seconds.
const HISTORY_S: f64 = 3600.0;
/// Most interruption times kept (status bounds the list at 64).
const MAX_KEPT: usize = 64;

/// Record notices that were not there at the last tick. Returns how many are new.
pub fn record(memory: &mut Memory, snapshot: &Snapshot, now: f64) -> u32 {
    let seen_now: u32 = snapshot.classes.iter().map(|c| c.interrupted.min(c.ready)).sum();
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
