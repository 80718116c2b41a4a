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
pub fn windows(config: &PoolConfig, econ: &Economics) -> PerClass<f64> {
    let stab = config.stabilization_s.max(0.0);
    let upper = stab.max(config.idle_s);
    PerClass::from_fn(|c| {
        let keep = econ.keep_s(c);
        if keep.is_finite() { keep.clamp(stab, upper) } else { stab }
    })
}

/// Record this tick's raw recommendation and drop what can no longer matter: entries older than the
/// longest window, and entries no higher in any class than the new one (they can never again be a
/// window's maximum). The list stays short: it only grows while recommendations fall.
pub fn record(memory: &mut Memory, now: f64, raw: PerClass<u32>, longest_window: f64) {
    let recs = &mut memory.recommendations;
    recs.retain(|(t, r)| *t >= now - longest_window && *t <= now && !dominated(r, &raw));
    recs.push((now, raw));
    if recs.len() > MAX_RECOMMENDATIONS {
        let extra = recs.len() - MAX_RECOMMENDATIONS;
        recs.drain(..extra);
    }
}

fn dominated(r: &PerClass<u32>, by: &PerClass<u32>) -> bool {
    Class::ALL.iter().all(|c| r[*c] <= by[*c])
}

/// Highest count recommended for each class within its window (including this tick's, which must
/// already be recorded).
pub fn window_max(memory: &Memory, now: f64, windows: PerClass<f64>) -> PerClass<u32> {
    let mut m = PerClass::<u32>::default();
    for (t, r) in &memory.recommendations {
        for c in Class::ALL {
            if *t >= now - windows[c] {
                m[c] = m[c].max(r[c]);
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
    target: &mut PerClass<u32>,
    why: &mut PerClass<Damping>,
    raw: PerClass<u32>,
    desired: PerClass<u32>,
    healthy_ready: PerClass<u32>,
    interrupted: PerClass<u32>,
) {
    let want: u32 = raw.iter().sum::<u32>().saturating_sub(interrupted.iter().sum());
    let mut ready_after: u32 = Class::ALL.into_iter().map(|c| target[c].min(healthy_ready[c])).sum();
    for c in Class::ALL {
        while ready_after < want && target[c] < desired[c] && target[c] < healthy_ready[c] {
            target[c] += 1;
            ready_after += 1;
            why[c] = Damping::Bridge;
        }
    }
}

/// Damp scale-down. `idle_release` lets idle classes drop straight to their raw targets.
pub fn damp(
    config: &PoolConfig,
    raw: PerClass<u32>,
    desired: PerClass<u32>,
    wmax: PerClass<u32>,
    idle_release: bool,
) -> (PerClass<u32>, PerClass<Damping>) {
    let mut out = raw;
    let mut why = PerClass::splat(Damping::None);
    for c in Class::ALL {
        if raw[c] >= desired[c] || idle_release {
            continue;
        }
        let by_window = wmax[c].min(desired[c]);
        let by_step = desired[c].saturating_sub(config.max_scale_down_step.max(1));
        out[c] = raw[c].max(by_window).max(by_step);
        why[c] = if out[c] == raw[c] {
            Damping::None
        } else if by_window >= by_step {
            Damping::Window
        } else {
            Damping::Step
        };
    }
    (out, why)
}
