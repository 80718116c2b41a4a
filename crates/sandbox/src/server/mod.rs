//! The HTTP front: one axum fallback handler that parses Kubernetes API paths, applies fault injection,
//! and dispatches to discovery, OpenAPI, resource and subresource handlers.

pub mod resource;
mod subresource;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::admission::FieldValidation;
use super::discovery;
use super::error::ApiError;
use super::faults::{self, Faults, Verb};
use super::openapi;
use super::store::Store;

/// Shared server state.
pub struct AppState {
    /// The object store.
    pub store: Arc<Store>,
    /// Fault injection.
    pub faults: Arc<Faults>,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// `host:port` the server listens on.
    pub address: String,
    /// Requests served per "verb resource" (e.g. `Patch deployments`), for benchmarks.
    pub requests: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A JSON response.
pub fn json_response(code: u16, body: &Value) -> Response {
    bytes_response(code, serde_json::to_vec(body).unwrap_or_default())
}

/// A response with an already serialized JSON body.
pub fn bytes_response(code: u16, bytes: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.code, &self.to_status());
        if self.code == 429 {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

/// A parsed resource path.
#[derive(Debug, Clone)]
pub struct Target {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Resource plural.
    pub plural: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, `eviction`).
    pub sub: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let owned = |s: &&str| s.to_string();
    match rest {
        [] => None,
        ["namespaces", ns, plural, tail @ ..] if !(tail.is_empty() && matches!(*plural, "status" | "finalize")) => {
            Some(Target {
                group,
                version,
                namespace: Some(ns.to_string()),
                plural: plural.to_string(),
                name: tail.first().map(owned),
                sub: tail.get(1).map(owned),
            })
        }
        [plural, tail @ ..] => Some(Target {
            group,
            version,
            namespace: None,
            plural: plural.to_string(),
            name: tail.first().map(owned),
            sub: tail.get(1).map(owned),
        }),
    }
}

/// What the client accepts: a Table (for kubectl get) or plain JSON.
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}

/// Whether the client asked for metadata only (`as=PartialObjectMetadata[List]`, kube's metadata watcher).
pub fn wants_metadata(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// The `meta.k8s.io/v1` PartialObjectMetadata view of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if method == Method::GET
        && let Some(r) = meta_endpoint(&state, &path, &headers)
    {
        return r;
    }
    let Some(target) = parse_target(&path) else {
        return ApiError::no_route(&path).into_response();
    };
    let rt = state.store.lock().registry.get(&target.group, &target.version, &target.plural);
    let Some(rt) = rt else {
        return ApiError::no_route(&path).into_response();
    };
    // Cluster-scoped kinds have no namespaced paths; namespaced kinds are only listed and watched across
    // namespaces (a write or a named read needs the namespace in the path), as on the real server.
    let cross_namespace_ok = method == Method::GET && target.name.is_none();
    if (!rt.namespaced && target.namespace.is_some())
        || (rt.namespaced && target.namespace.is_none() && !cross_namespace_ok)
    {
        return ApiError::no_route(&path).into_response();
    }
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, _) if watching => Verb::Watch,
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return ApiError::method_not_allowed(format!("{method} is not supported")).into_response(),
    };
    *state.requests.lock().unwrap_or_else(|e| e.into_inner()).entry(format!("{verb:?} {}", rt.plural)).or_default() +=
        1;
    let (latency, fault) = state.faults.decide(verb, &rt.plural);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((fault, hold)) = fault {
        if fault == faults::Fault::Timeout {
            tokio::time::sleep(hold).await;
        }
        let name = target.name.clone().unwrap_or_default();
        return faults::error_for(fault, &rt.group, &rt.plural, &name).into_response();
    }
    let field_validation = match FieldValidation::parse(query.get("fieldValidation").map(String::as_str)) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let req = resource::Request {
        state: state.clone(),
        rt,
        target,
        query,
        headers,
        body,
        field_validation,
        warnings: std::sync::Mutex::new(Vec::new()),
    };
    let result = match verb {
        Verb::Watch => return super::watch::serve(&req).await,
        Verb::Get | Verb::List if req.target.sub.is_some() => subresource::get(&req),
        Verb::Get => resource::get(&req),
        Verb::List => match resource::list_fast(&req) {
            Some(Ok(bytes)) => return bytes_response(200, bytes),
            Some(Err(e)) => return e.into_response(),
            None => resource::list(&req),
        },
        Verb::Create if req.target.sub.as_deref() == Some("eviction") => subresource::evict(&req),
        Verb::Create => resource::create(&req),
        Verb::Update if req.target.sub.is_some() => subresource::update(&req),
        Verb::Update => resource::update(&req),
        Verb::Patch => resource::patch(&req),
        Verb::Delete => resource::delete(&req),
        Verb::DeleteCollection => resource::delete_collection(&req),
    };
    let mut response = match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => e.into_response(),
    };
    for w in req.warnings.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        // RFC 7234 warn-code 299 with the text quoted, as the real server sends it.
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = header::HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", v);
        }
    }
    response
}

