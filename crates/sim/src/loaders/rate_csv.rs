//! ServeGen aggregate rate CSV: `window_start_s,total_rate_rps,...` (10-minute windows).
//!
//! Windows whose total rate is (almost) zero are collection gaps in the published aggregates (the
//! README says to treat them as missing, not idle): they take the previous window's rate.

use std::path::Path;

use super::{number, row_error};
use hybridscale_core::input::InputError;

/// A window counts as a gap below this share of the series' mean rate.
const GAP_SHARE: f64 = 0.01;

/// Parse the whole file into (window start, rate) rows with gaps filled.
pub fn parse(path: &Path, text: &str) -> Result<Vec<(f64, f64)>, InputError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim_start_matches('\u{feff}').to_ascii_lowercase());
    if !header.as_deref().is_some_and(|h| h.starts_with("window_start_s")) {
        return Err(row_error(path, 1, "expected the header window_start_s,total_rate_rps,..."));
    }
    let mut rows: Vec<(f64, f64)> = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.split(',');
        let start = number(path, i + 1, "window_start_s", f.next())?;
        let rate = number(path, i + 1, "total_rate_rps", f.next())?;
        if let Some(&(prev, _)) = rows.last()
            && start <= prev
        {
            return Err(row_error(
                path,
                i + 1,
                format!("window_start_s {start} is not after the previous row's {prev}"),
            ));
        }
        rows.push((start, rate));
    }
    fill_gaps(&mut rows);
    Ok(rows)
}

fn fill_gaps(rows: &mut [(f64, f64)]) {
    if rows.is_empty() {
        return;
    }
    let mean = rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64;
    let floor = mean * GAP_SHARE;
    // A leading gap takes the first real value.
    let first_real = rows.iter().map(|r| r.1).find(|&r| r > floor).unwrap_or(0.0);
    let mut last = first_real;
    for r in rows.iter_mut() {
        if r.1 > floor {
            last = r.1;
        } else {
            r.1 = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fills_gaps_and_rejects_bad_rows() {
        let text = "window_start_s,total_rate_rps,active_clients,rate_weighted_mean_cv\n0,0.0,0,0\n600,10,3,1\n1200,0.001,0,0\n1800,20,1,1\n";
        let r = parse(Path::new("s.csv"), text).unwrap();
        assert_eq!(r, vec![(0.0, 10.0), (600.0, 10.0), (1200.0, 10.0), (1800.0, 20.0)]);
        let e = parse(Path::new("s.csv"), "window_start_s,total_rate_rps\n0,1\n600,-3\n").unwrap_err().to_string();
        assert!(e.starts_with("s.csv:3:1: total_rate_rps"), "{e}");
        let e = parse(Path::new("s.csv"), "window_start_s,total_rate_rps\n600,1\n0,3\n").unwrap_err().to_string();
        assert!(e.starts_with("s.csv:3:1:"), "{e}");
    }
}
