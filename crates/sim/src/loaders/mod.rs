//! Trace loaders: Azure LLM CSV, Mooncake JSONL, ServeGen aggregate rate CSV and per-minute counts CSV,
//! each read into [`Raw`] and then binned to the simulator's step by [`bin`].
//!
//! Rate series carry no token sizes; those are drawn (seeded, so replays repeat) from a request
//! trace's prompt/output pairs ([`TokenSample`]). Every malformed row is an [`InputError`] naming the
//! file and the line.

mod azure;
mod mooncake;
mod per_minute;
mod rate_csv;

use std::path::Path;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::limits;
use super::trace::Trace;
use hybridscale_core::input::InputError;

/// One request of a request-level trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// Arrival, seconds from any fixed origin.
    pub t: f64,
    /// Prompt tokens.
    pub input: f64,
    /// Generated tokens.
    pub output: f64,
}

/// What a loader read, before binning.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// Individual requests, sorted by arrival.
    Requests(Vec<Request>),
    /// Piecewise-constant rate: (window start in seconds, requests per second), sorted by start.
    Rates(Vec<(f64, f64)>),
}

/// Trace file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// Pick from the first line.
    Auto,
    /// Azure LLM inference CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`.
    Azure,
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`.
    Mooncake,
    /// ServeGen aggregate CSV: `window_start_s,total_rate_rps,...`.
    RateCsv,
    /// Per-minute counts CSV: `Time (min),Requests`.
    PerMinute,
}

impl FromStr for TraceFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "azure" => Ok(Self::Azure),
            "mooncake" => Ok(Self::Mooncake),
            "rate-csv" => Ok(Self::RateCsv),
            "per-minute" => Ok(Self::PerMinute),
            other => Err(format!("unknown trace format {other:?} (auto, azure, mooncake, rate-csv, per-minute)")),
        }
    }
}

/// Prompt/output token pairs to draw request sizes from for rate series.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSample {
    pairs: Vec<(f64, f64)>,
}

impl TokenSample {
    /// The token sizes of a request trace. Errors when the trace is a rate series or empty.
    pub fn from_raw(path: &Path, raw: &Raw) -> Result<Self, InputError> {
        match raw {
            Raw::Requests(reqs) if !reqs.is_empty() => {
                Ok(TokenSample { pairs: reqs.iter().map(|r| (r.input, r.output)).collect() })
            }
            Raw::Requests(_) => Err(InputError::invalid(path, "no requests to draw token sizes from")),
            Raw::Rates(_) => Err(InputError::invalid(
                path,
                "a rate series has no token sizes; token sizes must come from a request trace (azure or mooncake)",
            )),
        }
    }
}

/// How a trace is turned into steps.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Format, or `Auto` to detect it.
    pub format: TraceFormat,
    /// Seconds per simulation step.
    pub step_s: f64,
    /// Multiplies every rate (requests per second).
    pub rate_scale: f64,
    /// Stretches the time axis: every timestamp and window is multiplied by it and the number of
    /// requests is kept, so rates are divided by it (2.0 = the same requests over twice the time).
    pub time_scale: f64,
    /// Caps the rate of rate series after scaling (the SpotHedge authors cap the Azure Functions
    /// counts this way, because of single-minute spikes 700x the mean).
    pub max_rps: Option<f64>,
    /// Token sizes for rate series.
    pub tokens: Option<TokenSample>,
    /// Seed of the token draw.
    pub seed: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: TraceFormat::Auto,
            step_s: 10.0,
            rate_scale: 1.0,
            time_scale: 1.0,
            max_rps: None,
            tokens: None,
            seed: 42,
        }
    }
}

/// Detect the format from the first non-empty line.
pub fn detect(path: &Path, text: &str) -> Result<TraceFormat, InputError> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start_matches('\u{feff}');
    let lower = first.to_ascii_lowercase();
    if first.trim_start().starts_with('{') {
        Ok(TraceFormat::Mooncake)
    } else if lower.contains("contexttokens") && lower.contains("generatedtokens") {
        Ok(TraceFormat::Azure)
    } else if lower.starts_with("window_start_s") {
        Ok(TraceFormat::RateCsv)
    } else if lower.starts_with("time (min)") {
        Ok(TraceFormat::PerMinute)
    } else {
        Err(InputError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: "cannot tell the trace format from the first line; pass --trace-format".into(),
        })
    }
}

/// Parse a trace's text (named `path` in errors) in `format`.
pub fn parse(path: &Path, text: &str, format: TraceFormat) -> Result<Raw, InputError> {
    let format = if format == TraceFormat::Auto { detect(path, text)? } else { format };
    let raw = match format {
        TraceFormat::Azure => Raw::Requests(azure::parse(path, text)?),
        TraceFormat::Mooncake => Raw::Requests(mooncake::parse(path, text)?),
        TraceFormat::RateCsv => Raw::Rates(rate_csv::parse(path, text)?),
        TraceFormat::PerMinute => Raw::Rates(per_minute::parse(path, text)?),
        TraceFormat::Auto => unreachable!("resolved above"),
    };
    match &raw {
        Raw::Requests(r) if r.is_empty() => Err(InputError::invalid(path, "the trace has no requests")),
        Raw::Rates(r) if r.is_empty() => Err(InputError::invalid(path, "the trace has no rows")),
        _ => Ok(raw),
    }
}

/// Read, parse and bin a trace file.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Trace, InputError> {
    let text = hybridscale_core::input::read_to_string(path)?;
    let raw = parse(path, &text, opts.format)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    bin(path, name, &raw, opts)
}

/// A line-numbered error.
pub(crate) fn row_error(path: &Path, line: usize, message: impl Into<String>) -> InputError {
    InputError::Parse { path: path.to_path_buf(), line: line as u64, column: 1, message: message.into() }
}

/// Parse one numeric CSV field, naming the column in the error.
pub(crate) fn number(path: &Path, line: usize, column: &str, field: Option<&str>) -> Result<f64, InputError> {
    let field = field.map(str::trim).ok_or_else(|| row_error(path, line, format!("missing column {column}")))?;
    let v: f64 = field.parse().map_err(|_| row_error(path, line, format!("{column}: {field:?} is not a number")))?;
    if !v.is_finite() || v < 0.0 {
        return Err(row_error(path, line, format!("{column}: {field:?} must be a finite number >= 0")));
    }
    Ok(v)
}

/// Parse one request's token count, naming the column in the error: a number from 0 to
/// [`limits::MAX_TOKENS`].
pub(crate) fn tokens(path: &Path, line: usize, column: &str, field: Option<&str>) -> Result<f64, InputError> {
    let v = number(path, line, column, field)?;
    if v > limits::MAX_TOKENS {
        return Err(row_error(path, line, format!("{column}: {v:e} tokens is more than {:e}", limits::MAX_TOKENS)));
    }
    Ok(v)
}

/// Bin a parsed trace to steps of `opts.step_s`. The result stays within [`limits`]: at most
/// `MAX_STEPS` steps, no step above `MAX_RPS`.
pub fn bin(path: &Path, name: String, raw: &Raw, opts: &LoadOptions) -> Result<Trace, InputError> {
    limits::positive_at_most(path, "step", opts.step_s, limits::MAX_STEP_S)?;
    for (what, v) in [("rate scale", opts.rate_scale), ("time scale", opts.time_scale)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(InputError::invalid(path, format!("{what} must be a positive number, got {v}")));
        }
    }
    let trace = match raw {
        Raw::Requests(reqs) => bin_requests(path, name, reqs, opts)?,
        Raw::Rates(rates) => {
            let tokens = opts
                .tokens
                .as_ref()
                .ok_or_else(|| InputError::invalid(path, "a rate series needs token sizes from a request trace"))?;
            bin_rates(path, name, rates, tokens, opts)?
        }
    };
    limits::check_rates(path, &trace)?;
    Ok(trace)
}

fn bin_requests(path: &Path, name: String, reqs: &[Request], opts: &LoadOptions) -> Result<Trace, InputError> {
    let t0 = reqs.first().map(|r| r.t).unwrap_or(0.0);
    let last = reqs.last().map(|r| r.t).unwrap_or(0.0);
    let span = (last - t0) * opts.time_scale;
    let steps = limits::steps(path, (span / opts.step_s).floor() + 1.0, span, opts.step_s)?;
    let mut count = vec![0.0; steps];
    let mut input = vec![0.0; steps];
    let mut output = vec![0.0; steps];
    for r in reqs {
        let i = (((r.t - t0) * opts.time_scale / opts.step_s) as usize).min(steps - 1);
        count[i] += 1.0;
        input[i] += r.input;
        output[i] += r.output;
    }
    // Steps with no request inherit the last sizes seen so capacity-for-the-mix stays defined.
    let (mut last_in, mut last_out) = (reqs[0].input, reqs[0].output);
    for i in 0..steps {
        if count[i] > 0.0 {
            input[i] /= count[i];
            output[i] /= count[i];
            last_in = input[i];
            last_out = output[i];
        } else {
            input[i] = last_in;
            output[i] = last_out;
        }
        count[i] *= opts.rate_scale;
    }
    Ok(Trace { name, step_s: opts.step_s, arrivals: count, mean_input: input, mean_output: output })
}

fn bin_rates(
    path: &Path,
    name: String,
    rates: &[(f64, f64)],
    tokens: &TokenSample,
    opts: &LoadOptions,
) -> Result<Trace, InputError> {
    let t0 = rates[0].0;
    // The last window lasts as long as the one before it (or one minute for a single row).
    let last_len = if rates.len() >= 2 { rates[rates.len() - 1].0 - rates[rates.len() - 2].0 } else { 60.0 };
    let span = (rates[rates.len() - 1].0 + last_len - t0) * opts.time_scale;
    let steps = limits::steps(path, (span / opts.step_s).ceil(), span, opts.step_s)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut arrivals = Vec::with_capacity(steps);
    let mut mean_input = Vec::with_capacity(steps);
    let mut mean_output = Vec::with_capacity(steps);
    let mut w = 0;
    for i in 0..steps {
        let mid = t0 + (i as f64 + 0.5) * opts.step_s / opts.time_scale;
        while w + 1 < rates.len() && rates[w + 1].0 <= mid {
            w += 1;
        }
        let mut rps = rates[w].1 * opts.rate_scale / opts.time_scale;
        if let Some(cap) = opts.max_rps {
            rps = rps.min(cap);
        }
        let n = rps * opts.step_s;
        // Mean size of this step's requests: average of as many draws as requests (at most 16, enough
        // for the mean's noise to be small next to the trace's own variation).
        let k = (n.round() as usize).clamp(1, 16);
        let (mut si, mut so) = (0.0, 0.0);
        for _ in 0..k {
            let (a, b) = tokens.pairs[rng.random_range(0..tokens.pairs.len())];
            si += a;
            so += b;
        }
        arrivals.push(n);
        mean_input.push(si / k as f64);
        mean_output.push(so / k as f64);
    }
    Ok(Trace { name, step_s: opts.step_s, arrivals, mean_input, mean_output })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(detect(p(), "TIMESTAMP,ContextTokens,GeneratedTokens\n").unwrap(), TraceFormat::Azure);
        assert_eq!(detect(p(), "{\"timestamp\": 0}\n").unwrap(), TraceFormat::Mooncake);
        assert_eq!(detect(p(), "window_start_s,total_rate_rps\n").unwrap(), TraceFormat::RateCsv);
        assert_eq!(detect(p(), "Time (min),Requests\n").unwrap(), TraceFormat::PerMinute);
        let e = detect(p(), "a,b\n").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:1:1:"), "{e}");
    }

    #[test]
    fn requests_bin_and_scale() {
        let raw = Raw::Requests(vec![
            Request { t: 100.0, input: 10.0, output: 1.0 },
            Request { t: 105.0, input: 30.0, output: 3.0 },
            Request { t: 125.0, input: 50.0, output: 5.0 },
        ]);
        let opts = LoadOptions { rate_scale: 2.0, ..LoadOptions::default() };
        let t = bin(p(), "x".into(), &raw, &opts).unwrap();
        assert_eq!(t.arrivals, vec![4.0, 0.0, 2.0]);
        assert_eq!(t.mean_input, vec![20.0, 20.0, 50.0]);
        let stretched = bin(p(), "x".into(), &raw, &LoadOptions { time_scale: 2.0, ..LoadOptions::default() });
        let stretched = stretched.unwrap();
        assert_eq!(stretched.len(), 6);
        assert_eq!(stretched.arrivals.iter().sum::<f64>(), 3.0);
    }

    #[test]
    fn rates_are_piecewise_constant_scaled_capped_and_seeded() {
        let raw = Raw::Rates(vec![(0.0, 1.0), (60.0, 3.0)]);
        let tokens = TokenSample { pairs: vec![(100.0, 10.0), (300.0, 30.0)] };
        let opts = LoadOptions { tokens: Some(tokens), rate_scale: 2.0, max_rps: Some(5.0), ..LoadOptions::default() };
        let t = bin(p(), "r".into(), &raw, &opts).unwrap();
        assert_eq!(t.len(), 12);
        assert_eq!(t.arrivals[0], 20.0);
        assert_eq!(t.arrivals[6], 50.0);
        assert!(t.mean_input.iter().all(|&m| (100.0..=300.0).contains(&m)));
        let again = bin(p(), "r".into(), &raw, &opts).unwrap();
        assert_eq!(t, again);
        let no_tokens = bin(p(), "r".into(), &raw, &LoadOptions::default()).unwrap_err().to_string();
        assert!(no_tokens.contains("token sizes"), "{no_tokens}");
    }

    /// Bug 5: `--rate-scale 1e300` (and its kin) ran forever; every scale and step that would give an
    /// unbounded replay is an error naming the file.
    #[test]
    fn scales_and_steps_that_would_not_finish_are_errors() {
        let raw = Raw::Requests(vec![
            Request { t: 0.0, input: 10.0, output: 1.0 },
            Request { t: 3600.0, input: 30.0, output: 3.0 },
        ]);
        let err = |opts: LoadOptions| bin(p(), "x".into(), &raw, &opts).unwrap_err().to_string();
        let e = err(LoadOptions { rate_scale: 1e300, ..LoadOptions::default() });
        assert!(e.starts_with("t.csv: the replay reaches 1.000e299 requests per second"), "{e}");
        let e = err(LoadOptions { time_scale: 1e300, ..LoadOptions::default() });
        assert!(e.starts_with("t.csv: the replay would take 3.600e302 steps"), "{e}");
        let e = err(LoadOptions { step_s: 1e-300, ..LoadOptions::default() });
        assert!(e.contains("steps"), "{e}");
        let e = err(LoadOptions { step_s: 1e300, ..LoadOptions::default() });
        assert!(e.contains("step must be a number > 0 and <= 3600"), "{e}");
        for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let e = err(LoadOptions { rate_scale: bad, ..LoadOptions::default() });
            assert!(e.contains("rate scale must be a positive number"), "{e}");
        }
        // A rate series: huge rows are just as bounded.
        let rates = Raw::Rates(vec![(0.0, 1e300), (1e300, 1.0)]);
        let tokens = TokenSample { pairs: vec![(100.0, 10.0)] };
        let opts = LoadOptions { tokens: Some(tokens), ..LoadOptions::default() };
        let e = bin(p(), "r".into(), &rates, &opts).unwrap_err().to_string();
        assert!(e.contains("steps"), "{e}");
    }
}
