//! Trace files, policy files and spot traces, as `hybridscale simulate` reads them.

use std::path::Path;

use hybridscale::sim::{self, LoadOptions, Scenario, SpotMarket, TraceFormat, limits, loaders, policy};
use proptest::prelude::*;

use super::{bytes, config, number, one_line_located};

const TRACE: &str = "fuzz.trace";
/// The benchmark's two-provider policy: each provider's model, prices and latency are the single
/// form's fields flattened into it (`ExternalProvider::api`), so they parse through serde's flatten.
const TWO_PROVIDERS: &str = include_str!("../../benchmarks/sim/8b-two-providers-policy.yaml");

fn format() -> impl Strategy<Value = TraceFormat> {
    prop::sample::select(vec![
        TraceFormat::Auto,
        TraceFormat::Azure,
        TraceFormat::Mooncake,
        TraceFormat::RateCsv,
        TraceFormat::PerMinute,
    ])
}

/// A file of `format` whose rows carry the given fields.
fn render(format: usize, rows: &[(String, String, String)]) -> String {
    let mut text = String::from(
        ["TIMESTAMP,ContextTokens,GeneratedTokens\n", "", "window_start_s,total_rate_rps\n", "Time (min),Requests\n"]
            [format],
    );
    for (a, b, c) in rows {
        let line = match format {
            0 => format!("{a}-11-16 18:17:04,{b},{c}\n"),
            1 => format!("{{\"timestamp\": {a}, \"input_length\": {b}, \"output_length\": {c}}}\n"),
            2 => format!("{a},{b}\n"),
            _ => format!("{a},{b}\n"),
        };
        text.push_str(&line);
    }
    text
}

/// Parse, then bin under ordinary and extreme options: a trace within `limits`, or a located error.
fn check_trace(text: &str, format: TraceFormat, scale: f64, step: f64) -> Result<(), TestCaseError> {
    let path = Path::new(TRACE);
    let raw = match loaders::parse(path, text, format) {
        Ok(raw) => raw,
        Err(e) => return one_line_located(&e, TRACE),
    };
    let tokens = sim::TokenSample::from_raw(path, &raw).or_else(|_| sim::default_tokens()).expect("tokens");
    for (rate_scale, time_scale) in [(1.0, 1.0), (scale, 1.0), (1.0, scale), (scale, 1.0 / scale)] {
        let opts =
            LoadOptions { tokens: Some(tokens.clone()), rate_scale, time_scale, step_s: step, ..Default::default() };
        match loaders::bin(path, "fuzz".into(), &raw, &opts) {
            Err(e) => one_line_located(&e, TRACE)?,
            Ok(trace) => {
                prop_assert!(!trace.is_empty() && trace.len() as f64 <= limits::MAX_STEPS);
                prop_assert!((0..trace.len()).all(|i| trace.rps(i) <= limits::MAX_RPS), "{:?}", trace.stats());
                prop_assert!(trace.mean_input.iter().chain(&trace.mean_output).all(|t| t.is_finite()));
                if let Err(e) = limits::check_replay(path, &trace, default_spec()) {
                    one_line_located(&e, TRACE)?;
                }
            }
        }
    }
    Ok(())
}

fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1e300), Just(1e-300), Just(f64::MIN_POSITIVE), Just(1e9), Just(3.0), 1e-6..1e6]
}

fn step() -> impl Strategy<Value = f64> {
    prop_oneof![Just(10.0), Just(1e-3), Just(3600.0), Just(0.5)]
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn trace_files_of_arbitrary_bytes(text in bytes(), format in format(), scale in scale(), step in step()) {
        check_trace(&text, format, scale, step)?;
    }

    #[test]
    fn trace_rows_with_extreme_numbers(
        format in 0usize..4,
        rows in prop::collection::vec((number(), number(), number()), 1..6),
        scale in scale(),
        step in step(),
    ) {
        check_trace(&render(format, &rows), TraceFormat::Auto, scale, step)?;
    }

    #[test]
    fn policy_files_of_arbitrary_bytes(text in bytes()) {
        if let Err(e) = policy::parse(Path::new("fuzz.yaml"), &text) {
            one_line_located(&e, "fuzz.yaml")?;
        }
    }

    #[test]
    fn policy_files_with_one_extreme_number(pick in any::<prop::sample::Index>(), value in number()) {
        check_policy_with_one_number(policy::DEFAULT_POLICY, pick, &value)?;
    }

    #[test]
    fn provider_policy_files_with_one_extreme_number(pick in any::<prop::sample::Index>(), value in number()) {
        check_policy_with_one_number(TWO_PROVIDERS, pick, &value)?;
    }

    #[test]
    fn spot_traces_of_arbitrary_bytes_and_extreme_numbers(
        text in prop_oneof![
            bytes(),
            (number(), prop::collection::vec(number(), 0..4))
                .prop_map(|(gap, data)| format!("{{\"metadata\": {{\"gap_seconds\": {gap}}}, \"data\": [{}]}}", data.join(","))),
        ],
        t in prop_oneof![Just(0.0), Just(1e300), Just(f64::MAX), 0.0..1e7],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spot.json");
        std::fs::write(&path, &text).expect("write");
        match SpotMarket::load(&path) {
            Err(e) => one_line_located(&e, &path.display().to_string())?,
            Ok(market) => prop_assert!(market.cap(t, 8) <= 8),
        }
    }
}

/// The simulated world of the embedded default policy.
/// `yaml` with one of its numbers replaced by `value`: it parses and replays, or fails in one located line.
fn check_policy_with_one_number(yaml: &str, pick: prop::sample::Index, value: &str) -> Result<(), TestCaseError> {
    let numbers = numeric_values(yaml);
    let (start, end) = numbers[pick.index(numbers.len())];
    let text = format!("{}{value}{}", &yaml[..start], &yaml[end..]);
    let path = Path::new("fuzz.yaml");
    match policy::parse(path, &text) {
        Err(e) => one_line_located(&e, "fuzz.yaml")?,
        Ok((cost_policy, pool)) => match Scenario::from_resources(path, &cost_policy, &pool) {
            Err(e) => one_line_located(&e, "fuzz.yaml")?,
            Ok(scenario) => {
                let trace =
                    sim::default_trace(&LoadOptions { tokens: sim::default_tokens().ok(), ..Default::default() });
                let trace = trace.expect("embedded trace");
                if let Err(e) = limits::check_replay(path, &trace, &scenario.spec) {
                    one_line_located(&e, "fuzz.yaml")?;
                }
            }
        },
    }
    Ok(())
}

fn default_spec() -> &'static sim::SimSpec {
    static SPEC: std::sync::OnceLock<sim::SimSpec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let path = Path::new(policy::DEFAULT_POLICY_NAME);
        let (c, p) = policy::parse(path, policy::DEFAULT_POLICY).expect("default policy");
        Scenario::from_resources(path, &c, &p).expect("default scenario").spec
    })
}

/// Byte ranges of the numeric scalar values in a YAML text (`key: 12.5`).
fn numeric_values(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(colon) = line.find(": ") {
            let value = line[colon + 2..].trim_end();
            let value = value.split(" #").next().unwrap_or(value).trim_end();
            if !value.is_empty() && value.parse::<f64>().is_ok() {
                let start = offset + colon + 2;
                out.push((start, start + value.len()));
            }
        }
        offset += line.len();
    }
    assert!(out.len() >= 16, "the policy has its numbers: {}", out.len());
    out
}
