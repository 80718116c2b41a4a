//! Load signals of one pool: what a [`LoadSource`](super::LoadSource) returns, and the Prometheus
//! implementation that reads vLLM and DCGM metrics.
//!
//! Honesty rules: a query that answers nothing, NaN or infinity makes that signal unknown (`None`),
//! never zero (the KEDA ignoreNullValues trap). A query that fails keeps the last value it gave, with
//! that value's original sample time, so the planner sees exactly how old it is and treats it as
//! stale once it passes `signal_max_age_s`. When Prometheus cannot be reached at all the reading says
//! so and how long ago Prometheus last answered.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::{BoxFuture, join_all, join3};

use super::client::{Point, PrometheusClient, QueryError};
use super::promql::{PoolQueries, QueryConfigError, QueryParams, Signal};
use crate::api::inference_pool::InferencePoolSpec;
use crate::planner::{LoadSignals, Sample, forecast};

/// Whether the source could answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Availability {
    /// Every query answered (an empty answer is an unknown value, not a failure).
    Available,
    /// Some queries failed; those signals keep their last good value with its old sample time.
    Partial {
        /// Which signal ("history" for the range query) and why.
        failures: Vec<(String, QueryError)>,
    },
    /// Nothing answered. Signals are the last good values, with their old sample times.
    Unavailable {
        /// Why (the first error).
        error: QueryError,
        /// When (Unix seconds) the source last answered, if ever.
        last_good_at: Option<f64>,
    },
}

/// One reading of a pool's load.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReading {
    /// What the planner consumes. Every sample carries its own time.
    pub signals: LoadSignals,
    /// Prompt tokens per second.
    pub prompt_token_rate: Option<Sample>,
    /// Generated tokens per second.
    pub generation_token_rate: Option<Sample>,
    /// Mean KV-cache usage of the pool's replicas, 0..1.
    pub kv_cache_usage: Option<Sample>,
    /// Whether the source answered.
    pub availability: Availability,
    /// When the reading was taken (the `now` passed in).
    pub read_at: f64,
}

impl LoadReading {
    /// Seconds since the source last answered: 0 when it answered now, `None` when it never did.
    pub fn last_good_age(&self) -> Option<f64> {
        match &self.availability {
            Availability::Unavailable { last_good_at, .. } => last_good_at.map(|t| (self.read_at - t).max(0.0)),
            _ => Some(0.0),
        }
    }

    /// True when Prometheus could not be reached at all.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.availability, Availability::Unavailable { .. })
    }

    /// One line for a status condition or an event.
    pub fn summary(&self) -> String {
        match &self.availability {
            Availability::Available => "load signals read".into(),
            Availability::Partial { failures } => {
                let parts: Vec<String> = failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
                format!("some load signals failed, holding their last values: {}", parts.join("; "))
            }
            Availability::Unavailable { error, .. } => match self.last_good_age() {
                Some(age) => format!("{error}; holding the load read {age:.0}s ago"),
                None => format!("{error}; no load reading yet"),
            },
        }
    }
}

/// Request-rate history for the forecast: how far back and at what resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryWindow {
    /// Seconds of history before `now`.
    pub lookback_s: f64,
    /// Seconds between points.
    pub step_s: f64,
}

impl HistoryWindow {
    /// The window of the recent-rates query: two history steps, which hold two scrapes at a scrape
    /// interval up to the step (its request counter is read with `irate`, the rate over the last
    /// scrape interval, so each point is as fine as the scrapes, not the signal window's minute).
    pub fn recent_rate_window(&self) -> String {
        format!("{}s", (2.0 * self.step_s.max(1.0)).round())
    }

    /// Seconds between recent-rate points: at most [`RECENT_RATE_STEP_S`], so that with scrapes
    /// more frequent than the history's step few scrape intervals go unread.
    pub fn recent_rate_step_s(&self) -> f64 {
        self.step_s.clamp(1.0, RECENT_RATE_STEP_S)
    }
}

/// Most seconds between recent-rate points (sixty points over the five-minute burst window).
pub const RECENT_RATE_STEP_S: f64 = 5.0;

impl Default for HistoryWindow {
    fn default() -> Self {
        HistoryWindow { lookback_s: 3600.0, step_s: 60.0 }
    }
}

