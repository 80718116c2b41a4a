//! A Prometheus HTTP API client with bounded timeouts, an optional bearer token and an optional
//! custom CA (managed Prometheus services), built on prometheus-http-query. Credentials are never
//! logged: their `Debug` is redacted by hand and the Authorization header is marked sensitive.

use std::path::PathBuf;
use std::time::Duration;

use prometheus_http_query::response::Data;

pub use super::credentials::{BearerToken, Credentials};

/// A problem building the client from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an http(s) URL.
    #[error("Prometheus URL {url:?}: {message}")]
    Url { url: String, message: String },
    /// A credential file could not be read.
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    /// A Secret lacks the key, or the key is empty.
    #[error("Secret {name}: {message}")]
    Secret { name: String, message: String },
    /// The bearer token is unusable (its value is never shown).
    #[error("bearer token from {origin}: {message}")]
    Token { origin: String, message: String },
    /// The CA bundle is unusable.
    #[error("CA bundle from {origin}: {message}")]
    Ca { origin: String, message: String },
    /// reqwest refused the TLS or HTTP settings.
    #[error("building the Prometheus HTTP client: {0}")]
    Build(String),
}

/// A failed query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Prometheus could not be reached or did not answer in time. `url` is the base URL (credentials
    /// redacted), never the query's: a person reads this in the pool's SignalsStale condition.
    #[error("Prometheus {url} unreachable: {cause}; set spec.metrics.prometheusUrl or --prometheus-url")]
    Unreachable {
        /// The base URL.
        url: String,
        /// What failed, in a few words ("DNS name not found", "connection refused", ...).
        cause: String,
    },
    /// Prometheus answered with an error (bad PromQL, query timeout, ...).
    #[error("Prometheus rejected the query: {0}")]
    Rejected(String),
    /// The answer had an unexpected shape (e.g. a range vector for an instant query).
    #[error("unexpected answer: {0}")]
    Shape(String),
}

impl QueryError {
    /// True when the server itself is unavailable (as opposed to one query being wrong).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, QueryError::Unreachable { .. })
    }
}

/// Where Prometheus is and how to talk to it.
#[derive(Clone, Debug)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` or a managed service's query endpoint.
    pub url: String,
    /// Bound on one HTTP request (connect, query, answer); also sent as Prometheus' query timeout.
    pub timeout: Duration,
    /// Token and CA.
    pub credentials: Credentials,
}

impl PrometheusConfig {
    /// A plain config: no credentials, the pool's default 5 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig { url: url.into(), timeout: Duration::from_secs(5), credentials: Credentials::default() }
    }

    /// The config of a pool: its `spec.metrics.prometheusUrl` or the operator's default URL, its
    /// `timeoutSeconds`, and the credentials the caller read from the Secrets `spec.metrics.auth` names.
    pub fn for_pool(
        metrics: &crate::api::inference_pool::MetricsSpec,
        default_url: Option<&str>,
        credentials: Credentials,
    ) -> Result<Self, ClientError> {
        let url = metrics.prometheus_url.as_deref().or(default_url).ok_or_else(|| ClientError::Url {
            url: String::new(),
            message: "none configured: set spec.metrics.prometheusUrl or the operator's --prometheus-url".into(),
        })?;
        Ok(PrometheusConfig {
            url: url.to_string(),
            timeout: Duration::from_secs(u64::from(metrics.timeout_seconds.max(1))),
            credentials,
        })
    }
}

/// Hide `user:password@` in a URL before it goes into an error or a log line.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let authority_end = url[scheme_end + 3..].find('/').map(|i| i + scheme_end + 3).unwrap_or(url.len());
            if at < authority_end {
                return format!("{}<redacted>@{}", &url[..scheme_end + 3], &url[at + 1..]);
            }
            url.to_string()
        }
        _ => url.to_string(),
    }
}

