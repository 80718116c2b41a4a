//! Handlers for the main resource: get, list, create, update, patch (all four types), delete and
//! deletecollection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use super::super::admission::FieldValidation;
use super::super::error::{ApiError, ApiResult};
use super::super::managed;
use super::super::patch::{self, PatchType};
use super::super::protobuf;
use super::super::registry::ResourceType;
use super::super::selector::{FieldSelector, LabelSelector};
use super::super::store::{DeleteOpts, Inner, Propagation, Subresource, WriteOpts, now_rfc3339};
use super::super::table;
use super::{AppState, Target, partial_metadata, wants_metadata, wants_table};

/// One API request, parsed.
pub struct Request {
    /// Server state.
    pub state: Arc<AppState>,
    /// The resource type addressed.
    pub rt: Arc<ResourceType>,
    /// The parsed path.
    pub target: Target,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
    /// The `fieldValidation` parameter.
    pub field_validation: FieldValidation,
    /// `Warning` headers to send with the response.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

/// Handler result: HTTP code and JSON body.
pub type Reply = ApiResult<(u16, Value)>;

impl Request {
    /// Collect the store's warnings for this request's response.
    pub fn collect_warnings(&self, store: &mut Inner) {
        let w = store.take_warnings();
        if !w.is_empty() {
            self.warnings.lock().unwrap_or_else(|p| p.into_inner()).extend(w);
        }
    }

    /// Namespace from the path.
    pub fn ns(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    /// Object name from the path (handlers that need one are only routed with one).
    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or_default()
    }

    /// The body as JSON (or YAML for apply patches).
    pub fn body_value(&self) -> ApiResult<Value> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the request body is empty"));
        }
        let ct = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.contains("protobuf") {
            // kubectl's imperative generators send protobuf; a few kinds are decoded (protobuf.rs).
            return protobuf::decode(&self.body).map_err(|e| ApiError::new(415, "UnsupportedMediaType", e.to_string()));
        }
        if ct.contains("cbor") {
            return Err(ApiError::unsupported_media_type(ct));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) => Ok(v),
            Err(json_err) => {
                let text = std::str::from_utf8(&self.body)
                    .map_err(|_| ApiError::bad_request(format!("error decoding body: {json_err}")))?;
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
            }
        }
    }

    /// Field manager: the `fieldManager` parameter, else the User-Agent's program name (as the real server).
    pub fn manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager").filter(|m| !m.is_empty()) {
            return m.clone();
        }
        self.headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|d| d == "All")
    }

    /// Write options for this request.
    pub fn write_opts(&self) -> WriteOpts {
        WriteOpts {
            manager: Some(self.manager()),
            dry_run: self.dry_run(),
            managed_fields_set: false,
            field_validation: self.field_validation,
        }
    }

    /// Label and field selectors from the query.
    pub fn selectors(&self) -> ApiResult<(LabelSelector, FieldSelector)> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").map(String::as_str).unwrap_or(""))?;
        let fields =
            FieldSelector::parse(self.query.get("fieldSelector").map(String::as_str).unwrap_or(""), &self.rt.kind)?;
        Ok((labels, fields))
    }
}

/// The object as served in the requested version (CRDs store one copy for all their versions).
pub fn present(rt: &ResourceType, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(rt.api_version());
    o
}

/// GET one object.
pub fn get(req: &Request) -> Reply {
    let obj = req.state.store.lock().get(&req.rt, req.ns(), req.name())?;
    if wants_table(&req.headers) {
        let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let include = req.query.get("includeObject").map(String::as_str).unwrap_or("Metadata");
        return Ok((200, table::table(&req.rt, &[&*obj], &rv, include, true)));
    }
    if wants_metadata(&req.headers) {
        return Ok((200, partial_metadata(&obj)));
    }
    Ok((200, present(&req.rt, &obj)))
}

/// GET a collection (one namespace or all). `limit` is honoured by returning everything at once, which
/// the API allows (no `continue` token).
pub fn list(req: &Request) -> Reply {
    let (labels, fields) = req.selectors()?;
    let (items, rv) = {
        let s = req.state.store.lock();
        (s.list(&req.rt, req.ns(), &labels, &fields), s.resource_version())
    };
    if wants_table(&req.headers) {
        let include = req.query.get("includeObject").map(String::as_str).unwrap_or("Metadata");
        let refs: Vec<&Value> = items.iter().map(|o| &**o).collect();
        return Ok((200, table::table(&req.rt, &refs, &rv.to_string(), include, true)));
    }
    if wants_metadata(&req.headers) {
        let items: Vec<Value> = items.iter().map(|o| partial_metadata(o)).collect();
        return Ok((
            200,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
        ));
    }
    Ok((200, ListBody::new(&req.rt, rv, &items).to_value()))
}

