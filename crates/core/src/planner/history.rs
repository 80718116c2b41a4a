//! The request-rate history the forecast reads, with an index that answers its window minima at once.
//!
//! Why: every tick the forecast asks for the least rate over a dozen windows, the longest four hours
//! (1,440 points at 10 s). Scanning each window made a replay of a fortnight (120,960 ticks) spend
//! about 1.5 s in the forecast alone. A sparse table (the least rate of every run of 2^k points) answers
//! any window in two lookups. Built from a list it costs n log n (the controller, once a tick); the
//! simulator keeps one across ticks and adds a point in log n ([`History::push`], [`History::keep_last`]).
//!
//! It reads as the plain list of points (it dereferences to the slice); the index only answers
//! [`History::min_rate`], which is exactly the minimum a scan of the window would find.

use std::cmp::Ordering;
use std::ops::Deref;

/// (Unix seconds, requests per second) points, oldest first, with a range-minimum index over the rates.
#[derive(Clone, Default)]
pub struct History {
    /// Every point held; those before `start` have left the history and are dropped in bulk.
    points: Vec<(f64, f64)>,
    start: usize,
    /// Index of the later point of the last pair out of time order (NaN times count as out of order).
    disorder: Option<usize>,
    /// `mins[k][i]`: the least finite rate among `points[i..i + 2^k]`, infinity when none is finite.
    mins: Vec<Vec<f64>>,
}

/// Points dropped from the front before the buffer is compacted (at least half of it, too).
const COMPACT_AFTER: usize = 256;

impl History {
    /// Add a point at the end (the newest).
    pub fn push(&mut self, t: f64, rps: f64) {
        if self.points.last().is_some_and(|&(last, _)| last.partial_cmp(&t).is_none_or(Ordering::is_gt)) {
            self.disorder = Some(self.points.len());
        }
        self.points.push((t, rps));
        let n = self.points.len();
        if self.mins.is_empty() {
            self.mins.push(Vec::new());
        }
        self.mins[0].push(if rps.is_finite() { rps } else { f64::INFINITY });
        let mut k = 1;
        while 1usize << k <= n {
            if self.mins.len() == k {
                self.mins.push(Vec::new());
            }
            // The run of 2^k points ending at the new one: two runs of 2^(k-1).
            let i = n - (1 << k);
            let (lower, upper) = self.mins.split_at_mut(k);
            let half = &lower[k - 1];
            upper[0].push(half[i].min(half[i + (1 << (k - 1))]));
            k += 1;
        }
    }

    /// Keep only the newest `n` points.
    pub fn keep_last(&mut self, n: usize) {
        self.start = self.start.max(self.points.len().saturating_sub(n));
        if self.start >= COMPACT_AFTER && 2 * self.start >= self.points.len() {
            let s = self.start;
            self.points.drain(..s);
            for level in &mut self.mins {
                level.drain(..s.min(level.len()));
            }
            self.disorder = self.disorder.and_then(|j| j.checked_sub(s)).filter(|&j| j > 0);
            self.start = 0;
        }
    }

    /// Whether the points are in time order (the forecast ignores a history that is not).
    pub fn is_sorted(&self) -> bool {
        self.disorder.is_none_or(|j| j <= self.start)
    }

    /// The least finite rate among the points timed within `[from, to]`; `None` when there is none. The
    /// points must be in time order ([`History::is_sorted`]) for the window to be found.
    pub fn min_rate(&self, from: f64, to: f64) -> Option<f64> {
        let live = &self.points[self.start..];
        // Windows mostly end at the newest point or reach past the oldest: no search for those ends.
        let a = match live.first() {
            Some(&(t, _)) if t >= from => self.start,
            _ => self.start + live.partition_point(|(t, _)| *t < from),
        };
        let b = match live.last() {
            Some(&(t, _)) if t <= to => self.points.len(),
            _ => self.start + live.partition_point(|(t, _)| *t <= to),
        };
        if a >= b {
            return None;
        }
        let k = (b - a).ilog2() as usize;
        let level = &self.mins[k];
        let m = level[a].min(level[b - (1 << k)]);
        m.is_finite().then_some(m)
    }
}