/// Discovery, OpenAPI and health endpoints.
fn meta_endpoint(state: &AppState, path: &str, headers: &HeaderMap) -> Option<Response> {
    let trimmed = path.trim_end_matches('/');
    let reg = state.store.lock().registry.clone();
    let ok = |v: Value| Some(json_response(200, &v));
    match trimmed {
        "/version" => ok(discovery::version()),
        "/healthz" | "/readyz" | "/livez" => Some((StatusCode::OK, "ok").into_response()),
        "/api" => ok(discovery::core_versions(&state.address)),
        "/apis" => ok(discovery::group_list(&reg)),
        "/openapi/v3" => ok(openapi::v3_index(&reg)),
        "/openapi/v2" => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("*/*");
            if accept.contains("json") || accept.contains("*/*") {
                ok(openapi::v2(&reg))
            } else if accept.contains(openapi::V2_PROTOBUF) {
                let mut r = openapi::v2_protobuf().into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(openapi::V2_PROTOBUF_CONTENT_TYPE));
                Some(r)
            } else {
                Some(
                    ApiError::new(406, "NotAcceptable", "only application/json is served for /openapi/v2")
                        .into_response(),
                )
            }
        }
        _ => {
            if let Some(gv) = trimmed.strip_prefix("/openapi/v3/") {
                let (g, v) = match gv.split('/').collect::<Vec<_>>().as_slice() {
                    ["api", v] => (String::new(), v.to_string()),
                    ["apis", g, v] => (g.to_string(), v.to_string()),
                    _ => return Some(ApiError::no_route(path).into_response()),
                };
                let types = reg.in_group_version(&g, &v);
                if types.is_empty() {
                    return Some(ApiError::no_route(path).into_response());
                }
                return ok(openapi::v3_group_version(&types));
            }
            let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
            match segs.as_slice() {
                ["api", v] => Some(
                    discovery::resource_list(&reg, "", v)
                        .map(|d| json_response(200, &d))
                        .unwrap_or_else(|| ApiError::no_route(path).into_response()),
                ),
                ["apis", g] => Some(
                    discovery::group(&reg, g)
                        .map(|d| json_response(200, &d))
                        .unwrap_or_else(|| ApiError::no_route(path).into_response()),
                ),
                ["apis", g, v] => Some(
                    discovery::resource_list(&reg, g, v)
                        .map(|d| json_response(200, &d))
                        .unwrap_or_else(|| ApiError::no_route(path).into_response()),
                ),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        let t = parse_target("/apis/apps/v1/namespaces/ns/deployments/web/scale").unwrap();
        assert_eq!((t.group.as_str(), t.plural.as_str()), ("apps", "deployments"));
        assert_eq!(t.namespace.as_deref(), Some("ns"));
        assert_eq!((t.name.as_deref(), t.sub.as_deref()), (Some("web"), Some("scale")));
        let n = parse_target("/api/v1/namespaces/inference").unwrap();
        assert_eq!((n.plural.as_str(), n.name.as_deref(), n.namespace), ("namespaces", Some("inference"), None));
        let s = parse_target("/api/v1/namespaces/inference/status").unwrap();
        assert_eq!((s.plural.as_str(), s.sub.as_deref()), ("namespaces", Some("status")));
        let l = parse_target("/api/v1/pods").unwrap();
        assert_eq!((l.plural.as_str(), l.name), ("pods", None));
    }
}
