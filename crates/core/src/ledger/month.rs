//! UTC calendar months: the unit budgets and month-to-date spend are kept in.

use jiff::{Timestamp, ToSpan, tz::TimeZone};

use super::LedgerError;

/// The month `ts` falls in, as `YYYY-MM` (UTC), the form kept in `status.cost.month`.
pub fn month_key(ts: Timestamp) -> String {
    let d = ts.to_zoned(TimeZone::UTC).date();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// First instant of the month `ts` falls in (UTC).
pub fn month_start(ts: Timestamp) -> Result<Timestamp, LedgerError> {
    let first = ts.to_zoned(TimeZone::UTC).date().first_of_month();
    Ok(first.to_zoned(TimeZone::UTC).map_err(|e| LedgerError::Calendar(e.to_string()))?.timestamp())
}

/// First instant of the month after the one `ts` falls in (UTC).
pub fn next_month_start(ts: Timestamp) -> Result<Timestamp, LedgerError> {
    let first = ts.to_zoned(TimeZone::UTC).date().first_of_month();
    let next = first.checked_add(1.month()).map_err(|e| LedgerError::Calendar(e.to_string()))?;
    Ok(next.to_zoned(TimeZone::UTC).map_err(|e| LedgerError::Calendar(e.to_string()))?.timestamp())
}

/// Seconds from `ts` to the end of its month.
pub fn seconds_left_in_month(ts: Timestamp) -> Result<f64, LedgerError> {
    Ok(next_month_start(ts)?.duration_since(ts).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn keys_and_bounds() {
        assert_eq!(month_key(t("2026-02-28T23:59:59Z")), "2026-02");
        assert_eq!(month_key(t("2026-03-01T00:00:00Z")), "2026-03");
        // A time zone offset in the input must not move the month: keys are UTC.
        assert_eq!(month_key(t("2026-03-01T00:30:00+01:00")), "2026-02");
        assert_eq!(next_month_start(t("2026-12-15T10:00:00Z")).unwrap(), t("2027-01-01T00:00:00Z"));
        assert_eq!(month_start(t("2026-12-15T10:00:00Z")).unwrap(), t("2026-12-01T00:00:00Z"));
        assert_eq!(seconds_left_in_month(t("2026-02-28T23:00:00Z")).unwrap(), 3600.0);
    }
}
