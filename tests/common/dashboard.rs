//! The Grafana dashboard's queries (config/grafana/hybridscale.json), ready to run against a real
//! Prometheus: every panel target's `expr` with Grafana's variables put in as "All" would, and the
//! template variables' `label_values(...)` as the PromQL they stand for. Shared by tests/shipped/dashboard.rs
//! (backfilled series) and the e2e check (a Prometheus scraping the running operator) through `#[path]`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub const DASHBOARD: &str = "config/grafana/hybridscale.json";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn load() -> Value {
    let path = root().join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel, rows' nested panels included.
pub fn panels(dash: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().cloned().unwrap_or_default() {
        out.extend(p["panels"].as_array().cloned().unwrap_or_default());
        out.push(p);
    }
    out
}

/// A query with the dashboard's variables as Grafana sends them with "All" selected.
pub fn substitute(expr: &str, range: &str) -> String {
    expr.replace("$namespace", ".*")
        .replace("$pool", ".*")
        .replace("$__rate_interval", "2m")
        .replace("$__interval", "1m")
        .replace("$__range", range)
}

/// (panel title, query) for every target of every panel, variables substituted.
pub fn queries(dash: &Value, range: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dash) {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            out.push((title, substitute(t["expr"].as_str().unwrap_or_default(), range)));
        }
    }
    out
}

/// The template variables' `label_values(SELECTOR, LABEL)` as `group by (LABEL) (SELECTOR)`.
pub fn variable_queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for v in dash["templating"]["list"].as_array().cloned().unwrap_or_default() {
        let Some(q) = v["query"]["query"].as_str() else { continue };
        let inner = q.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')).unwrap_or(q);
        let (selector, label) = inner.rsplit_once(',').unwrap_or((inner, ""));
        let name = v["name"].as_str().unwrap_or("?").to_string();
        out.push((
            format!("variable {name}"),
            substitute(&format!("group by ({}) ({})", label.trim(), selector.trim()), "1h"),
        ));
    }
    out
}

/// Run an instant query at `at`; the answer's result list, or the error.
pub async fn instant(url: &str, promql: &str, at: f64) -> Result<Vec<Value>, String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let query = reqwest::Url::parse_with_params(
        &format!("{url}/api/v1/query"),
        &[("query", promql), ("time", at.to_string().as_str())],
    )
    .map_err(|e| e.to_string())?;
    let answer = http.get(query).send().await.map_err(|e| e.to_string())?;
    let text = answer.text().await.map_err(|e| e.to_string())?;
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    Ok(body["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// Every query that fails or answers nothing at `at`, as "title: query: reason".
pub async fn failures(url: &str, queries: &[(String, String)], at: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (title, q) in queries {
        match instant(url, q, at).await {
            Err(e) => out.push(format!("{title}: {q}: invalid: {e}")),
            Ok(r) if r.is_empty() => out.push(format!("{title}: {q}: empty")),
            Ok(_) => {}
        }
    }
    out
}
