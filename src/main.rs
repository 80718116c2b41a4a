//! The `hybridscale` binary: parse flags, dispatch, turn failures into one line and an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    hybridscale::tls::install_crypto_provider();
    let result = match hybridscale::cli::parse(std::env::args_os()) {
        Ok(hybridscale::cli::Parsed::Command(cli)) => hybridscale::cli::run(*cli),
        Ok(hybridscale::cli::Parsed::Text { text, code: 0 }) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(hybridscale::cli::Parsed::Text { text, code }) => {
            eprint!("{text}");
            return ExitCode::from(code);
        }
        Err(failure) => Err(failure),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