/// A list response, serialized straight from the stored objects (no deep copies: lists of a thousand
/// objects are the hot path of every informer's relist).
#[derive(serde::Serialize)]
pub struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Vec<std::borrow::Cow<'a, Value>>,
}

impl<'a> ListBody<'a> {
    /// The list of `items` at resourceVersion `rv`, each in the requested version.
    pub fn new(rt: &ResourceType, rv: u64, items: &'a [Arc<Value>]) -> Self {
        let api_version = rt.api_version();
        let items = items
            .iter()
            .map(|o| {
                if o.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
                    std::borrow::Cow::Borrowed(&**o)
                } else {
                    std::borrow::Cow::Owned(present(rt, o))
                }
            })
            .collect();
        ListBody {
            kind: format!("{}List", rt.kind),
            api_version,
            metadata: json!({"resourceVersion": rv.to_string()}),
            items,
        }
    }

    /// Serialized JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// As a JSON value (for callers that need one).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// GET a collection as plain JSON, serialized without copying the objects; other representations (Table,
/// PartialObjectMetadata) go through [`list`].
pub fn list_fast(req: &Request) -> Option<ApiResult<Vec<u8>>> {
    if wants_table(&req.headers) || wants_metadata(&req.headers) {
        return None;
    }
    Some((|| {
        let (labels, fields) = req.selectors()?;
        let (items, rv) = {
            let s = req.state.store.lock();
            (s.list(&req.rt, req.ns(), &labels, &fields), s.resource_version())
        };
        Ok(ListBody::new(&req.rt, rv, &items).to_bytes())
    })())
}

/// POST.
pub fn create(req: &Request) -> Reply {
    if req.target.name.is_some() {
        return Err(ApiError::method_not_allowed("create is not allowed on a named object"));
    }
    let obj = req.body_value()?;
    let mut store = req.state.store.lock();
    let created = store.create(&req.rt, req.ns(), obj, &req.write_opts());
    req.collect_warnings(&mut store);
    let created = created?;
    Ok((201, present(&req.rt, &created)))
}

/// PUT on the main resource.
pub fn update(req: &Request) -> Reply {
    let obj = req.body_value()?;
    let mut store = req.state.store.lock();
    let updated = store.update(&req.rt, req.ns(), req.name(), obj, Subresource::Main, &req.write_opts());
    req.collect_warnings(&mut store);
    let updated = updated?;
    Ok((200, present(&req.rt, &updated)))
}

/// Apply a non-apply patch to a current object.
pub fn apply_patch(kind: PatchType, rt: &ResourceType, current: &Value, p: &Value) -> ApiResult<Value> {
    match kind {
        PatchType::Merge => Ok(patch::merge(current, p)),
        PatchType::Json => patch::json(current, p),
        PatchType::Strategic if rt.crd_schema.is_some() => Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json (strategic merge patch is not supported for custom resources)",
        )),
        PatchType::Strategic => patch::strategic(current, p),
        PatchType::Apply => Err(ApiError::internal("apply patches are handled by server-side apply")),
    }
}

fn patch_type(req: &Request) -> ApiResult<PatchType> {
    let ct = req.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    PatchType::from_content_type(ct)
}