impl Deref for History {
    type Target = [(f64, f64)];
    fn deref(&self) -> &[(f64, f64)] {
        &self.points[self.start..]
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a (f64, f64);
    type IntoIter = std::slice::Iter<'a, (f64, f64)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<(f64, f64)>> for History {
    fn from(points: Vec<(f64, f64)>) -> History {
        let mut h = History::default();
        h.points.reserve(points.len());
        for (t, v) in points {
            h.push(t, v);
        }
        h
    }
}

impl FromIterator<(f64, f64)> for History {
    fn from_iter<I: IntoIterator<Item = (f64, f64)>>(iter: I) -> History {
        let mut h = History::default();
        for (t, v) in iter {
            h.push(t, v);
        }
        h
    }
}

impl PartialEq for History {
    fn eq(&self, other: &History) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a scan of the window finds: the reference `min_rate` must equal.
    fn scan(points: &[(f64, f64)], from: f64, to: f64) -> Option<f64> {
        let start = points.partition_point(|(t, _)| *t < from);
        points[start..].iter().take_while(|(t, _)| *t <= to).map(|(_, v)| *v).filter(|v| v.is_finite()).reduce(f64::min)
    }

    /// A deterministic pseudo-random sequence in [0, 1) (no test dependency on a generator crate).
    fn noise(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    fn check_all_windows(h: &History, reference: &[(f64, f64)]) {
        let bits = |p: &[(f64, f64)]| p.iter().map(|(t, v)| (t.to_bits(), v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(h), bits(reference));
        let times: Vec<f64> = reference.iter().map(|p| p.0).collect();
        let edges: Vec<f64> = times.iter().flat_map(|t| [t - 0.5, *t, t + 0.5]).collect();
        for from in edges.iter().copied().step_by(13).chain([f64::NEG_INFINITY]) {
            for to in edges.iter().copied().step_by(11).chain([f64::INFINITY]) {
                let (got, want) = (h.min_rate(from, to), scan(reference, from, to));
                assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "[{from}, {to}]");
            }
        }
    }

    #[test]
    fn window_minima_equal_a_scan_as_points_come_and_go() {
        let mut seed = 7;
        let mut h = History::default();
        let mut reference: Vec<(f64, f64)> = Vec::new();
        for i in 0..1500 {
            let r = noise(&mut seed);
            // Bursts, zeros and the odd unusable value, as a rate series has.
            let v = match i % 97 {
                13 => f64::NAN,
                41 => f64::INFINITY,
                _ if r < 0.1 => 0.0,
                _ => 100.0 * r,
            };
            let t = 10.0 * f64::from(i);
            h.push(t, v);
            reference.push((t, v));
            let keep = 300 + (i as usize % 50);
            h.keep_last(keep);
            let drop = reference.len().saturating_sub(keep);
            reference.drain(..drop);
            if i % 149 == 0 || i == 1499 {
                check_all_windows(&h, &reference);
            }
        }
        // Built at once from the same points, the index answers the same.
        check_all_windows(&History::from(reference.clone()), &reference);
    }

    #[test]
    fn a_window_of_unusable_rates_has_no_minimum() {
        let h: History = [(0.0, f64::NAN), (10.0, f64::NEG_INFINITY), (20.0, 3.0)].into_iter().collect();
        assert_eq!(h.min_rate(0.0, 10.0), None);
        assert_eq!(h.min_rate(0.0, 20.0), Some(3.0));
        assert_eq!(h.min_rate(21.0, 30.0), None);
        assert_eq!(History::default().min_rate(0.0, 1.0), None);
    }

    #[test]
    fn order_is_judged_on_the_points_still_held() {
        let mut h: History = [(0.0, 1.0), (20.0, 1.0), (10.0, 1.0)].into_iter().collect();
        assert!(!h.is_sorted());
        h.push(30.0, 1.0);
        h.keep_last(2);
        assert!(h.is_sorted(), "{h:?}");
        h.push(f64::NAN, 1.0);
        assert!(!h.is_sorted());
        // Compaction keeps the verdict on the points held.
        let mut h: History = (0..600).map(|i| (f64::from(i), 1.0)).collect();
        h.push(0.0, 1.0);
        h.push(700.0, 1.0);
        h.keep_last(3);
        assert!(!h.is_sorted());
        for i in 0..600 {
            h.push(800.0 + f64::from(i), 1.0);
            h.keep_last(300);
        }
        assert!(h.is_sorted());
        assert_eq!(h.len(), 300);
    }
}