/// One series of an instant answer: its labels are dropped, the value and sample time kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Sample time, Unix seconds (the evaluation time for computed values).
    pub at: f64,
    /// Value; may be NaN or infinite as Prometheus returned it.
    pub value: f64,
}

/// One series of raw samples with its labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabeledSamples {
    pub labels: std::collections::BTreeMap<String, String>,
    /// `(Unix seconds, value)` in time order.
    pub points: Vec<(f64, f64)>,
}

/// A Prometheus client: cheap to clone, one connection pool.
#[derive(Clone)]
pub struct PrometheusClient {
    inner: prometheus_http_query::Client,
    timeout: Duration,
    url: String,
}

impl std::fmt::Debug for PrometheusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusClient").field("url", &self.url).field("timeout", &self.timeout).finish()
    }
}

impl PrometheusClient {
    /// Build the client. Fails on a bad URL, token or CA bundle; does not contact Prometheus.
    pub fn new(config: &PrometheusConfig) -> Result<Self, ClientError> {
        crate::tls::install_crypto_provider();
        let shown = redact_url(&config.url);
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(ClientError::Url { url: shown, message: "must start with http:// or https://".into() });
        }
        let origin = if config.credentials.origin.is_empty() { "config" } else { &config.credentials.origin };
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)));
        if let Some(token) = &config.credentials.bearer_token {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
                    ClientError::Token {
                        origin: origin.into(),
                        message: "contains characters not allowed in a header".into(),
                    }
                })?;
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        if let Some(pem) = &config.credentials.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Ca { origin: origin.into(), message: e.to_string() })?;
            if certs.is_empty() {
                return Err(ClientError::Ca { origin: origin.into(), message: "no PEM certificate found".into() });
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| ClientError::Build(e.to_string()))?;
        let inner = prometheus_http_query::Client::from(http, &config.url)
            .map_err(|e| ClientError::Url { url: shown.clone(), message: e.to_string() })?;
        Ok(PrometheusClient { inner, timeout: config.timeout, url: shown })
    }

    /// The base URL, credentials redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn timeout_ms(&self) -> i64 {
        self.timeout.as_millis().min(i64::MAX as u128) as i64
    }

    /// Run an instant query at the server's current time. Empty answers are `Ok(vec![])`.
    pub async fn instant(&self, query: &str) -> Result<Vec<Point>, QueryError> {
        let answer = self.inner.query(query).timeout(self.timeout_ms()).get().await.map_err(|e| self.map_error(e))?;
        match answer.data() {
            Data::Vector(v) => {
                Ok(v.iter().map(|s| Point { at: s.sample().timestamp(), value: s.sample().value() }).collect())
            }
            Data::Scalar(s) => Ok(vec![Point { at: s.timestamp(), value: s.value() }]),
            Data::Matrix(_) => Err(QueryError::Shape("a range vector; the query must return an instant vector".into())),
        }
    }

    /// Run an instant query and keep one label of each series: `(value of label, point)`. A series
    /// without the label gives an empty value.
    pub async fn instant_by_label(&self, query: &str, label: &str) -> Result<Vec<(String, Point)>, QueryError> {
        let answer = self.inner.query(query).timeout(self.timeout_ms()).get().await.map_err(|e| self.map_error(e))?;
        match answer.data() {
            Data::Vector(v) => Ok(v
                .iter()
                .map(|s| {
                    let name = s.metric().get(label).cloned().unwrap_or_default();
                    (name, Point { at: s.sample().timestamp(), value: s.sample().value() })
                })
                .collect()),
            _ => Err(QueryError::Shape(format!("the query must return an instant vector by the label {label:?}"))),
        }
    }

    /// Raw samples of a range-vector selector (`metric{...}[1d]`) evaluated at `at` (Unix seconds), one
    /// `(labels, [(time, value)])` per series: `hybridscale report` sums them exactly.
    pub async fn raw_samples(&self, selector: &str, at: i64) -> Result<Vec<LabeledSamples>, QueryError> {
        let answer =
            self.inner.query(selector).at(at).timeout(self.timeout_ms()).get().await.map_err(|e| self.map_error(e))?;
        match answer.data() {
            Data::Matrix(m) => Ok(m
                .iter()
                .map(|s| LabeledSamples {
                    labels: s.metric().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    points: s.samples().iter().map(|p| (p.timestamp(), p.value())).collect(),
                })
                .collect()),
            _ => Err(QueryError::Shape("a range-vector selector did not return a matrix".into())),
        }
    }

    /// Run a range query; one list of points per series.
    pub async fn range(&self, query: &str, start: i64, end: i64, step_s: f64) -> Result<Vec<Vec<Point>>, QueryError> {
        let answer = self
            .inner
            .query_range(query, start, end, step_s)
            .timeout(self.timeout_ms())
            .get()
            .await
            .map_err(|e| self.map_error(e))?;
        match answer.data() {
            Data::Matrix(m) => Ok(m
                .iter()
                .map(|s| s.samples().iter().map(|p| Point { at: p.timestamp(), value: p.value() }).collect())
                .collect()),
            _ => Err(QueryError::Shape("a range query did not return a matrix".into())),
        }
    }
}

