//! Demand forecast over the lead time, from the request-rate history. Deliberately simple and
//! explainable: a few numbers, each a sentence in a reason.
//!
//! - `peak`: demand expected when a replica asked for now is ready: the current rate, raised by the
//!   trend over the lead time, or the highest burst of the last five minutes if higher. The external
//!   API must bridge up to this while replicas start; with no API to bridge, replicas carry it.
//! - `base`: the level that has lasted at least the ski-rental buy time (the minimum of the rate over
//!   that window), carried forward by the trend. Only this level is worth buying replicas for: a spike
//!   shorter than the buy time never reaches it and stays on the external API.
//! - `lasting`: the level that has lasted one lead time, carried over it by its own trend. Replicas the
//!   external API's limits call for are bought for it: one started for a shorter burst arrives after it.
//!
//! The trend is the slope of that persisting minimum (now versus one lead time ago), not of the raw
//! rate: a sudden spike moves the raw slope but not the minimum, so a spike is not mistaken for a ramp.
//! The trend only ever raises the forecast; falling demand is left to the scale-down rules.
//!
//! - [`Rent`]: what renting each replica's band of the load has cost over the same windows (the load
//!   clipped to the band, averaged), for ski rental's rent-so-far where one quiet step keeps the
//!   minimum of a window below the band (`allocate`).
//!
//! The windows' minima come from the history's index ([`History::min_rate`]), not a scan per window:
//! with four hours of history a tick asks for about 20,000 points' worth of minima.

use super::LoadSignals;
use super::history::History;

/// The forecast for one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    /// Current request rate.
    pub now_rps: f64,
    /// Rate expected at the end of the lead time.
    pub peak_rps: f64,
    /// Persisting level carried to the end of the lead time (≤ peak).
    pub base_rps: f64,
    /// Rising trend of the persisting level, requests/s per second (≥ 0).
    pub trend: f64,
    /// Lead time the forecast looks ahead, seconds.
    pub horizon_s: f64,
    /// Window the base level had to persist over, seconds.
    pub persist_s: f64,
    /// Highest rate within the last [`BURST_WINDOW_S`] (at least the current rate). Route weights are
    /// set for it: they hold until the next tick, and a burst seen minutes ago is the best guess of the
    /// burst that arrives between ticks.
    pub recent_peak_rps: f64,
    /// The window `recent_peak_rps` looked back over, seconds.
    pub burst_window_s: f64,
    /// Demand that has lasted the lead time (the minimum over it, carried over it by its own trend):
    /// what a replica asked for now can still expect to find when it is ready, on the rule that load
    /// which has lasted as long as a replica takes to start lasts that long again. Replicas the
    /// external API's limits call for are bought for this, not for the peak (see `allocate`).
    pub lasting_rps: f64,
    /// Mean rate over the same window (the current rate included): what a running replica would
    /// carry on average, which is what keeping it is worth (its peak is not).
    pub recent_mean_rps: f64,
    /// Persisting levels over windows from `persist_s` (the first, equal to `base_rps`) up to the longest
    /// buy time any replica can need, as (window seconds, level carried to the end of the lead time),
    /// windows rising and levels falling. A replica that would carry only part of its capacity must see
    /// its load last longer before it is bought (see `allocate`).
    pub levels: [(f64, f64); LEVELS],
}

/// How many persisting levels a forecast carries.
pub const LEVELS: usize = 8;

/// How far back bursts count for the route weights and the peak, seconds.
pub const BURST_WINDOW_S: f64 = 300.0;

/// Longest window a persisting level is looked for over, seconds. Windows longer than the history
/// the snapshot carries have no level (see [`forecast`]).
pub const LONGEST_WINDOW_S: f64 = 4.0 * 3600.0;

