//! Command-line numbers: every numeric flag of `simulate` and `exporter`, parsed by clap as the binary
//! does and then checked, with extreme values; `report`'s period flags with arbitrary text; and the
//! report built from series holding extreme values.

use hybridscale::cli::{self, Command, Parsed};
use hybridscale::sim::limits;
use proptest::prelude::*;

use super::{bytes, config, number};

/// Parse a command line as `main` does; a failure must be one line.
fn parse(args: &[&str]) -> Result<Option<Command>, TestCaseError> {
    match cli::parse(std::iter::once("hybridscale").chain(args.iter().copied())) {
        Ok(Parsed::Command(c)) => Ok(Some(c.command)),
        Ok(Parsed::Text { .. }) => Ok(None),
        Err(f) => {
            prop_assert!(!f.message.contains('\n'), "{}", f.message);
            prop_assert_eq!(f.code, 2);
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn simulate_numbers(
        flag in prop::sample::select(vec![
            "--rate-scale", "--time-scale", "--step", "--max-rps", "--spot-interruptions-per-hour", "--seed",
        ]),
        value in number(),
    ) {
        let arg = format!("{flag}={value}");
        if let Some(Command::Simulate(args)) = parse(&["simulate", &arg])? {
            match cli::simulate::prepare(&args) {
                Err(f) => {
                    prop_assert!(!f.message.contains('\n'), "{}", f.message);
                    prop_assert_eq!(f.code, 2);
                }
                Ok(replay) => {
                    prop_assert!(replay.trace.len() as f64 <= limits::MAX_STEPS);
                    prop_assert!(limits::check_replay(&replay.policy_path, &replay.trace, &replay.scenario.spec).is_ok());
                }
            }
        }
    }

    /// `--provider-outage NAME:START_S:DURATION_S[:ERROR_RATIO]` with any numbers: a one-line error, or
    /// a burst within bounds on the provider named.
    #[test]
    fn provider_outage_numbers(start in number(), duration in number(), ratio in number(), with_ratio in any::<bool>()) {
        let name = "azure-ai-meta-llama-3-1-70b-instruct";
        let arg = if with_ratio { format!("{name}:{start}:{duration}:{ratio}") } else { format!("{name}:{start}:{duration}") };
        if let Some(Command::Simulate(args)) = parse(&["simulate", "--provider-outage", &arg])? {
            match cli::simulate::prepare(&args) {
                Err(f) => {
                    prop_assert!(!f.message.contains('\n'), "{}", f.message);
                    prop_assert_eq!(f.code, 2);
                }
                Ok(replay) => {
                    let bursts = &replay.scenario.spec.providers[0].bursts;
                    prop_assert_eq!(bursts.len(), 1);
                    let b = bursts[0];
                    prop_assert!(b.start_s >= 0.0 && b.end_s > b.start_s && b.end_s.is_finite(), "{b:?}");
                    prop_assert!(b.error_ratio > 0.0 && b.error_ratio <= 1.0, "{b:?}");
                }
            }
        }
    }

    #[test]
    fn exporter_numbers(
        flag in prop::sample::select(vec![
            "--replicas", "--capacity-rps", "--base-latency", "--gpus-per-pod", "--rps", "--repeat",
            "--input-tokens", "--output-tokens", "--step",
        ]),
        value in number(),
        second in number(),
    ) {
        let arg = if flag == "--step" { format!("{flag}={value}={second}") } else { format!("{flag}={value}") };
        if let Some(Command::Exporter(args)) = parse(&["exporter", &arg])? {
            if let Err(f) = cli::exporter::check(&args) {
                prop_assert!(!f.message.contains('\n'), "{}", f.message);
            } else {
                prop_assert!(args.replicas <= cli::exporter::MAX_REPLICAS);
                prop_assert!(args.capacity_rps.is_finite() && args.rps.is_finite());
                prop_assert!(args.steps.iter().all(|(t, r)| t.is_finite() && r.is_finite()));
            }
        }
    }

    #[test]
    fn report_periods(
        month in prop_oneof![bytes(), number(), "[0-9]{4}-[0-9]{1,2}"],
        from in prop_oneof![bytes(), number(), "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:00:00Z)?"],
        to in prop_oneof![bytes(), number(), "[0-9]{4}-[0-9]{2}-[0-9]{2}"],
        chunk in number(),
        use_month in any::<bool>(),
    ) {
        let chunk = format!("--chunk-hours={chunk}");
        let mut argv = vec!["report", "--prometheus-url", "http://127.0.0.1:9", &chunk];
        let (m, f, t) = (format!("--month={month}"), format!("--from={from}"), format!("--to={to}"));
        if use_month { argv.push(&m) } else { argv.extend([f.as_str(), t.as_str()]) }
        if let Some(Command::Report(args)) = parse(&argv)? {
            match cli::report::period(&args) {
                Err(e) => {
                    prop_assert!(!e.message.contains('\n'), "{}", e.message);
                    prop_assert_eq!(e.code, 2);
                }
                Ok(p) => {
                    prop_assert!(p.from < p.to);
                    prop_assert!(p.segments().is_ok_and(|s| !s.is_empty()));
                }
            }
        }
    }

    #[test]
    fn report_from_extreme_series(
        values in prop::collection::vec(number(), 1..20),
        offsets in prop::collection::vec(-4_000_000i64..4_000_000, 1..20),
    ) {
        use hybridscale::report::{self, Inputs, Period, series::Series};
        let period = Period::month("2026-11").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut points: Vec<(f64, f64)> = offsets
            .iter()
            .zip(values.iter().map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN)))
            .map(|(o, v)| ((period.from + o) as f64, v))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let labels = [("namespace", "n"), ("pool", "p"), ("class", "spot"), ("scenario", "all_external"), ("tenant", "t"), ("route", "external")];
        let s = Series { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), points };
        let inputs = Inputs {
            month_to_date: vec![s.clone()],
            counterfactual: vec![s.clone()],
            tenant_cost: vec![s.clone()],
            tokens: vec![s.clone()],
            requests: vec![s.clone()],
            info: vec![s],
        };
        let r = report::build(&period, &inputs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for text in [report::render::text(&r), report::render::csv(&r), report::render::json(&r), report::svg::render(&r)] {
            prop_assert!(!text.is_empty());
        }
    }
}
