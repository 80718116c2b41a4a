//! Mooncake JSON Lines traces: one object per line with `timestamp` (milliseconds from the trace
//! start), `input_length` and `output_length`; other fields (`hash_ids`) are ignored.

use std::path::Path;

use serde::Deserialize;

use super::{Request, row_error};
use crate::limits;
use hybridscale_core::input::InputError;

#[derive(Deserialize)]
struct Line {
    timestamp: f64,
    input_length: f64,
    output_length: f64,
}

/// Parse the whole file.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Request>, InputError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line).map_err(|e| InputError::Parse {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            column: e.column() as u64,
            message: e.to_string(),
        })?;
        for (name, v) in
            [("timestamp", l.timestamp), ("input_length", l.input_length), ("output_length", l.output_length)]
        {
            if !v.is_finite() || v < 0.0 {
                return Err(row_error(path, i + 1, format!("{name} must be a finite number >= 0")));
            }
            if name != "timestamp" && v > limits::MAX_TOKENS {
                return Err(row_error(
                    path,
                    i + 1,
                    format!("{name}: {v:e} tokens is more than {:e}", limits::MAX_TOKENS),
                ));
            }
        }
        out.push(Request { t: l.timestamp / 1000.0, input: l.input_length, output: l.output_length });
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_bad_lines() {
        let text = "{\"timestamp\": 1500, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n\n{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n";
        let r = parse(Path::new("m.jsonl"), text).unwrap();
        assert_eq!(r[0].t, 0.0);
        assert_eq!(r[1].t, 1.5);
        let e = parse(
            Path::new("m.jsonl"),
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 1}\n",
        );
        let e = e.unwrap_err().to_string();
        assert!(e.starts_with("m.jsonl:2:"), "{e}");
        assert!(!e.contains('\n'));
    }
}