/// Minimum rate over `[from, to]` of the history and the current sample; `None` when no sample falls
/// inside. The history must be sorted by time.
fn min_over(history: &History, from: f64, to: f64, current: Option<(f64, f64)>) -> Option<f64> {
    let inside = history.min_rate(from, to);
    let cur = current.filter(|(t, v)| *t >= from && *t <= to && v.is_finite()).map(|(_, v)| v);
    match (inside, cur) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// Forecast demand. `history` is (time, rps), oldest first; points after `now` are ignored.
/// `horizon_s` is the lead time; `persist_s` the buy time (may be infinite: then nothing persists
/// long enough to be worth a replica and the base is 0).
///
/// `burst_window_s` is how far back a burst still counts (see [`burst_window`]).
pub fn forecast(
    history: &History,
    now: f64,
    now_rps: f64,
    horizon_s: f64,
    persist_s: f64,
    burst_window_s: f64,
    persist_max_s: f64,
) -> Forecast {
    let now_rps = if now_rps.is_finite() { now_rps.max(0.0) } else { 0.0 };
    let horizon_s = horizon_s.max(0.0);
    // Windows are found by bisection, which needs time order; an unsorted history is ignored rather
    // than trusted.
    let unsorted = History::default();
    let hist = if history.is_sorted() { history } else { &unsorted };
    let cur = Some((now, now_rps));
    let persist = if persist_s.is_finite() { persist_s.max(0.0) } else { f64::INFINITY };

    // Trend of the persisting minimum over one lead time (at least a minute, so tick noise does not
    // dominate), taken over windows at least as long as the buy time so that a spike younger than the
    // buy time does not count as a rise.
    let lag = horizon_s.max(60.0);
    let w = if persist.is_finite() { persist.max(60.0) } else { lag };
    let trend_now = min_over(hist, now - w, now, cur).unwrap_or(now_rps);
    let trend = match min_over(hist, now - lag - w, now - lag, None) {
        Some(then) => ((trend_now - then) / lag).max(0.0),
        None => 0.0,
    };
    let recent_peak_rps = recent_peak(hist, now, now_rps, burst_window_s);
    let recent = || {
        hist[hist.partition_point(|(t, _)| *t < now - burst_window_s.max(0.0))..]
            .iter()
            .take_while(|(t, _)| *t < now)
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
            .chain([now_rps])
    };
    let recent_mean_rps = recent().sum::<f64>() / recent().count() as f64;
    // The peak to bridge: the trend carried over the lead time, or a burst seen in the last minutes.
    let peak_rps = (now_rps + trend * horizon_s).max(recent_peak_rps);
    let level_over = |w: f64| {
        if w.is_finite() {
            let level = min_over(hist, now - w, now, cur).unwrap_or(now_rps);
            (level + trend * (w + horizon_s)).min(peak_rps)
        } else {
            0.0
        }
    };
    let base_rps = level_over(persist);
    // Longer windows carry their own trend over the lead time: the slope of that window's minimum (now
    // versus one lead time ago). The buy-time trend comes from a window of a minute or two, so on bursty
    // traffic any burst younger than the lag makes it positive; added to a long window's minimum it turned
    // load that never lasted into load that "lasted" the window, and bought replicas for bursts (Azure
    // Functions counts, 8B against a cheap API: $213 against all-external's $141). A long window's own
    // minimum only rises on a rise that has lasted it; on a genuine ramp it rises as fast as the rate.
    let long_level = |w: f64| {
        let level = min_over(hist, now - w, now, cur).unwrap_or(now_rps);
        let trend_w = match min_over(hist, now - lag - w, now - lag, None) {
            Some(then) => ((level - then) / lag).max(0.0),
            None => 0.0,
        };
        (level + trend_w * horizon_s).min(peak_rps)
    };
    let lasting_rps = long_level(horizon_s);
    // Geometric steps from the buy time to the longest one needed; each level is no higher than the
    // one before (a longer window's minimum cannot be higher, the trend term is capped by the peak).
    let longest = if persist_max_s.is_finite() { persist_max_s.max(persist) } else { persist };
    let mut levels = [(persist, base_rps); LEVELS];
    if persist.is_finite() && persist > 0.0 && longest > persist {
        let ratio = (longest / persist).powf(1.0 / (LEVELS - 1) as f64);
        let mut prev = base_rps;
        // A window reaching back before the history starts has no level: the minimum of a shorter history
        // says nothing about whether the load lasted the whole window (after a restart, or where the
        // history is shorter than the longest buy time). One step of slack for sampling.
        let step = hist.windows(2).next().map_or(0.0, |p| p[1].0 - p[0].0).max(0.0);
        let covered = |w: f64| hist.first().is_some_and(|(t0, _)| *t0 <= now - w + step);
        for (k, l) in levels.iter_mut().enumerate().skip(1) {
            let w = if k == LEVELS - 1 { longest } else { persist * ratio.powi(k as i32) };
            prev = if covered(w) { long_level(w).min(prev) } else { 0.0 };
            *l = (w, prev);
        }
    }
    Forecast {
        now_rps,
        peak_rps,
        base_rps,
        trend,
        horizon_s,
        persist_s: persist,
        recent_peak_rps,
        burst_window_s: burst_window_s.max(0.0),
        lasting_rps,
        recent_mean_rps,
        levels,
    }
}

/// What renting the load has cost: the history as the rent a replica would have saved, for ski
/// rental's rent-so-far. A replica stacked on `lo` rps (what the replicas before it carry) carries the
/// load between `lo` and `lo + mu`; the fraction of a replica it would have carried over a window is the
/// mean of the load clipped to that band. A dip costs it only what the dip held, a burst above the band
/// adds nothing.
#[derive(Clone, Copy, Debug)]
pub struct Rent<'a> {
    pub history: &'a History,
    pub now: f64,
    pub now_rps: f64,
}

