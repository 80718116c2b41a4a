//! The `hybridscale` binary: parse flags, dispatch, turn failures into one line and an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hybridscale::tls::install_crypto_provider();
    // clap prints its own one-line error and usage, and exits with 2, for unknown flags.
    let cli = hybridscale::cli::Cli::parse();
    match hybridscale::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
