//! Integrating one pool's spend from `status.cost.accruedUntil` to now.
//!
//! Billing model: GPUs are billed per second (replicas × GPUs per replica × USD per GPU-hour / 3600) and
//! the external API per token. Between two accruals the usage observed *now* is taken to have held for
//! the whole interval: replicas only change when the operator changes them (at most once per tick), and
//! token rates come from Prometheus `rate()` windows that already average the recent past, so the error is
//! bounded by one tick of change.
//!
//! Gaps: when the operator was away (restart, leader hand-over) the interval is simply longer and is
//! integrated the same way, because nothing resized the workloads while nobody was running the loop. An
//! interval longer than [`LedgerConfig::max_gap_seconds`] (default one hour) is capped: only its most recent
//! `max_gap_seconds` are counted and the rest is reported as [`Accrual::uncounted_seconds`] so the
//! controller can raise an Event. We cap rather than extrapolate because after a long outage (or a status
//! restored from an old backup) today's usage says little about the gap, and a fabricated charge would
//! drive budget decisions; a known hole in the ledger that is reported is the lesser evil.

use jiff::Timestamp;

use super::LedgerError;
use super::month::{month_key, month_start, seconds_left_in_month};
use crate::api::inference_pool::{ClassCost, ClassReplicas, CostStatus};
use crate::planner::{Class, Prices};

/// What one pool is using now: the rate the ledger integrates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Replicas holding GPUs per class (pods that exist, ready or starting: a starting replica's GPUs are
    /// already billed).
    pub replicas: ClassReplicas,
    /// GPUs one replica holds.
    pub gpus_per_replica: u32,
    /// Prompt tokens per second sent to the external API.
    pub external_input_tokens_per_s: f64,
    /// Generated tokens per second received from the external API.
    pub external_output_tokens_per_s: f64,
}

impl Usage {
    /// Usage from what the controller observes: replicas holding GPUs per class, and the external API's
    /// token rates derived from the pool's request rate, mean token counts and the external route weight
    /// (percent). Unknown signals give 0 external tokens: the ledger never invents spend.
    pub fn observed(
        replicas: ClassReplicas,
        gpus_per_replica: u32,
        load: &crate::planner::LoadSignals,
        external_weight: u32,
    ) -> Self {
        let share = f64::from(external_weight.min(100)) / 100.0;
        let rps = load.request_rate.map_or(0.0, |s| s.value.max(0.0));
        let tokens = |mean: Option<crate::planner::Sample>| rps * share * mean.map_or(0.0, |s| s.value.max(0.0));
        Usage {
            replicas,
            gpus_per_replica,
            external_input_tokens_per_s: tokens(load.mean_input_tokens),
            external_output_tokens_per_s: tokens(load.mean_output_tokens),
        }
    }
}

/// Tuning of the ledger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LedgerConfig {
    /// Longest interval integrated in one accrual; see the module docs.
    pub max_gap_seconds: f64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { max_gap_seconds: 3600.0 }
    }
}

/// The result of one accrual.
#[derive(Clone, Debug, PartialEq)]
pub struct Accrual {
    /// The new cost status to write.
    pub status: CostStatus,
    /// Seconds integrated by this accrual (within the current month).
    pub accrued_seconds: f64,
    /// Seconds of a gap longer than `max_gap_seconds` that were not counted.
    pub uncounted_seconds: f64,
    /// True when the month changed since the last accrual and month-to-date restarted at 0.
    pub month_rolled_over: bool,
}

/// Burn rate per class in USD per hour (the `external` field is the external API).
pub fn burn_rate(usage: &Usage, prices: &Prices) -> Result<ClassCost, LedgerError> {
    check("external input tokens per second", usage.external_input_tokens_per_s)?;
    check("external output tokens per second", usage.external_output_tokens_per_s)?;
    check("external input token price", prices.external_input_token)?;
    check("external output token price", prices.external_output_token)?;
    let gpu = |c: Class| -> Result<f64, LedgerError> {
        let price = prices.gpu_hour[c as usize];
        check(c.as_str(), price)?;
        Ok(f64::from(usage.replicas.get(c)) * f64::from(usage.gpus_per_replica) * price)
    };
    Ok(ClassCost {
        reserved: gpu(Class::Reserved)?,
        spot: gpu(Class::Spot)?,
        on_demand: gpu(Class::OnDemand)?,
        external: 3600.0
            * (usage.external_input_tokens_per_s * prices.external_input_token
                + usage.external_output_tokens_per_s * prices.external_output_token),
    })
}

fn check(what: &'static str, v: f64) -> Result<(), LedgerError> {
    if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(LedgerError::InvalidRate { what, value: v }) }
}

