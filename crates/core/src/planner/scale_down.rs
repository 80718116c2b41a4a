//! Scale-down as rent-or-buy: a class goes below what runs only to the highest count recommended
//! within its keep window, at most `max_scale_down_step` replicas per tick. The window is the
//! ski-rental keep time (see [`Economics::keep_s`]) bounded below by the policy's stabilisation window
//! and above by its idle period. Replicas idle for the whole idle period are released at once, down
//! to the minimum.

use super::economics::Economics;
use super::{Class, Memory, PerClass, PoolConfig};

/// Most recommendations kept (status bounds the list at 512).
const MAX_RECOMMENDATIONS: usize = 500;

/// Keep window per class, seconds.
pub fn windows(config: &PoolConfig, econ: &Economics) -> [f64; 3] {
    let stab = config.stabilization_s.max(0.0);
    let upper = stab.max(config.idle_s);
    Class::ALL.map(|c| {
        let keep = econ.keep_s(c);
        if keep.is_finite() { keep.clamp(stab, upper) } else { stab }
    })
}

/// Record this tick's raw recommendation and drop what can no longer matter: entries older than the
/// longest window, and entries no higher in any class than the new one (they can never again be a
/// window's maximum). The list stays short: it only grows while recommendations fall.
pub fn record(memory: &mut Memory, now: f64, raw: [u32; 3], longest_window: f64) {
    let recs = &mut memory.recommendations;
    recs.retain(|(t, r)| *t >= now - longest_window && *t <= now && !dominated(r, &raw));
    recs.push((now, to_class(raw)));
    if recs.len() > MAX_RECOMMENDATIONS {
        let extra = recs.len() - MAX_RECOMMENDATIONS;
        recs.drain(..extra);
    }
}

fn dominated(r: &PerClass<u32>, by: &[u32; 3]) -> bool {
    Class::ALL.iter().all(|c| r.get(*c) <= by[*c as usize])
}

/// Counts as an array indexed by `Class as usize`.
pub fn to_array(r: &PerClass<u32>) -> [u32; 3] {
    Class::ALL.map(|c| r.get(c))
}

/// Counts as [`PerClass<u32>`].
pub fn to_class(r: [u32; 3]) -> PerClass<u32> {
    PerClass { reserved: r[0], spot: r[1], on_demand: r[2] }
}

/// Highest count recommended for each class within its window (including this tick's, which must
/// already be recorded).
pub fn window_max(memory: &Memory, now: f64, windows: [f64; 3]) -> [u32; 3] {
    let mut m = [0u32; 3];
    for (t, r) in &memory.recommendations {
        for c in Class::ALL {
            let i = c as usize;
            if *t >= now - windows[i] {
                m[i] = m[i].max(r.get(c));
            }
        }
    }
    m
}

/// Why a class did not fall all the way to its raw target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damping {
    /// No scale-down, or it went all the way.
    None,
    /// Held by a higher recommendation within the window.
    Window,
    /// Limited by the per-tick step.
    Step,
    /// Kept because the replicas meant to take over are not ready yet (make before break).
    Bridge,
}

/// Make before break: never let ready replicas go while the healthy ready capacity left would fall
/// below what the raw targets want (their replacements in another class are still starting). Ready
/// replicas being removed are kept, cheapest class first, until enough are ready elsewhere.
pub fn bridge(
    target: &mut [u32; 3],
    why: &mut [Damping; 3],
    raw: [u32; 3],
    desired: [u32; 3],
    healthy_ready: [u32; 3],
    interrupted: [u32; 3],
) {
    let want: u32 = raw.iter().sum::<u32>().saturating_sub(interrupted.iter().sum());
    let mut ready_after: u32 = (0..3).map(|i| target[i].min(healthy_ready[i])).sum();
    for i in 0..3 {
        while ready_after < want && target[i] < desired[i] && target[i] < healthy_ready[i] {
            target[i] += 1;
            ready_after += 1;
            why[i] = Damping::Bridge;
        }
    }
}

/// Damp scale-down. `idle_release` lets idle classes drop straight to their raw targets.
pub fn damp(
    config: &PoolConfig,
    raw: [u32; 3],
    desired: [u32; 3],
    wmax: [u32; 3],
    idle_release: bool,
) -> ([u32; 3], [Damping; 3]) {
    let mut out = raw;
    let mut why = [Damping::None; 3];
    for i in 0..3 {
        if raw[i] >= desired[i] || idle_release {
            continue;
        }
        let by_window = wmax[i].min(desired[i]);
        let by_step = desired[i].saturating_sub(config.max_scale_down_step.max(1));
        out[i] = raw[i].max(by_window).max(by_step);
        why[i] = if out[i] == raw[i] {
            Damping::None
        } else if by_window >= by_step {
            Damping::Window
        } else {
            Damping::Step
        };
    }
    (out, why)
}