/// Longest error text kept from an answer: it ends up in status conditions and logs.
const MAX_ERROR_CHARS: usize = 500;

/// An error text from the wire as one line of bounded length (an answer's `error` field is whatever
/// the server, or a proxy in front of it, put there).
fn one_line(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut line = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = line.char_indices().nth(MAX_ERROR_CHARS) {
        line.truncate(cut);
        line.push_str("...");
    }
    line
}

impl PrometheusClient {
    fn map_error(&self, e: prometheus_http_query::Error) -> QueryError {
        match e {
            prometheus_http_query::Error::Prometheus(p) => QueryError::Rejected(one_line(&p.to_string())),
            prometheus_http_query::Error::Client(c) => {
                let cause = match c.inner() {
                    Some(r) => unreachable_cause(r, self.timeout),
                    None => c.to_string(),
                };
                QueryError::Unreachable { url: self.url.clone(), cause: one_line(&cause) }
            }
            other => QueryError::Shape(one_line(&other.to_string())),
        }
    }
}

/// What failed, in a few words, from reqwest's error. reqwest's own message carries the request URL with
/// the whole URL-encoded query, so only its kind and the innermost cause are used (connection refused,
/// DNS, TLS). reqwest never puts headers in its errors, so no token can leak here.
fn unreachable_cause(e: &reqwest::Error, timeout: Duration) -> String {
    let mut innermost: Option<String> = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    let inner = innermost.unwrap_or_default();
    let lower = inner.to_ascii_lowercase();
    if e.is_timeout() {
        format!("no answer within {}s", timeout.as_secs_f64())
    } else if ["name or service not known", "no address associated", "nodename nor servname"]
        .iter()
        .any(|m| lower.contains(m))
    {
        "DNS name not found".into()
    } else if lower.contains("connection refused") {
        "connection refused".into()
    } else if e.is_decode() || e.is_body() {
        // An answer that is not Prometheus JSON is in practice a proxy's error page.
        format!("the answer is not Prometheus JSON ({inner})")
    } else if let Some(status) = e.status() {
        format!("HTTP {status}")
    } else if inner.is_empty() {
        text_without_url(e)
    } else {
        inner
    }
}

