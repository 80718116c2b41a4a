//! Shared harness of the end-to-end scenarios.

pub mod cluster;
pub mod env;
pub mod operator;
pub mod target;

// Shared with `hybridscale demo`.
pub use hybridscale::demo::{objects, prom};

/// Logs to the test writer, filtered by RUST_LOG (quiet by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Print to stderr past the test harness's output capture (which only catches `print!` and
/// `eprint!`), so skips and the target in use show in a plain `cargo test` run.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;
