//! The LiteLLM price file and Prometheus answers (served over HTTP to the real client).

use std::path::Path;
use std::sync::{Arc, Mutex};

use hybridscale::planner::{LoadSignals, Sample};
use hybridscale::signals::{PriceTable, PrometheusClient, PrometheusConfig, PrometheusLoadSource};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{bytes, config, number, one_line_located};

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn price_files_of_arbitrary_bytes_and_extreme_prices(
        text in prop_oneof![
            bytes(),
            (number(), number()).prop_map(|(i, o)| format!(
                "{{\"sample_spec\": {{}}, \"m\": {{\"input_cost_per_token\": {i}, \"output_cost_per_token\": {o}, \"litellm_provider\": \"p\"}}}}"
            )),
        ],
    ) {
        match PriceTable::parse(Path::new("prices.json"), &text) {
            Err(e) => one_line_located(&e, "prices.json")?,
            Ok(table) => {
                prop_assert!(!table.is_empty());
                if let Some(p) = table.get("m") {
                    for v in [p.input_usd_per_token, p.output_usd_per_token] {
                        prop_assert!(v.is_finite() && v >= 0.0, "{v}");
                    }
                }
            }
        }
    }
}

/// A Prometheus stand-in answering every request with one (status, body), changeable between cases.
struct Server {
    url: String,
    answer: Arc<Mutex<(u16, Vec<u8>)>>,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let answer = Arc::new(Mutex::new((200, Vec::new())));
        let shared = answer.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (status, body) = shared.lock().expect("answer").clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Read the head and whatever body its Content-Length announces, then answer.
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                                })
                                .and_then(|v| v.parse::<usize>().ok())
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Server { url, answer }
    }
}

fn answer() -> impl Strategy<Value = (u16, String)> {
    let value = || prop_oneof![3 => number(), 1 => Just("1.7976931348623157e308".to_string())];
    let point = move || (number(), value()).prop_map(|(t, v)| format!("[{t}, \"{v}\"]"));
    let body = prop_oneof![
        bytes(),
        prop::collection::vec(point(), 0..4).prop_map(|ps| {
            let series: Vec<String> =
                ps.iter().enumerate().map(|(i, p)| format!("{{\"metric\": {{\"pod\": \"p{i}\"}}, \"value\": {p}}}")).collect();
            format!("{{\"status\": \"success\", \"data\": {{\"resultType\": \"vector\", \"result\": [{}]}}}}", series.join(","))
        }),
        prop::collection::vec(point(), 0..4).prop_map(|ps| format!(
            "{{\"status\": \"success\", \"data\": {{\"resultType\": \"matrix\", \"result\": [{{\"metric\": {{}}, \"values\": [{}]}}]}}}}",
            ps.join(",")
        )),
        point().prop_map(|p| format!("{{\"status\": \"success\", \"data\": {{\"resultType\": \"scalar\", \"result\": {p}}}}}")),
        bytes().prop_map(|e| format!("{{\"status\": \"error\", \"errorType\": \"bad_data\", \"error\": {}}}", serde_json::Value::from(e))),
    ];
    (prop::sample::select(vec![200u16, 200, 200, 400, 422, 503]), body)
}

fn finite_sample(s: &Option<Sample>) -> bool {
    s.is_none_or(|s| s.value.is_finite() && s.at.is_finite())
}

fn finite_signals(l: &LoadSignals) -> bool {
    [l.request_rate, l.mean_input_tokens, l.mean_output_tokens, l.running, l.waiting, l.latency_s, l.gpu_utilization]
        .iter()
        .all(finite_sample)
        && l.history.iter().all(|(t, v)| t.is_finite() && v.is_finite())
}

#[test]
fn prometheus_answers_of_arbitrary_bytes_and_extreme_numbers() {
    hybridscale::tls::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(Server::start());
    let mut config = PrometheusConfig::new(server.url.clone());
    config.timeout = std::time::Duration::from_secs(5);
    let client = PrometheusClient::new(&config).expect("client");
    let pool: hybridscale::api::InferencePool = {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples/inferencepool.yaml");
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample pool")
    };
    let window = hybridscale::signals::HistoryWindow { lookback_s: 600.0, step_s: 15.0 };
    let mut runner = proptest::test_runner::TestRunner::new(config_for_http());
    runner
        .run(&answer(), |(status, body)| {
            *server.answer.lock().expect("answer") = (status, body.into_bytes());
            rt.block_on(async {
                for result in
                    [client.instant("up").await.map(|_| ()), client.range("up", 0, 600, 15.0).await.map(|_| ())]
                {
                    if let Err(e) = result {
                        let text = e.to_string();
                        prop_assert!(!text.contains('\n'), "{text}");
                    }
                }
                let source = PrometheusLoadSource::for_pool(client.clone(), &pool.spec, 0.99, "1m", Some(window))
                    .expect("sample queries");
                let reading = source.read(1_000.0).await;
                prop_assert!(finite_signals(&reading.signals), "{:?}", reading.signals);
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Found by fuzzing: Prometheus's error text went into the error as it was, newlines and all.
#[test]
fn regression_an_error_text_with_a_newline_is_one_line() {
    hybridscale::tls::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(Server::start());
    let body = r#"{"status": "error", "errorType": "bad_data", "error": "parse error:\nunexpected \u0000"}"#;
    *server.answer.lock().expect("answer") = (400, body.as_bytes().to_vec());
    let client = PrometheusClient::new(&PrometheusConfig::new(server.url.clone())).expect("client");
    let err = rt.block_on(client.instant("up")).expect_err("an error answer").to_string();
    assert_eq!(err, "Prometheus rejected the query: bad_data: parse error: unexpected");
}

/// Found by fuzzing: per-pod series that are each finite can add up to infinity (and a token rate over
/// a tiny request rate gives an infinite mean size); the planner got `inf` as a load.
#[test]
fn regression_series_that_add_up_to_infinity_are_unknown_not_infinite() {
    hybridscale::tls::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(Server::start());
    let body = r#"{"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "a"}, "value": [1000, "1.7976931348623157e308"]},
        {"metric": {"pod": "b"}, "value": [1000, "1.7976931348623157e308"]}]}}"#;
    *server.answer.lock().expect("answer") = (200, body.as_bytes().to_vec());
    let client = PrometheusClient::new(&PrometheusConfig::new(server.url.clone())).expect("client");
    let pool: hybridscale::api::InferencePool = {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples/inferencepool.yaml");
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample pool")
    };
    let source = PrometheusLoadSource::for_pool(client, &pool.spec, 0.99, "1m", None).expect("queries");
    let reading = rt.block_on(source.read(1_000.0));
    assert!(finite_signals(&reading.signals), "{:?}", reading.signals);
    assert_eq!(reading.signals.request_rate, None, "a sum beyond f64 is unknown");
    // The worst pod's latency and the mean utilisation do not overflow: they stay known.
    assert!(reading.signals.latency_s.is_some());

    // One finite huge token rate over a tiny request rate: the mean size is unknown too.
    let tiny = r#"{"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1000, "1e-300"]}]}}"#;
    *server.answer.lock().expect("answer") = (200, tiny.as_bytes().to_vec());
    let reading = rt.block_on(source.read(1_001.0));
    assert!(finite_signals(&reading.signals), "{:?}", reading.signals);
}

fn config_for_http() -> ProptestConfig {
    config(96)
}