/// Seconds of history asked for again on every read: rate values this recent can still change as late
/// scrapes arrive (a rate window plus a scrape interval or two).
pub const HISTORY_REFRESH_S: f64 = 300.0;

/// Where the next history query starts: at least [`HISTORY_REFRESH_S`] before the last point already
/// held, in whole steps back from `end`, or the window's start when nothing usable is held. Counting
/// the steps back from `end` puts the newest point at `end`, as a read of the whole window does; on the
/// old points' grid instead, the newest point lagged `end` by up to a step, and a window as short as
/// the e2e idle scenario's 15 s stabilisation saw demand from before a fall it should no longer see.
fn history_from(old: &[(f64, f64)], window_start: f64, end: f64, step: f64) -> f64 {
    let refresh = HISTORY_REFRESH_S.max(step);
    match old.last() {
        Some(&(t, _)) if t.is_finite() && t - refresh >= window_start => {
            let steps = ((end - (t - refresh)) / step).ceil().max(1.0);
            (end - steps * step).max(window_start).floor()
        }
        _ => window_start,
    }
}

/// The points held from `window_start` up to `from`, then what the query from `from` returned.
fn merge_history(old: &[(f64, f64)], window_start: f64, from: f64, new: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let kept = old.iter().copied().filter(|(t, _)| *t >= window_start && *t < from);
    kept.chain(new.into_iter().filter(|(t, _)| *t >= from)).collect()
}

#[derive(Default)]
struct LastGood {
    values: BTreeMap<Signal, Sample>,
    history: Vec<(f64, f64)>,
    recent_rates: Vec<(f64, f64)>,
    answered_at: Option<f64>,
}

/// Reads a pool's load from Prometheus. One per pool; it remembers the last good values.
pub struct PrometheusLoadSource {
    client: PrometheusClient,
    queries: PoolQueries,
    history: Option<HistoryWindow>,
    /// The request-rate query at [`HistoryWindow::recent_rate_window`], for the recent peak
    /// (`LoadSignals::recent_rates`); none without history.
    recent_rate_query: Option<String>,
    last: Mutex<LastGood>,
}

impl std::fmt::Debug for PrometheusLoadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusLoadSource")
            .field("client", &self.client)
            .field("queries", &self.queries)
            .field("history", &self.history)
            .finish()
    }
}

/// Range-query series added up per timestamp (several series, a per-pod override, add up like the
/// instant value), oldest first. A sum beyond f64 is no rate: the point is dropped, as a NaN would be.
fn sum_by_time(series: &[Vec<Point>]) -> Vec<(f64, f64)> {
    let mut by_time: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for p in series.iter().flat_map(|s| finite(s)) {
        let e = by_time.entry((p.at * 1000.0).round() as i64).or_insert((p.at, 0.0));
        e.1 += p.value;
    }
    by_time.into_values().filter(|(_, v)| v.is_finite()).collect()
}

fn finite(points: &[Point]) -> Vec<Point> {
    points.iter().copied().filter(|p| p.value.is_finite()).collect()
}

impl PrometheusLoadSource {
    /// A source running `queries`, with optional history for the forecast (and no recent rates).
    pub fn new(client: PrometheusClient, queries: PoolQueries, history: Option<HistoryWindow>) -> Self {
        PrometheusLoadSource {
            client,
            queries,
            history,
            recent_rate_query: None,
            last: Mutex::new(LastGood::default()),
        }
    }

    /// A source for a pool: its selector and query overrides, the SLO quantile, a rate window.
    pub fn for_pool(
        client: PrometheusClient,
        spec: &InferencePoolSpec,
        latency_quantile: f64,
        rate_window: &str,
        history: Option<HistoryWindow>,
    ) -> Result<Self, QueryConfigError> {
        let mut params = QueryParams::for_pool(spec, latency_quantile);
        params.rate_window = rate_window.to_string();
        // The same request-rate query, its counter read with `irate` over two history steps (an
        // overridden request-rate query is taken as it is: its window is the user's).
        let recent_rate_query = match history {
            Some(h) => {
                let fine = QueryParams { rate_window: h.recent_rate_window(), last_interval: true, ..params.clone() };
                Some(PoolQueries::new(&fine, &spec.metrics.queries)?.get(Signal::RequestRate).to_string())
            }
            None => None,
        };
        let queries = PoolQueries::new(&params, &spec.metrics.queries)?;
        Ok(PrometheusLoadSource { recent_rate_query, ..Self::new(client, queries, history) })
    }