impl Rent<'_> {
    /// The mean fraction of a replica that one carrying the load between `lo` and `lo + mu` rps would
    /// have carried over each window of `windows` (rising, ending now, the current rate included); 0
    /// for a window the history does not cover.
    pub fn fraction(&self, lo: f64, mu: f64, windows: [f64; LEVELS]) -> [f64; LEVELS] {
        let mut out = [0.0; LEVELS];
        let hist = self.history;
        if mu <= 0.0 || !hist.is_sorted() {
            return out;
        }
        let inv = 1.0 / mu;
        // Branch-free, so the pass over hours of points vectorises: a non-finite rate counts nothing.
        let band = |r: f64| if r.is_finite() { ((r - lo) * inv).clamp(0.0, 1.0) } else { 0.0 };
        let step = hist.windows(2).next().map_or(0.0, |p| p[1].0 - p[0].0).max(0.0);
        let now_rps = if self.now_rps.is_finite() { self.now_rps.max(0.0) } else { 0.0 };
        let (mut sum, mut count) = (band(now_rps), 1.0);
        let mut end = hist.partition_point(|(t, _)| *t < self.now);
        for (i, &w) in windows.iter().enumerate() {
            let from = self.now - w;
            let start = hist[..end].partition_point(|(t, _)| *t < from);
            for &(_, r) in &hist[start..end] {
                sum += band(r);
                count += f64::from(u8::from(r.is_finite()));
            }
            end = start;
            let covered = w.is_finite() && hist.first().is_some_and(|(t0, _)| *t0 <= from + step);
            if covered {
                out[i] = sum / count;
            }
        }
        out
    }
}

impl Forecast {
    /// The same forecast with a burst seen in a finer series than the history it was made from
    /// ([`recent_peak_of`]): the recent peak, and the peak to bridge, at least `recent_peak_rps`.
    pub fn with_recent_peak(self, recent_peak_rps: f64) -> Forecast {
        if recent_peak_rps > self.recent_peak_rps {
            Forecast { recent_peak_rps, peak_rps: self.peak_rps.max(recent_peak_rps), ..self }
        } else {
            self
        }
    }

    /// The same forecast with `rps` as the level over every window, each window taken as lasting for
    /// ever: for keeping what runs, where no persistence is asked for (a running replica has paid its
    /// start-up; it stays while its load keeps it above break-even).
    pub fn with_level(&self, rps: f64) -> Forecast {
        Forecast { base_rps: rps, levels: self.levels.map(|_| (f64::INFINITY, rps)), ..*self }
    }
}

/// How long a burst keeps counting for the route weights and the peak: the policy's scale-down
/// stabilisation window (the time the user says a lower load must last before it is believed), at least
/// one tick and at most [`BURST_WINDOW_S`]. A short window lets the route follow demand closely; a long
/// one keeps a standing external share after bursts, which protects the SLO on bursty traffic.
/// The highest rate within `window_s` before `now` (oldest-first history), at least `now_rps`.
pub fn recent_peak(hist: &[(f64, f64)], now: f64, now_rps: f64, window_s: f64) -> f64 {
    hist[hist.partition_point(|(t, _)| *t < now - window_s.max(0.0))..]
        .iter()
        .take_while(|(t, _)| *t <= now)
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold(now_rps, f64::max)
}

/// The highest rate within `window_s` before `now` in either of the load's series: its history and its
/// recent rates at a finer step (`LoadSignals::recent_rates`), at least `now_rps`.
pub fn recent_peak_of(load: &LoadSignals, now: f64, now_rps: f64, window_s: f64) -> f64 {
    recent_peak(&load.history, now, now_rps, window_s).max(recent_peak(&load.recent_rates, now, now_rps, window_s))
}

