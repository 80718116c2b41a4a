//! Per-request retries of transient API errors (429, 500, 502, 503, 504) for idempotent requests
//! (GET, PUT, PATCH, DELETE), with a short exponential backoff. One reconcile makes a few dozen
//! requests; without this, a few percent of failing requests fail almost every reconcile as a whole,
//! and the pool only moves on the rare tick where all of them succeed. Creates (POST: Events) are not
//! retried, so a retry can never duplicate an object; every write the operator makes is idempotent
//! (server-side apply, /scale, weights computed from the plan), so retrying one never doubles an action.

use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

/// The retry policy (cloned per request by tower's Retry service, so attempts count per request).
#[derive(Clone, Debug)]
pub struct TransientRetry {
    attempts_left: u32,
    delay: Duration,
}

impl Default for TransientRetry {
    /// Three retries: 100, 200 and 400 ms.
    fn default() -> Self {
        TransientRetry { attempts_left: 3, delay: Duration::from_millis(100) }
    }
}

/// Whether a status code is worth retrying.
pub fn transient(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for TransientRetry {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, req: &mut Request<Body>, result: &mut Result<Response<Res>, BoxError>) -> Option<Self::Future> {
        let idempotent = matches!(*req.method(), Method::GET | Method::PUT | Method::PATCH | Method::DELETE);
        let retry = matches!(result, Ok(r) if transient(r.status().as_u16()));
        if !(idempotent && retry && self.attempts_left > 0) {
            return None;
        }
        self.attempts_left -= 1;
        let delay = self.delay;
        self.delay *= 2;
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Streaming bodies cannot be replayed; everything the operator sends is a buffered body.
        let body = req.body().try_clone()?;
        let mut builder = Request::builder().method(req.method().clone()).uri(req.uri().clone()).version(req.version());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(req.headers().clone());
        }
        builder.body(body).ok().map(|mut r| {
            *r.extensions_mut() = req.extensions().clone();
            r
        })
    }
}

/// A client for `config` whose idempotent requests retry transient errors.
///
/// kube's own retry layer is turned off: it retries every 429, 503 and 504 of any method, creates
/// included, up to 15 times with a backoff growing towards minutes. A pod eviction that a
/// PodDisruptionBudget refuses (429) would then hold its reconcile for minutes instead of being reported
/// as "retry later" and tried again next tick, and a retried create could duplicate an object.
pub fn client_with_retries(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    // Retry needs a cloneable inner service: a Buffer in front of kube's boxed stack.
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(TransientRetry::default()))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_codes_retry() {
        assert!([429, 500, 502, 503, 504].into_iter().all(transient));
        assert!(![200, 400, 404, 409, 422].into_iter().any(transient));
    }
}