    /// The queries this source runs.
    pub fn queries(&self) -> &PoolQueries {
        &self.queries
    }

    /// The history up to `now`: only what is new since the last good read is asked for (plus the last
    /// few minutes again, see [`HISTORY_REFRESH_S`]); older points are kept from that read. Asking for
    /// the whole window every tick made Prometheus evaluate hundreds of points per pool per tick
    /// (960 at a 15 s tick over four hours) to learn one or two new ones.
    async fn read_history(&self, now: f64, old: &[(f64, f64)]) -> Option<Result<Vec<(f64, f64)>, QueryError>> {
        let window = self.history?;
        let step = window.step_s.max(1.0);
        let window_start = (now - window.lookback_s).floor();
        let end = now.floor();
        let from = history_from(old, window_start, end, step);
        let query = self.queries.get(Signal::RequestRate);
        Some(
            self.client
                .range(query, from as i64, end as i64, step)
                .await
                .map(|series| merge_history(old, window_start, from, sum_by_time(&series))),
        )
    }

    /// The request rate at the scrapes' resolution over the last [`forecast::BURST_WINDOW_S`], read
    /// whole every tick (sixty points).
    async fn read_recent_rates(&self, now: f64) -> Option<Result<Vec<(f64, f64)>, QueryError>> {
        let (window, query) = (self.history?, self.recent_rate_query.as_deref()?);
        let step = window.recent_rate_step_s();
        let end = now.floor();
        let from = (end - forecast::BURST_WINDOW_S).floor();
        Some(self.client.range(query, from as i64, end as i64, step).await.map(|series| sum_by_time(&series)))
    }

    /// Read every signal once. Never fails: failures are in [`LoadReading::availability`].
    pub async fn read(&self, now: f64) -> LoadReading {
        let old = self.last.lock().unwrap_or_else(|e| e.into_inner()).history.clone();
        let instants = join_all(self.queries.iter().map(|(s, q)| async move { (s, self.client.instant(q).await) }));
        let (answers, history, recent_rates) =
            join3(instants, self.read_history(now, &old), self.read_recent_rates(now)).await;

        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut failures: Vec<(String, QueryError)> = Vec::new();
        let mut answered = false;
        for (signal, answer) in answers {
            match answer {
                Ok(points) => {
                    answered = true;
                    let points = finite(&points);
                    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
                    let at = points.iter().map(|p| p.at).fold(f64::NEG_INFINITY, f64::max);
                    // Per-pod values that are each finite may add up beyond f64: unknown, not infinite.
                    match signal.combine(&values).filter(|v| v.is_finite()) {
                        Some(value) => last.values.insert(signal, Sample { value, at }),
                        // Answered with nothing usable: unknown now, so forget the old value.
                        None => last.values.remove(&signal),
                    };
                }
                Err(e) => failures.push((signal.name().to_string(), e)),
            }
        }
        // A failed range query keeps its last good points: they carry their times, and the forecast
        // and the recent peak read only those within their windows.
        let last = &mut *last;
        for (name, answer, kept) in
            [("history", history, &mut last.history), ("recent rates", recent_rates, &mut last.recent_rates)]
        {
            match answer {
                Some(Ok(points)) => {
                    answered = true;
                    *kept = points;
                }
                Some(Err(e)) => failures.push((name.into(), e)),
                None => {}
            }
        }
        if answered {
            last.answered_at = Some(now);
        }
        let availability = if failures.is_empty() {
            Availability::Available
        } else if !answered {
            Availability::Unavailable { error: failures.swap_remove(0).1, last_good_at: last.answered_at }
        } else {
            Availability::Partial { failures }
        };

        let get = |s: Signal| last.values.get(&s).copied();
        let request_rate = get(Signal::RequestRate);
        let per_request = |tokens: Option<Sample>| match (tokens, request_rate) {
            // No requests means no mean request size: unknown, not zero.
            (Some(t), Some(r)) if r.value > 1e-9 => {
                Some(Sample { value: t.value / r.value, at: t.at.min(r.at) }).filter(|s| s.value.is_finite())
            }
            _ => None,
        };
        let prompt = get(Signal::PromptTokenRate);
        let generation = get(Signal::GenerationTokenRate);
        let signals = LoadSignals {
            request_rate,
            mean_input_tokens: per_request(prompt),
            mean_output_tokens: per_request(generation),
            running: get(Signal::Running),
            waiting: get(Signal::Waiting),
            latency_s: get(Signal::Latency),
            gpu_utilization: get(Signal::GpuUtilization)
                .map(|s| Sample { value: (s.value / 100.0).clamp(0.0, 1.0), at: s.at }),
            history: last.history.clone().into(),
            recent_rates: last.recent_rates.clone(),
        };
        LoadReading {
            signals,
            prompt_token_rate: prompt,
            generation_token_rate: generation,
            kv_cache_usage: get(Signal::KvCacheUsage),
            availability,
            read_at: now,
        }
    }
}

