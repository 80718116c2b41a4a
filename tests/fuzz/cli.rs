//! Command-line numbers: every numeric flag of `simulate` and `exporter`, parsed by clap as the binary
//! does and then checked, with extreme values.

use hybridscale::cli::{self, Command, Parsed};
use hybridscale::sim::limits;
use proptest::prelude::*;

use super::{config, number};

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
}
