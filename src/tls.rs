//! The one TLS crypto provider of the whole binary.
//!
//! kube and reqwest (through prometheus-http-query) both use rustls. If two providers (ring and
//! aws-lc-rs) are compiled in, rustls cannot choose one and panics on the first TLS connection with
//! "Could not automatically determine the process-level CryptoProvider". We build only aws-lc-rs and
//! install it explicitly at start-up so the choice never depends on feature unification.

/// Install aws-lc-rs as the process-wide rustls provider. Safe to call more than once.
pub fn install_crypto_provider() {
    // `install_default` fails only if a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
