//! Property-based fuzzing of every parser of outside input: trace files, policy files, spot traces,
//! the LiteLLM price file, Prometheus answers and command-line numbers. Arbitrary bytes and extreme
//! numbers (1e308, NaN, inf, -0, 2^64, tiny subnormals) must give either a value within the
//! program's bounds or a one-line error naming where the input came from: never a panic, never a
//! run without end. Case counts are bounded so the binary stays fast; each case fuzzing found is a
//! named regression test in the module it concerns.

mod cli;
mod signals;
mod sim;

use proptest::prelude::*;

/// Proptest settings for these fuzzers: bounded cases, no shrinking marathons.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, max_shrink_iters: 200, ..ProptestConfig::default() }
}

/// Numbers as text, biased to the extremes parsers get wrong.
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "NaN", "nan", "inf", "-inf", "+Inf", "infinity", "1e308", "1e309", "-1e308", "1.7976931348623157e308",
            "1e-320", "4.9e-324", "0", "-0", "-0.0", "18446744073709551616", "9223372036854775807",
            "-9223372036854775808", "4294967296", "-1", "1e300", "1e-300", ".nan", ".inf", "0x10", "1_000", "",
            " 7 ", "1e", "--1",
        ])
        .prop_map(String::from),
        1 => any::<f64>().prop_map(|f| format!("{f}")),
        1 => any::<f64>().prop_map(|f| format!("{f:e}")),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => (0u32..100_000).prop_map(|i| i.to_string()),
    ]
}

/// Arbitrary bytes, as the text a file reader would hand over (lossy UTF-8).
pub fn bytes() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// An error is one line and starts with where the input came from.
pub fn one_line_located(err: &dyn std::fmt::Display, origin: &str) -> Result<(), TestCaseError> {
    let text = err.to_string();
    prop_assert!(!text.contains('\n'), "not one line: {text}");
    prop_assert!(text.starts_with(origin), "does not start with {origin:?}: {text}");
    Ok(())
}
