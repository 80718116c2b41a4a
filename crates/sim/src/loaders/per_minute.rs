//! Per-minute request counts CSV: `Time (min),Requests` (the Azure Functions trace as cleaned by the
//! SpotHedge artifact). Each row becomes a one-minute window at `Requests / 60` requests per second.

use std::path::Path;

use super::{number, row_error};
use hybridscale_core::input::InputError;

/// Parse the whole file into (window start in seconds, rate) rows.
pub fn parse(path: &Path, text: &str) -> Result<Vec<(f64, f64)>, InputError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim_start_matches('\u{feff}').to_ascii_lowercase());
    if !header.as_deref().is_some_and(|h| h.starts_with("time (min)")) {
        return Err(row_error(path, 1, "expected the header Time (min),Requests"));
    }
    let mut rows: Vec<(f64, f64)> = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.split(',');
        let minute = number(path, i + 1, "Time (min)", f.next())?;
        let count = number(path, i + 1, "Requests", f.next())?;
        let start = minute * 60.0;
        if let Some(&(prev, _)) = rows.last()
            && start <= prev
        {
            return Err(row_error(path, i + 1, format!("minute {minute} is not after the previous row's")));
        }
        rows.push((start, count / 60.0));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_bad_rows() {
        let r = parse(Path::new("f.csv"), "Time (min),Requests\n0,60\n1,120\n").unwrap();
        assert_eq!(r, vec![(0.0, 1.0), (60.0, 2.0)]);
        let e = parse(Path::new("f.csv"), "Time (min),Requests\n0,60\n1\n").unwrap_err().to_string();
        assert!(e.starts_with("f.csv:3:1: missing column Requests"), "{e}");
    }
}