/// Integrate spend from `prev.accruedUntil` to `now` at `usage`, and recompute the burn rate and the
/// projection. Pure: the same inputs always give the same status, and calling it again with the same
/// `now` adds nothing, which is what makes restarts and leader changes safe.
///
/// `now` is truncated to the millisecond so the stored `accruedUntil` is exactly the instant integrated up
/// to. A `now` earlier than `accruedUntil` (clock skew between two leaders) accrues nothing and never moves
/// `accruedUntil` backwards. Without `accruedUntil` (a new pool) accrual starts at `now`.
pub fn accrue(
    prev: &CostStatus,
    usage: &Usage,
    prices: &Prices,
    now: Timestamp,
    config: &LedgerConfig,
) -> Result<Accrual, LedgerError> {
    let now = Timestamp::from_millisecond(now.as_millisecond()).map_err(|e| LedgerError::Calendar(e.to_string()))?;
    let rate = burn_rate(usage, prices)?;
    let start = match prev.accrued_until.as_deref() {
        Some(s) => Some(
            s.parse::<Timestamp>()
                .map_err(|e| LedgerError::AccruedUntil { value: s.to_string(), reason: e.to_string() })?,
        ),
        None => None,
    };
    let key = month_key(now);
    let prev_month = prev.month.clone().or_else(|| start.map(month_key));
    let rolled = prev_month.as_deref().is_some_and(|m| m != key);
    let mut by_class = if rolled { ClassCost::default() } else { prev.month_to_date_by_class };

    let (mut accrued, mut uncounted, until) = (0.0, 0.0, start.map_or(now, |s| s.max(now)));
    if let Some(start) = start.filter(|s| *s < now) {
        let gap = now.duration_since(start).as_secs_f64();
        let counted = gap.min(config.max_gap_seconds.max(0.0));
        uncounted = gap - counted;
        // Only the part inside the current month counts towards it; the earlier part belonged to a
        // month whose total is no longer kept.
        let month_begin = month_start(now)?.duration_since(start).as_secs_f64();
        let window_start = (gap - counted).max(month_begin);
        accrued = (gap - window_start).max(0.0);
        let hours = accrued / 3600.0;
        by_class.reserved += rate.reserved * hours;
        by_class.spot += rate.spot * hours;
        by_class.on_demand += rate.on_demand * hours;
        by_class.external += rate.external * hours;
    }

    let usd_per_hour = rate.total();
    let month_to_date_usd = by_class.total();
    let status = CostStatus {
        usd_per_hour,
        month_to_date_usd,
        projected_month_usd: month_to_date_usd + usd_per_hour * seconds_left_in_month(until)? / 3600.0,
        month_to_date_by_class: by_class,
        month: Some(key),
        accrued_until: Some(until.to_string()),
    };
    Ok(Accrual { status, accrued_seconds: accrued, uncounted_seconds: uncounted, month_rolled_over: rolled })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn prices() -> Prices {
        // $/GPU-hour: reserved 7.37, spot 3.23, on-demand 12.29; $2.68 / $3.54 per million tokens.
        Prices { gpu_hour: [7.37, 3.23, 12.29], external_input_token: 2.68e-6, external_output_token: 3.54e-6 }
    }

    fn usage() -> Usage {
        Usage {
            replicas: ClassReplicas { reserved: 2, spot: 3, on_demand: 1 },
            gpus_per_replica: 4,
            external_input_tokens_per_s: 1000.0,
            external_output_tokens_per_s: 250.0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn assert_status_close(a: &CostStatus, b: &CostStatus) {
        assert_eq!(a.accrued_until, b.accrued_until);
        assert_eq!(a.month, b.month);
        for (x, y) in [
            (a.usd_per_hour, b.usd_per_hour),
            (a.month_to_date_usd, b.month_to_date_usd),
            (a.projected_month_usd, b.projected_month_usd),
            (a.month_to_date_by_class.reserved, b.month_to_date_by_class.reserved),
            (a.month_to_date_by_class.spot, b.month_to_date_by_class.spot),
            (a.month_to_date_by_class.on_demand, b.month_to_date_by_class.on_demand),
            (a.month_to_date_by_class.external, b.month_to_date_by_class.external),
        ] {
            assert!(close(x, y), "{a:?}\n!=\n{b:?}");
        }
    }

    #[test]
    fn burn_rate_is_gpus_times_price_plus_tokens_times_price() {
        let r = burn_rate(&usage(), &prices()).unwrap();
        assert!(close(r.reserved, 2.0 * 4.0 * 7.37));
        assert!(close(r.spot, 3.0 * 4.0 * 3.23));
        assert!(close(r.on_demand, 4.0 * 12.29));
        assert!(close(r.external, 3600.0 * (1000.0 * 2.68e-6 + 250.0 * 3.54e-6)));
    }

    #[test]
    fn first_accrual_starts_the_ledger_without_charging() {
        let a = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-22T07:00:00Z"), &Default::default())
            .unwrap();
        assert_eq!(a.accrued_seconds, 0.0);
        assert_eq!(a.status.month_to_date_usd, 0.0);
        assert_eq!(a.status.month.as_deref(), Some("2026-11"));
        assert_eq!(a.status.accrued_until.as_deref(), Some("2026-11-22T07:00:00Z"));
        // Projection = burn for the 8 days 17 hours left.
        let left_h = (8.0 * 24.0) + 17.0;
        assert!(close(a.status.projected_month_usd, a.status.usd_per_hour * left_h));
    }

    #[test]
    fn per_second_billing_over_one_tick() {
        let cfg = LedgerConfig::default();
        let s0 = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-22T07:00:00Z"), &cfg).unwrap();
        let s1 = accrue(&s0.status, &usage(), &prices(), t("2026-11-22T07:00:15Z"), &cfg).unwrap();
        assert_eq!(s1.accrued_seconds, 15.0);
        let c = s1.status.month_to_date_by_class;
        assert!(close(c.spot, 12.0 * 3.23 * 15.0 / 3600.0));
        assert!(close(c.external, 15.0 * (1000.0 * 2.68e-6 + 250.0 * 3.54e-6)));
        assert!(close(s1.status.month_to_date_usd, c.total()));
    }

    #[test]
    fn restart_is_idempotent() {
        // One process accruing every 15 s for an hour ...
        let cfg = LedgerConfig::default();
        let base = t("2026-11-22T07:00:00Z");
        let times: Vec<Timestamp> =
            (0..=240).map(|i| base.checked_add(jiff::SignedDuration::from_secs(15 * i)).unwrap()).collect();
        let mut one = CostStatus::default();
        for &now in &times {
            one = accrue(&one, &usage(), &prices(), now, &cfg).unwrap().status;
        }
        // ... equals a process that restarts after every tick (status written as JSON, read back), and
        // that sometimes runs twice for the same instant (two reconciles, or a new leader catching up).
        let mut restarted = CostStatus::default();
        for &now in &times {
            for _ in 0..2 {
                let next = accrue(&restarted, &usage(), &prices(), now, &cfg).unwrap().status;
                let json = serde_json::to_string(&next).unwrap();
                restarted = serde_json::from_str(&json).unwrap();
            }
        }
        assert_status_close(&one, &restarted);
        // ... and equals a single accrual over the whole hour, since the usage did not change.
        let first = accrue(&CostStatus::default(), &usage(), &prices(), times[0], &cfg).unwrap().status;
        let whole = accrue(&first, &usage(), &prices(), times[240], &cfg).unwrap().status;
        assert_status_close(&one, &whole);
        assert!(close(one.month_to_date_usd, burn_rate(&usage(), &prices()).unwrap().total()));
    }

    #[test]
    fn clock_going_backwards_accrues_nothing_and_keeps_accrued_until() {
        let cfg = LedgerConfig::default();
        let s0 = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-22T07:00:00Z"), &cfg).unwrap();
        let s1 = accrue(&s0.status, &usage(), &prices(), t("2026-11-22T07:10:00Z"), &cfg).unwrap();
        let back = accrue(&s1.status, &usage(), &prices(), t("2026-11-22T07:09:00Z"), &cfg).unwrap();
        assert_eq!(back.accrued_seconds, 0.0);
        assert_eq!(back.status.accrued_until, s1.status.accrued_until);
        assert_eq!(back.status.month_to_date_usd, s1.status.month_to_date_usd);
    }

    #[test]
    fn month_rollover_splits_the_interval() {
        let cfg = LedgerConfig::default();
        let s0 = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-30T23:59:00Z"), &cfg).unwrap();
        let s1 = accrue(&s0.status, &usage(), &prices(), t("2026-12-01T00:01:00Z"), &cfg).unwrap();
        assert!(s1.month_rolled_over);
        assert_eq!(s1.status.month.as_deref(), Some("2026-12"));
        // Only the 60 s after midnight belong to December.
        assert_eq!(s1.accrued_seconds, 60.0);
        let rate = burn_rate(&usage(), &prices()).unwrap().total();
        assert!(close(s1.status.month_to_date_usd, rate / 60.0));
        // The next accrual in December keeps adding.
        let s2 = accrue(&s1.status, &usage(), &prices(), t("2026-12-01T00:02:00Z"), &cfg).unwrap();
        assert!(!s2.month_rolled_over);
        assert!(close(s2.status.month_to_date_usd, 2.0 * rate / 60.0));
    }

    #[test]
    fn rollover_without_accrual_in_between_resets_month_to_date() {
        let cfg = LedgerConfig { max_gap_seconds: 40.0 * 86400.0 };
        let s0 = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-10-15T00:00:00Z"), &cfg).unwrap();
        let s1 = accrue(&s0.status, &usage(), &prices(), t("2026-10-31T00:00:00Z"), &cfg).unwrap();
        assert!(s1.status.month_to_date_usd > 0.0);
        let s2 = accrue(&s1.status, &usage(), &prices(), t("2026-11-02T00:00:00Z"), &cfg).unwrap();
        assert!(s2.month_rolled_over);
        assert_eq!(s2.accrued_seconds, 86400.0);
        let rate = burn_rate(&usage(), &prices()).unwrap().total();
        assert!(close(s2.status.month_to_date_usd, rate * 24.0));
    }

    #[test]
    fn long_gap_is_capped_and_reported() {
        let cfg = LedgerConfig { max_gap_seconds: 600.0 };
        let s0 = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-22T07:00:00Z"), &cfg).unwrap();
        let s1 = accrue(&s0.status, &usage(), &prices(), t("2026-11-22T09:00:00Z"), &cfg).unwrap();
        assert_eq!(s1.accrued_seconds, 600.0);
        assert_eq!(s1.uncounted_seconds, 7200.0 - 600.0);
        assert_eq!(s1.status.accrued_until.as_deref(), Some("2026-11-22T09:00:00Z"));
    }

    #[test]
    fn usage_from_observed_signals() {
        use crate::planner::{LoadSignals, Sample};
        let at = 0.0;
        let load = LoadSignals {
            request_rate: Some(Sample { value: 10.0, at }),
            mean_input_tokens: Some(Sample { value: 1000.0, at }),
            mean_output_tokens: Some(Sample { value: 250.0, at }),
            ..Default::default()
        };
        let u = Usage::observed(ClassReplicas { reserved: 1, spot: 0, on_demand: 0 }, 4, &load, 30);
        assert!(close(u.external_input_tokens_per_s, 3000.0));
        assert!(close(u.external_output_tokens_per_s, 750.0));
        let none = Usage::observed(ClassReplicas::default(), 4, &LoadSignals::default(), 100);
        assert_eq!(none.external_input_tokens_per_s, 0.0);
    }

    proptest::proptest! {
        /// Splitting an interval into any ticks (and restarting between them) integrates the same spend as
        /// one accrual over the whole interval, while usage is constant and no gap is capped, including
        /// intervals that cross the end of the month.
        #[test]
        fn accrual_is_additive_over_any_ticks(
            steps in proptest::collection::vec(0u64..1_200_000, 1..40),
            start_hour in 0i64..(31 * 24),
            spot in 0u32..20,
        ) {
            let cfg = LedgerConfig { max_gap_seconds: f64::INFINITY };
            let u = Usage { replicas: ClassReplicas { reserved: 1, spot, on_demand: 2 }, ..usage() };
            let t0 = t("2026-10-01T00:00:00Z").checked_add(jiff::SignedDuration::from_hours(start_hour)).unwrap();
            let first = accrue(&CostStatus::default(), &u, &prices(), t0, &cfg).unwrap().status;
            let mut ticked = first.clone();
            let mut now = t0;
            for ms in &steps {
                now = now.checked_add(jiff::SignedDuration::from_millis(*ms as i64)).unwrap();
                let next = accrue(&ticked, &u, &prices(), now, &cfg).unwrap().status;
                ticked = serde_json::from_str(&serde_json::to_string(&next).unwrap()).unwrap();
            }
            let whole = accrue(&first, &u, &prices(), now, &cfg).unwrap().status;
            proptest::prop_assert_eq!(&ticked.accrued_until, &whole.accrued_until);
            proptest::prop_assert!(close(ticked.month_to_date_usd, whole.month_to_date_usd),
                "{} != {}", ticked.month_to_date_usd, whole.month_to_date_usd);
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let bad = CostStatus { accrued_until: Some("yesterday".into()), ..Default::default() };
        let e = accrue(&bad, &usage(), &prices(), t("2026-11-22T07:00:00Z"), &Default::default()).unwrap_err();
        assert!(e.to_string().contains("status.cost.accruedUntil"), "{e}");
        let mut p = prices();
        p.gpu_hour[1] = f64::NAN;
        let e = burn_rate(&usage(), &p).unwrap_err();
        assert!(e.to_string().contains("spot"), "{e}");
    }

    #[test]
    fn sub_millisecond_now_is_truncated_so_accrued_until_is_exact() {
        let cfg = LedgerConfig::default();
        let s0 =
            accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-22T07:00:00.123456789Z"), &cfg).unwrap();
        assert_eq!(s0.status.accrued_until.as_deref(), Some("2026-11-22T07:00:00.123Z"));
    }
}