/// reqwest's message without its `for url (...)` part.
fn text_without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match text.find(" for url (") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: an answer's error text with a newline (or megabytes of it) went as it was into
    /// status conditions and logs.
    #[test]
    fn error_texts_from_the_wire_become_one_bounded_line() {
        assert_eq!(one_line("bad\n\tquery\u{0}  here"), "bad query here");
        let long = one_line(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_ERROR_CHARS + 3);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn client_builds_with_token_and_ca_and_rejects_junk() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "abc\n").unwrap();
        let mut cfg = PrometheusConfig::new("https://prom.example:9090");
        cfg.credentials = Credentials::from_files(Some(&token), None).unwrap();
        assert!(PrometheusClient::new(&cfg).is_ok());

        cfg.credentials.ca_pem = Some(b"not a certificate".to_vec());
        let err = PrometheusClient::new(&cfg).unwrap_err().to_string();
        assert!(err.starts_with("CA bundle from"), "{err}");

        let err = PrometheusClient::new(&PrometheusConfig::new("prom:9090")).unwrap_err().to_string();
        assert!(err.contains("http://"), "{err}");
    }

    /// Prometheus itself cannot check bearer tokens (its web config knows basic auth only), so a
    /// tiny stand-in records the header a managed Prometheus would check.
    #[tokio::test]
    async fn bearer_token_is_sent_as_authorization() {
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Option<String>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/api/v1/query",
            axum::routing::get(move |headers: axum::http::HeaderMap| async move {
                *record.lock().unwrap() =
                    headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
                (
                    [("content-type", "application/json")],
                    r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut cfg = PrometheusConfig::new(format!("http://{addr}"));
        cfg.credentials.bearer_token = Some(BearerToken::new("tok-123\n"));
        let client = PrometheusClient::new(&cfg).unwrap();
        assert_eq!(client.instant("up").await.unwrap(), vec![]);
        assert_eq!(seen.lock().unwrap().as_deref(), Some("Bearer tok-123"));
        assert!(!format!("{client:?}").contains("tok-123"));
        server.abort();
    }

    #[test]
    fn pool_config_prefers_the_pool_url_and_needs_one() {
        let mut m = crate::api::inference_pool::MetricsSpec { timeout_seconds: 7, ..Default::default() };
        let c = PrometheusConfig::for_pool(&m, Some("http://default:9090"), Credentials::default()).unwrap();
        assert_eq!((c.url.as_str(), c.timeout), ("http://default:9090", Duration::from_secs(7)));
        m.prometheus_url = Some("https://managed.example/prom".into());
        let c = PrometheusConfig::for_pool(&m, Some("http://default:9090"), Credentials::default()).unwrap();
        assert_eq!(c.url, "https://managed.example/prom");
        m.prometheus_url = None;
        let err = PrometheusConfig::for_pool(&m, None, Credentials::default()).unwrap_err().to_string();
        assert!(err.contains("spec.metrics.prometheusUrl"), "{err}");
    }

    /// The SignalsStale condition carried reqwest's whole message, URL-encoded PromQL and all
    /// ("...query=clamp_min%28sum%28rate%28vllm%3A..."): it now says what failed and what to do, once.
    #[tokio::test]
    async fn unreachable_says_where_and_what_to_do_without_the_query() {
        let query = "clamp_min(sum(rate(vllm:request_success_total[1m])), 0)";
        let client = PrometheusClient::new(&PrometheusConfig::new("http://no-such-prometheus.invalid:9090")).unwrap();
        let err = client.instant(query).await.unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("Prometheus http://no-such-prometheus.invalid:9090 unreachable: "), "{text}");
        assert!(text.ends_with("; set spec.metrics.prometheusUrl or --prometheus-url"), "{text}");
        assert!(!text.contains("query") && !text.contains("%28") && !text.contains("vllm"), "{text}");

        // A port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = PrometheusClient::new(&PrometheusConfig::new(format!("http://{addr}"))).unwrap();
        let text = client.range(query, 0, 60, 15.0).await.unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "Prometheus http://{addr} unreachable: connection refused; set spec.metrics.prometheusUrl or --prometheus-url"
            )
        );
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(redact_url("https://u:p@prom:9090/x"), "https://<redacted>@prom:9090/x");
        assert_eq!(redact_url("http://prom:9090/a@b"), "http://prom:9090/a@b");
    }
}
