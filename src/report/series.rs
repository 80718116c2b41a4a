//! Exact sums from raw samples, without PromQL's `increase()` extrapolation (which would not add up to
//! the ledger to the cent):
//! - counters (per operator process, starting at 0): the sum of rises between consecutive samples in
//!   `[from, to)`, from the last sample before `from`; a fall is a restart, counted from 0. A series
//!   with no sample before `from` started inside the period, so its first value counts whole.
//! - month-to-date gauges (the ledger's own figure): the last value in a segment minus the last value
//!   before it, or minus nothing when the segment starts its month (the ledger restarts each month).
//!   Mid-month, with no sample before the segment (a new pool, a gap in Prometheus), the first sample in
//!   it is the baseline: what was spent before Prometheus saw the pool is not put in the range.
//!
//! The same figure can come from several series (two operator replicas, a re-labelled scrape job):
//! counters add up, gauges take the largest (the standby's copy of a month-to-date figure is never ahead).

use std::collections::BTreeMap;

use super::period::Segment;

/// Labels of a series.
pub type Labels = BTreeMap<String, String>;

/// One series: its labels and samples `(unix seconds, value)` in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A label's value, "" when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// What a counter rose by in `[from, to)`.
pub fn counter_increase(points: &[(f64, f64)], from: i64, to: i64) -> f64 {
    let (from, to) = (from as f64, to as f64);
    let mut prev = points.iter().rev().find(|(t, v)| *t < from && v.is_finite()).map(|p| p.1);
    let mut sum = 0.0;
    for &(_, v) in points.iter().filter(|(t, v)| *t >= from && *t < to && v.is_finite()) {
        sum += match prev {
            Some(p) if v >= p => v - p,
            _ => v,
        };
        prev = Some(v);
    }
    sum
}

/// The month-to-date gauge's last value in `[month_start, at)`, 0 when there is none.
fn month_value(points: &[(f64, f64)], month_start: i64, at: i64) -> f64 {
    let (m, at) = (month_start as f64, at as f64);
    points.iter().rev().find(|(t, v)| *t >= m && *t < at && v.is_finite()).map(|p| p.1).unwrap_or(0.0)
}

/// What a month-to-date gauge grew by within one segment.
pub fn month_to_date_delta(points: &[(f64, f64)], seg: &Segment) -> f64 {
    let end = month_value(points, seg.month_start, seg.to);
    if seg.from == seg.month_start {
        return end;
    }
    let (m, from, to) = (seg.month_start as f64, seg.from as f64, seg.to as f64);
    let before = points.iter().rev().find(|(t, v)| *t >= m && *t < from && v.is_finite());
    let first_inside = || points.iter().find(|(t, v)| *t >= from && *t < to && v.is_finite());
    match before.or_else(first_inside) {
        Some(&(_, base)) => end - base,
        None => 0.0,
    }
}

/// Sum of counter increases, grouped by the named labels.
pub fn counters_by(series: &[Series], keys: &[&str], from: i64, to: i64) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for s in series {
        let key = keys.iter().map(|k| s.label(k).to_string()).collect();
        *out.entry(key).or_insert(0.0) += counter_increase(&s.points, from, to);
    }
    out
}

/// Month-to-date gauge growth over every segment, grouped by the named labels (largest copy wins).
pub fn gauges_by(series: &[Series], keys: &[&str], segments: &[Segment]) -> BTreeMap<Vec<String>, f64> {
    let mut per_segment: BTreeMap<(Vec<String>, usize), f64> = BTreeMap::new();
    for s in series {
        let key: Vec<String> = keys.iter().map(|k| s.label(k).to_string()).collect();
        for (i, seg) in segments.iter().enumerate() {
            let v = month_to_date_delta(&s.points, seg);
            let slot = per_segment.entry((key.clone(), i)).or_insert(f64::NEG_INFINITY);
            *slot = slot.max(v);
        }
    }
    let mut out = BTreeMap::new();
    for ((key, _), v) in per_segment {
        *out.entry(key).or_insert(0.0) += v;
    }
    out
}

/// The labels of the latest sample per key (e.g. a pool's team from `hybridscale_pool_info`).
pub fn latest_labels(series: &[Series], keys: &[&str]) -> BTreeMap<Vec<String>, Labels> {
    let mut best: BTreeMap<Vec<String>, (f64, Labels)> = BTreeMap::new();
    for s in series {
        let Some(&(t, _)) = s.points.last() else { continue };
        let key: Vec<String> = keys.iter().map(|k| s.label(k).to_string()).collect();
        if best.get(&key).is_none_or(|(bt, _)| t > *bt) {
            best.insert(key, (t, s.labels.clone()));
        }
    }
    best.into_iter().map(|(k, (_, l))| (k, l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<(f64, f64)> {
        v.iter().map(|&(t, x)| (t as f64, x)).collect()
    }

    #[test]
    fn counters_sum_rises_from_the_sample_before_and_count_restarts_from_zero() {
        let p = pts(&[(90, 5.0), (100, 6.0), (110, 8.5), (120, 1.25), (130, 2.0), (140, 9.0)]);
        // [100, 140): from 5 (before) to 6, 8.5; restart to 1.25 (counts 1.25), 2.0. 140 is excluded.
        assert_eq!(counter_increase(&p, 100, 140), 1.0 + 2.5 + 1.25 + 0.75);
        // No sample before: the series started inside, its first value counts.
        assert_eq!(counter_increase(&p, 0, 100), 5.0);
        assert_eq!(counter_increase(&p, 200, 300), 0.0);
        assert_eq!(counter_increase(&pts(&[(1, f64::NAN), (2, 3.0)]), 0, 10), 3.0);
    }

    #[test]
    fn month_to_date_gauges_restart_with_the_month() {
        // Month A starts at 0, month B at 100; the gauge resets at 100.
        let p = pts(&[(10, 1.0), (50, 4.0), (90, 7.5), (100, 0.0), (110, 2.0), (150, 3.0)]);
        let whole_a = Segment { from: 0, to: 100, month_start: 0 };
        assert_eq!(month_to_date_delta(&p, &whole_a), 7.5);
        let part_a = Segment { from: 50, to: 100, month_start: 0 };
        assert_eq!(month_to_date_delta(&p, &part_a), 7.5 - 1.0);
        let part_b = Segment { from: 100, to: 120, month_start: 100 };
        assert_eq!(month_to_date_delta(&p, &part_b), 2.0);
        // Mid-month with nothing before: from the first sample seen, not from the month's start.
        let late = pts(&[(130, 5.0), (140, 6.5)]);
        assert_eq!(month_to_date_delta(&late, &Segment { from: 120, to: 150, month_start: 100 }), 1.5);
        assert_eq!(month_to_date_delta(&late, &Segment { from: 100, to: 150, month_start: 100 }), 6.5);
        assert_eq!(month_to_date_delta(&[], &Segment { from: 120, to: 150, month_start: 100 }), 0.0);
    }

    #[test]
    fn copies_of_a_gauge_take_the_largest_and_counters_add_up() {
        let s = |inst: &str, v: f64| Series {
            labels: [("pool", "p"), ("instance", inst)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            points: pts(&[(10, v)]),
        };
        let seg = [Segment { from: 0, to: 100, month_start: 0 }];
        let both = [s("a", 3.0), s("b", 2.0)];
        assert_eq!(gauges_by(&both, &["pool"], &seg)[&vec!["p".to_string()]], 3.0);
        assert_eq!(counters_by(&both, &["pool"], 0, 100)[&vec!["p".to_string()]], 5.0);
    }
}
