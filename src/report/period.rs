//! The period a report covers: a UTC calendar month or any `[from, to)` range, split at month
//! boundaries (month-to-date gauges restart with each month) and into fetch chunks (one query each, so a
//! long period shows progress and no answer grows past Prometheus's sample limits).

use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};

/// Why a period could not be built: always bad input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PeriodError {
    #[error("--month {0:?}: expected YYYY-MM, e.g. 2026-11")]
    Month(String),
    #[error("{flag} {value:?}: expected an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01, midnight UTC)")]
    Time { flag: &'static str, value: String },
    #[error("--from must be before --to")]
    Empty,
    #[error("calendar arithmetic failed: {0}")]
    Calendar(String),
}

/// A half-open UTC interval `[from, to)` in Unix seconds, with the name it is reported under.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    /// `2026-11` for a month, `FROM..TO` (RFC 3339) for a range.
    pub name: String,
}

/// A part of a period inside one calendar month.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub from: i64,
    pub to: i64,
    /// First instant of the month the segment lies in.
    pub month_start: i64,
}

fn ts(seconds: i64) -> Result<Timestamp, PeriodError> {
    Timestamp::from_second(seconds).map_err(|e| PeriodError::Calendar(e.to_string()))
}

fn midnight(d: Date) -> Result<i64, PeriodError> {
    Ok(d.to_zoned(TimeZone::UTC).map_err(|e| PeriodError::Calendar(e.to_string()))?.timestamp().as_second())
}

/// First instant of the month after the one `t` falls in.
fn next_month(t: i64) -> Result<i64, PeriodError> {
    let first = ts(t)?.to_zoned(TimeZone::UTC).date().first_of_month();
    midnight(first.checked_add(1.month()).map_err(|e| PeriodError::Calendar(e.to_string()))?)
}

fn month_of(t: i64) -> Result<i64, PeriodError> {
    midnight(ts(t)?.to_zoned(TimeZone::UTC).date().first_of_month())
}

fn parse_time(flag: &'static str, value: &str) -> Result<i64, PeriodError> {
    let bad = || PeriodError::Time { flag, value: value.to_string() };
    if let Ok(t) = value.parse::<Timestamp>() {
        return Ok(t.as_second());
    }
    midnight(value.parse::<Date>().map_err(|_| bad())?)
}

impl Period {
    /// The UTC calendar month `YYYY-MM`.
    pub fn month(value: &str) -> Result<Self, PeriodError> {
        let bad = || PeriodError::Month(value.to_string());
        let (y, m) = value.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (y, m) = (y.parse::<i16>().map_err(|_| bad())?, m.parse::<i8>().map_err(|_| bad())?);
        let first = Date::new(y, m, 1).map_err(|_| bad())?;
        let from = midnight(first)?;
        Ok(Period { from, to: next_month(from)?, name: value.to_string() })
    }

    /// `[from, to)` from two flag values (RFC 3339 times or dates).
    pub fn range(from: &str, to: &str) -> Result<Self, PeriodError> {
        let (f, t) = (parse_time("--from", from)?, parse_time("--to", to)?);
        if f >= t {
            return Err(PeriodError::Empty);
        }
        Ok(Period { from: f, to: t, name: format!("{}..{}", ts(f)?, ts(t)?) })
    }

    /// The period split at UTC month boundaries.
    pub fn segments(&self) -> Result<Vec<Segment>, PeriodError> {
        let mut out = Vec::new();
        let mut at = self.from;
        while at < self.to {
            let end = next_month(at)?.min(self.to);
            out.push(Segment { from: at, to: end, month_start: month_of(at)? });
            at = end;
        }
        Ok(out)
    }

    /// Windows `(start, end]` of at most `chunk_s` seconds covering `(from - lookback, to]`: the
    /// lookback finds the sample each counter and gauge had just before the period.
    pub fn chunks(&self, lookback_s: i64, chunk_s: i64) -> Vec<(i64, i64)> {
        let chunk = chunk_s.max(1);
        let mut out = Vec::new();
        let mut start = self.from - lookback_s.max(0);
        while start < self.to {
            let end = (start + chunk).min(self.to);
            out.push((start, end));
            start = end;
        }
        out
    }

    /// RFC 3339 form of the bounds, for output.
    pub fn bounds(&self) -> (String, String) {
        let show = |s: i64| ts(s).map(|t| t.to_string()).unwrap_or_else(|_| s.to_string());
        (show(self.from), show(self.to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
    const DEC: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

    #[test]
    fn months_and_ranges_parse_and_bad_ones_say_what_is_expected() {
        let p = Period::month("2026-11").unwrap();
        assert_eq!((p.from, p.to), (NOV, DEC));
        assert_eq!(Period::month("2026-12").unwrap().to - DEC, 31 * 86_400);
        for bad in ["2026-13", "2026-1", "26-11", "november", "2026-11-01"] {
            assert!(matches!(Period::month(bad), Err(PeriodError::Month(_))), "{bad}");
        }
        let r = Period::range("2026-11-15", "2026-12-02T12:00:00Z").unwrap();
        assert_eq!(r.from, NOV + 14 * 86_400);
        assert_eq!(r.to, DEC + 86_400 + 43_200);
        assert_eq!(Period::range("2026-11-02", "2026-11-01"), Err(PeriodError::Empty));
        let e = Period::range("yesterday", "2026-11-01").unwrap_err().to_string();
        assert!(e.starts_with("--from \"yesterday\": expected"), "{e}");
    }

    #[test]
    fn segments_split_at_month_boundaries_and_chunks_cover_the_lookback() {
        let r = Period::range("2026-11-20", "2026-12-10").unwrap();
        let s = r.segments().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].from, s[0].to, s[0].month_start), (r.from, DEC, NOV));
        assert_eq!((s[1].from, s[1].to, s[1].month_start), (DEC, r.to, DEC));
        let c = Period::month("2026-11").unwrap().chunks(600, 86_400);
        assert_eq!(c.first().unwrap().0, NOV - 600);
        assert_eq!(c.last().unwrap().1, DEC);
        assert_eq!(c.len(), 31);
        assert!(c.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