pub fn burst_window(stabilization_s: f64, tick_s: f64) -> f64 {
    stabilization_s.max(tick_s).clamp(0.0, BURST_WINDOW_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(from: f64, to: f64, step: f64, f: impl Fn(f64) -> f64) -> History {
        let mut v = Vec::new();
        let mut t = from;
        while t < to {
            v.push((t, f(t)));
            t += step;
        }
        v.into()
    }

    #[test]
    fn steady_load_forecasts_itself() {
        let h = series(0.0, 3600.0, 15.0, |_| 20.0);
        let f = forecast(&h, 3600.0, 20.0, 480.0, 300.0, 300.0, 300.0);
        assert_eq!((f.peak_rps, f.base_rps, f.trend), (20.0, 20.0, 0.0));
    }

    #[test]
    fn ramp_is_carried_over_the_lead_time() {
        // 0.01 rps per second: 10 rps at t=1000, 30 at t=3000.
        let h = series(0.0, 3000.0, 15.0, |t| t / 100.0);
        let f = forecast(&h, 3000.0, 30.0, 600.0, 300.0, 300.0, 300.0);
        assert!((f.trend - 0.01).abs() < 1e-3, "{f:?}");
        assert!((f.peak_rps - 36.0).abs() < 0.5, "{f:?}");
        assert!((f.base_rps - 36.0).abs() < 0.5, "{f:?}");
    }

    #[test]
    fn spike_shorter_than_buy_time_does_not_raise_the_base() {
        let h = series(0.0, 3600.0, 15.0, |t| if t >= 3540.0 { 80.0 } else { 10.0 });
        let f = forecast(&h, 3600.0, 80.0, 480.0, 300.0, 300.0, 300.0);
        assert_eq!(f.base_rps, 10.0);
        assert_eq!(f.trend, 0.0);
        assert_eq!(f.peak_rps, 80.0);
    }

    #[test]
    fn a_recent_rise_does_not_make_long_windows_look_persistent() {
        // 1 rps for an hour, then a rise to 2 rps over the last five minutes.
        let h = series(0.0, 3600.0, 15.0, |t| if t < 3300.0 { 1.0 } else { 1.0 + (t - 3300.0) / 300.0 });
        let f = forecast(&h, 3600.0, 2.0, 300.0, 60.0, 300.0, 1200.0);
        assert!(f.trend > 0.0, "{f:?}");
        let (w, longest) = f.levels[LEVELS - 1];
        assert_eq!(w, 1200.0);
        // The 20-minute window's minimum has not risen (the rise is younger than the window), so it
        // is not lifted by the rise of the last minutes.
        assert_eq!(longest, 1.0, "{f:?}");
        assert!(longest < f.base_rps, "{f:?}");
    }

    #[test]
    fn bursts_do_not_lift_long_windows_by_the_short_trend() {
        // Near-idle for three hours with a one-minute burst every ten minutes; the last burst began a
        // minute ago. The buy-time window (60 s) saw the rise, so the short trend is positive, but no
        // window of ten minutes or more has a minimum above the idle level.
        let h = series(0.0, 10_800.0, 10.0, |t| if t % 600.0 >= 540.0 { 1.75 } else { 0.01 });
        let f = forecast(&h, 10_800.0, 1.75, 300.0, 60.0, 300.0, 9_600.0);
        assert!(f.trend > 0.0, "{f:?}");
        for &(w, level) in f.levels.iter().filter(|(w, _)| *w >= 600.0) {
            assert!((level - 0.01).abs() < 1e-9, "window {w} s: level {level}, {f:?}");
        }
    }

    #[test]
    fn windows_longer_than_the_history_have_no_level() {
        // Twenty minutes of steady 5 rps (a restart, say): a 15-minute window has seen it last, an hour
        // has not, whatever the twenty minutes' minimum is.
        let h = series(2400.0, 3600.0, 15.0, |_| 5.0);
        let f = forecast(&h, 3600.0, 5.0, 300.0, 60.0, 300.0, 3600.0);
        for &(w, level) in &f.levels {
            let want = if w <= 1200.0 { 5.0 } else { 0.0 };
            assert_eq!(level, want, "window {w} s: {f:?}");
        }
    }

    #[test]
    fn a_ramp_lifts_long_windows_by_its_slope() {
        // A steady ramp of 0.001 rps per second for three hours: every window's minimum rises with it.
        let h = series(0.0, 10_800.0, 10.0, |t| t / 1000.0);
        let f = forecast(&h, 10_800.0, 10.8, 300.0, 60.0, 300.0, 3_600.0);
        let (w, longest) = f.levels[LEVELS - 1];
        assert_eq!(w, 3_600.0);
        // The hour's minimum (7.2 at its start, one step later in the history) plus 0.3 over the lead time.
        assert!((longest - (7.2 + 0.3)).abs() < 0.02, "{f:?}");
    }

    #[test]
    fn the_recent_mean_is_what_a_running_replica_carries() {
        // Alternating minutes of 0.2 and 1.8 rps, 1.8 now: four 1.8s and two 0.2s in the last five
        // minutes and now, so a mean of 1.27 where the peak is 1.8.
        let h = series(0.0, 3600.0, 60.0, |t| if ((t / 60.0) as u32).is_multiple_of(2) { 0.2 } else { 1.8 });
        let f = forecast(&h, 3600.0, 1.8, 300.0, 60.0, 300.0, 1200.0);
        assert_eq!(f.recent_peak_rps, 1.8);
        assert!((f.recent_mean_rps - 7.6 / 6.0).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn only_load_that_has_lasted_the_lead_time_is_lasting() {
        // 10 rps, then 40 rps for the last two minutes: younger than the 5-minute lead time.
        let h = series(0.0, 3600.0, 15.0, |t| if t >= 3480.0 { 40.0 } else { 10.0 });
        let f = forecast(&h, 3600.0, 40.0, 300.0, 60.0, 300.0, 600.0);
        assert!(f.peak_rps >= 40.0, "{f:?}");
        assert_eq!(f.lasting_rps, 10.0, "{f:?}");
        // The same step six minutes old has lasted the lead time (and the rise it made is carried over
        // the lead time as that window's trend).
        let h = series(0.0, 3600.0, 15.0, |t| if t >= 3240.0 { 40.0 } else { 10.0 });
        let f = forecast(&h, 3600.0, 40.0, 300.0, 60.0, 300.0, 600.0);
        assert!(f.lasting_rps >= 40.0, "{f:?}");
    }

    #[test]
    fn rent_is_the_load_clipped_to_the_band() {
        // An hour at 10 rps every 10 s, with one burst to 30 and one lull to 0 in the last ten minutes.
        let h = series(-3600.0, 0.0, 10.0, |t| {
            if t == -300.0 {
                30.0
            } else if t == -200.0 {
                0.0
            } else {
                10.0
            }
        });
        let rent = Rent { history: &h, now: 0.0, now_rps: 10.0 };
        let windows: [f64; LEVELS] = std::array::from_fn(|k| [600.0, 3600.0, 7200.0][k.min(2)]);
        let share = |lo, mu| rent.fraction(lo, mu, windows);
        // The band 5-10 rps is full but for the lull; the burst adds nothing to it. Over ten minutes
        // 60 of 61 points (the current rate counts), over the hour 360 of 361.
        let f = share(5.0, 5.0);
        assert!((f[0] - 60.0 / 61.0).abs() < 1e-12, "{f:?}");
        assert!((f[1] - 360.0 / 361.0).abs() < 1e-12, "{f:?}");
        // Two hours reach before the history: no evidence.
        assert_eq!(f[2], 0.0);
        // The band above the load holds only the burst, clipped to the band.
        let above = share(10.0, 5.0);
        assert!((above[0] - 1.0 / 61.0).abs() < 1e-12, "{above:?}");
        // Half a band's load is half a replica: 358 points and the current rate at half, the burst full.
        assert!((share(8.0, 4.0)[1] - (180.5 / 361.0)).abs() < 1e-12);
    }

    #[test]
    fn no_history_uses_the_current_rate() {
        let f = forecast(&History::default(), 100.0, 12.0, 480.0, 300.0, 300.0, 300.0);
        assert_eq!((f.peak_rps, f.base_rps), (12.0, 12.0));
        let f = forecast(&History::default(), 100.0, 12.0, 480.0, f64::INFINITY, 300.0, 300.0);
        assert_eq!((f.peak_rps, f.base_rps), (12.0, 0.0));
    }
}