impl super::LoadSource for PrometheusLoadSource {
    fn load(&self, now: f64) -> BoxFuture<'_, LoadReading> {
        Box::pin(self.read(now))
    }
}

/// A fixed reading, for the simulator and for tests of code that consumes a [`super::LoadSource`].
/// Sample times are moved to `now` on every read.
#[derive(Clone, Debug, Default)]
pub struct StaticLoad {
    /// The values to report.
    pub signals: LoadSignals,
}

impl super::LoadSource for StaticLoad {
    fn load(&self, now: f64) -> BoxFuture<'_, LoadReading> {
        let at_now = |s: Option<Sample>| s.map(|s| Sample { value: s.value, at: now });
        let l = &self.signals;
        let signals = LoadSignals {
            request_rate: at_now(l.request_rate),
            mean_input_tokens: at_now(l.mean_input_tokens),
            mean_output_tokens: at_now(l.mean_output_tokens),
            running: at_now(l.running),
            waiting: at_now(l.waiting),
            latency_s: at_now(l.latency_s),
            gpu_utilization: at_now(l.gpu_utilization),
            history: l.history.clone(),
            recent_rates: l.recent_rates.clone(),
        };
        Box::pin(std::future::ready(LoadReading {
            signals,
            prompt_token_rate: None,
            generation_token_rate: None,
            kv_cache_usage: None,
            availability: Availability::Available,
            read_at: now,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(from: f64, to: f64, step: f64) -> Vec<(f64, f64)> {
        let mut v = Vec::new();
        let mut t = from;
        while t <= to {
            v.push((t, t / 100.0));
            t += step;
        }
        v
    }

    #[test]
    fn only_the_last_minutes_are_asked_for_again() {
        let old = series(1000.0, 15_400.0, 15.0);
        // At least five minutes before the last point held, in whole steps back from the end, so the
        // newest point is at the end whatever grid the old points are on.
        assert_eq!(history_from(&old, 1015.0, 15_415.0, 15.0), 15_100.0);
        assert_eq!(history_from(&old, 1015.0, 15_422.0, 15.0), 15_092.0);
        // A step that does not divide five minutes still asks for at least five minutes again.
        assert_eq!(history_from(&old, 1015.0, 15_415.0, 45.0), 15_415.0 - 7.0 * 45.0);
        // Nothing held, or what is held ends before the window: the whole window.
        assert_eq!(history_from(&[], 1015.0, 15_415.0, 15.0), 1015.0);
        assert_eq!(history_from(&old, 15_300.0, 15_415.0, 15.0), 15_300.0);
    }

    #[test]
    fn merged_history_drops_what_left_the_window_and_takes_the_new_points() {
        let old = series(1000.0, 15_400.0, 15.0);
        let new: Vec<(f64, f64)> = series(15_100.0, 15_430.0, 15.0).into_iter().map(|(t, _)| (t, -1.0)).collect();
        let merged = merge_history(&old, 1030.0, 15_100.0, new);
        assert_eq!(merged.first(), Some(&(1030.0, 10.3)));
        assert!(merged.windows(2).all(|w| w[1].0 - w[0].0 == 15.0), "one grid, no duplicates");
        assert_eq!(merged.last(), Some(&(15_430.0, -1.0)));
        // The refreshed minutes are the query's, not what was held.
        assert!(merged.iter().filter(|(t, _)| *t >= 15_100.0).all(|(_, v)| *v == -1.0));
        assert!(merged.iter().filter(|(t, _)| *t < 15_100.0).all(|(_, v)| *v > 0.0));
    }
}