/// PATCH on the main resource or `/status` (`/scale` is in subresource.rs).
pub fn patch(req: &Request) -> Reply {
    let kind = patch_type(req)?;
    let p = req.body_value()?;
    match req.target.sub.as_deref() {
        Some("scale") => return super::subresource::patch_scale(req, kind, &p),
        Some("status") | None => {}
        Some(other) => return Err(ApiError::no_route(&format!("subresource {other}"))),
    }
    let sub = if req.target.sub.is_some() { Subresource::Status } else { Subresource::Main };
    if kind == PatchType::Apply {
        return server_side_apply(req, &p, sub);
    }
    let mut store = req.state.store.lock();
    let current = store.get(&req.rt, req.ns(), req.name())?;
    let mut new = apply_patch(kind, &req.rt, &current, &p)?;
    // A patch is always against the current object: conflicts only when the patch itself names a version.
    if p.pointer("/metadata/resourceVersion").is_none()
        && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
    {
        m.insert("resourceVersion".into(), current.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")));
    }
    let updated = store.update(&req.rt, req.ns(), req.name(), new, sub, &req.write_opts());
    req.collect_warnings(&mut store);
    Ok((200, present(&req.rt, &*updated?)))
}

fn server_side_apply(req: &Request, applied: &Value, sub: Subresource) -> Reply {
    let Some(manager) = req.query.get("fieldManager").filter(|m| !m.is_empty()).cloned() else {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    let force = req.query.get("force").is_some_and(|f| f == "true");
    if applied.get("kind").and_then(Value::as_str) != Some(req.rt.kind.as_str()) {
        return Err(ApiError::bad_request(format!("the kind of an applied configuration must be {}", req.rt.kind)));
    }
    if let Some(n) = applied.pointer("/metadata/name").and_then(Value::as_str)
        && n != req.name()
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({})",
            req.name()
        )));
    }
    let mut applied = applied.clone();
    // Main-resource apply cannot own status of kinds with a status subresource, and vice versa.
    if req.rt.status_subresource
        && let Some(m) = applied.as_object_mut()
    {
        if sub == Subresource::Main {
            m.remove("status");
        } else {
            m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
        }
    }
    let mut store = req.state.store.lock();
    let current = match store.get(&req.rt, req.ns(), req.name()) {
        Ok(c) => Some(c),
        Err(e) if e.code == 404 && sub == Subresource::Main => None,
        Err(e) => return Err(e),
    };
    let mut new = managed::apply(
        current.as_deref(),
        &applied,
        &manager,
        sub.name(),
        force,
        &req.rt.api_version(),
        &now_rfc3339(),
    )?;
    let opts = WriteOpts { manager: None, managed_fields_set: true, ..req.write_opts() };
    match current {
        None => {
            let mut new = new;
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("name".into(), json!(req.name()));
            }
            let created = store.create(&req.rt, req.ns(), new, &opts);
            req.collect_warnings(&mut store);
            Ok((201, present(&req.rt, &*created?)))
        }
        Some(cur) => {
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert(
                    "resourceVersion".into(),
                    cur.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
                );
            }
            let updated = store.update(&req.rt, req.ns(), req.name(), new, sub, &opts);
            req.collect_warnings(&mut store);
            Ok((200, present(&req.rt, &*updated?)))
        }
    }
}

fn delete_opts(req: &Request) -> ApiResult<DeleteOpts> {
    let body = if req.body.is_empty() { json!({}) } else { req.body_value()? };
    let policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| req.query.get("propagationPolicy").cloned());
    let propagation = match policy.as_deref() {
        Some("Orphan") => Propagation::Orphan,
        None | Some("Background" | "Foreground") => Propagation::Background,
        Some(other) => return Err(ApiError::bad_request(format!("invalid propagationPolicy {other:?}"))),
    };
    let dry_run = req.dry_run() || body.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    Ok(DeleteOpts {
        uid: body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        resource_version: body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string),
        propagation,
        dry_run,
    })
}

/// DELETE one object: the object is returned (with deletionTimestamp while finalizers remain).
pub fn delete(req: &Request) -> Reply {
    if req.target.sub.is_some() {
        return Err(ApiError::method_not_allowed("delete is not allowed on a subresource"));
    }
    let opts = delete_opts(req)?;
    let obj = req.state.store.lock().delete(&req.rt, req.ns(), req.name(), &opts)?;
    Ok((200, present(&req.rt, &obj)))
}

/// DELETE a collection, filtered by selectors.
pub fn delete_collection(req: &Request) -> Reply {
    let opts = delete_opts(req)?;
    let (labels, fields) = req.selectors()?;
    let mut store = req.state.store.lock();
    let doomed = store.list(&req.rt, req.ns(), &labels, &fields);
    let mut items = Vec::new();
    for o in doomed {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Ok(d) = store.delete(&req.rt, ns.as_deref(), &name, &opts) {
            items.push(present(&req.rt, &d));
        }
    }
    let rv = store.resource_version().to_string();
    Ok((
        200,
        json!({"kind": format!("{}List", req.rt.kind), "apiVersion": req.rt.api_version(),
               "metadata": {"resourceVersion": rv}, "items": items}),
    ))
}
