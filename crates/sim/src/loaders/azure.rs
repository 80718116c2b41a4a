//! Azure LLM inference trace CSV (AzurePublicDataset, 2023 and 2024):
//! `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps `YYYY-MM-DD HH:MM:SS[.fffffff]` in UTC.

use std::path::Path;

use super::{Request, row_error, tokens};
use hybridscale_core::input::InputError;

/// Parse the whole file; rows are sorted by time afterwards (the published files already are).
pub fn parse(path: &Path, text: &str) -> Result<Vec<Request>, InputError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim_start_matches('\u{feff}').to_ascii_lowercase());
    if !header.as_deref().is_some_and(|h| h.starts_with("timestamp")) {
        return Err(row_error(path, 1, "expected the header TIMESTAMP,ContextTokens,GeneratedTokens"));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(',');
        let ts = fields.next().unwrap_or("").trim();
        let t = parse_timestamp(ts)
            .ok_or_else(|| row_error(path, lineno, format!("TIMESTAMP: {ts:?} is not YYYY-MM-DD HH:MM:SS[.fff]")))?;
        let input = tokens(path, lineno, "ContextTokens", fields.next())?;
        let output = tokens(path, lineno, "GeneratedTokens", fields.next())?;
        out.push(Request { t, input, output });
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(out)
}

/// Seconds since the Unix epoch of `YYYY-MM-DD HH:MM:SS[.fraction]` (also with a `T`).
fn parse_timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    // Four-digit years: the calendar arithmetic below overflows far beyond them.
    if d.next().is_some() || !(0..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.split(':');
    let h: f64 = t.next()?.parse().ok()?;
    let min: f64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    if t.next().is_some() || !(0.0..24.0).contains(&h) || !(0.0..60.0).contains(&min) || !(0.0..61.0).contains(&sec) {
        return None;
    }
    Some(days_from_civil(y, m, day) as f64 * 86400.0 + h * 3600.0 + min * 60.0 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_sorts() {
        let text =
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04.5,10,2\n2023-11-16 18:17:03.9799600,4808,10";
        let r = parse(Path::new("a.csv"), text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].input, 4808.0);
        assert!((r[1].t - r[0].t - 0.52004).abs() < 1e-6);
        // 2023-11-16 is day 19677 since the epoch.
        assert_eq!(days_from_civil(2023, 11, 16), 19677);
    }

    #[test]
    fn malformed_row_names_file_and_line() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,10,2\n2023-11-16 18:17:05,ten,2\n";
        let e = parse(Path::new("a.csv"), text).unwrap_err().to_string();
        assert!(e.starts_with("a.csv:3:1: ContextTokens"), "{e}");
        let e = parse(Path::new("a.csv"), "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1").unwrap_err();
        assert!(e.to_string().starts_with("a.csv:2:1: TIMESTAMP"), "{e}");
        let e =
            parse(Path::new("a.csv"), "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,1").unwrap_err();
        assert!(e.to_string().contains("missing column GeneratedTokens"), "{e}");
    }

    /// Found by reading, and by `tests/fuzz` (`trace_rows_with_extreme_numbers`): a year beyond four
    /// digits overflowed the calendar arithmetic (a panic in debug builds, a wrong time in release ones).
    #[test]
    fn years_beyond_four_digits_and_huge_token_counts_are_row_errors() {
        let head = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
        let e = parse(Path::new("a.csv"), &format!("{head}9223372036854775807-01-01 00:00:00,1,1\n")).unwrap_err();
        assert!(e.to_string().starts_with("a.csv:2:1: TIMESTAMP"), "{e}");
        let e = parse(Path::new("a.csv"), &format!("{head}2023-11-16 18:17:04,1e300,1\n")).unwrap_err();
        assert!(e.to_string().starts_with("a.csv:2:1: ContextTokens: 1e300 tokens is more than"), "{e}");
    }
}
