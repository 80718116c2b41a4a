//! OpenAPI documents for CRD kinds, shaped like the ones the API server publishes for them
//! (apiextensions-apiserver `controller/openapi/builder`), because kubectl reads them:
//!
//! - `kubectl explain` (1.32) uses OpenAPI v3: it GETs `/openapi/v3`, whose `paths` map
//!   `apis/GROUP/VERSION` to `{"serverRelativeURL": "/openapi/v3/apis/GROUP/VERSION?hash=..."}`
//!   ([`openapi_v3_index_entry`]), then GETs that URL ([`openapi_v3_document`]) and looks up the schema in
//!   `components.schemas` whose `x-kubernetes-group-version-kind` matches, following `$ref`s within the
//!   same document (so ObjectMeta and its dependencies are included).
//! - `kubectl apply`/`create` (default `--validate=strict`) first checks that the server supports the
//!   `fieldValidation` query parameter for the kind: it scans the v3 document's `paths` for a PATCH operation
//!   whose `x-kubernetes-group-version-kind` is the kind and which lists a `fieldValidation` query parameter
//!   (falling back to the same check on `/openapi/v2`). If neither is found the apply fails, so every kind
//!   gets the full set of paths with their parameters. When support is found kubectl does no client-side
//!   schema validation: the server must then enforce `fieldValidation=Strict` itself (see
//!   [`super::Admitted::unknown_fields`]).
//!
//! The server core serves these documents; this module only builds them.

use serde_json::{Map, Value, json};

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{DeleteOptions, ListMeta, ObjectMeta, Patch, Status};
use schemars::generate::SchemaSettings;

/// One served kind of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub struct CrdKind {
    /// `spec.names.kind`, e.g. `CostPolicy`.
    pub kind: String,
    /// `spec.names.listKind` (defaults to `<kind>List`).
    pub list_kind: String,
    /// `spec.names.plural`, e.g. `costpolicies`.
    pub plural: String,
    /// `spec.scope == Namespaced`.
    pub namespaced: bool,
    /// The version's `schema.openAPIV3Schema` (`{"type": "object"}` when it has none).
    pub schema: Value,
    /// The version has a status subresource.
    pub status: bool,
    /// The version has a scale subresource.
    pub scale: bool,
}

impl CrdKind {
    /// Read a kind from a CRD (as JSON) for one of its versions; `None` if the version is not served.
    pub fn from_crd(crd: &Value, version: &str) -> Option<CrdKind> {
        let spec = crd.get("spec")?;
        let names = spec.get("names")?;
        let kind = names.get("kind")?.as_str()?.to_string();
        let v = spec
            .get("versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?;
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            return None;
        }
        let list_kind =
            names.get("listKind").and_then(Value::as_str).map(str::to_string).unwrap_or(format!("{kind}List"));
        let plural = names.get("plural").and_then(Value::as_str).map(str::to_string).unwrap_or(kind.to_lowercase());
        let schema = v.pointer("/schema/openAPIV3Schema").cloned().unwrap_or(json!({"type": "object"}));
        Some(CrdKind {
            kind,
            list_kind,
            plural,
            namespaced: spec.get("scope").and_then(Value::as_str) == Some("Namespaced"),
            schema,
            status: v.pointer("/subresources/status").is_some(),
            scale: v.pointer("/subresources/scale").is_some(),
        })
    }
}

/// The name the server gives a group's definitions: the group reversed (`hybridscale.dev` ->
/// `dev.hybridscale`), then version and kind: `dev.hybridscale.v1alpha1.CostPolicy`.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The key of a group-version in the `/openapi/v3` index (`apis/hybridscale.dev/v1alpha1`, `api/v1`).
pub fn openapi_v3_index_key(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// One entry of the `/openapi/v3` index (`{"paths": {key: entry, ...}}`) for a group-version document:
/// `(key, {"serverRelativeURL": "/openapi/v3/<key>?hash=<HASH>"})`. The hash changes with the document, so
/// kubectl's cache refetches it after a CRD changes.
pub fn openapi_v3_index_entry(group: &str, version: &str, document: &Value) -> (String, Value) {
    let key = openapi_v3_index_key(group, version);
    let hash = fnv1a(document.to_string().as_bytes());
    let url = format!("/openapi/v3/{key}?hash={hash:016X}");
    (key, json!({"serverRelativeURL": url}))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

/// The `/openapi/v3/apis/GROUP/VERSION` document for the given kinds of one CRD group-version.
pub fn openapi_v3_document(group: &str, version: &str, kinds: &[CrdKind]) -> Value {
    let mut schemas = meta_definitions(false, kinds.iter().any(|k| k.scale));
    let mut paths = Map::new();
    for k in kinds {
        schemas.insert(definition_name(group, version, &k.kind), kind_schema(group, version, k, false));
        schemas.insert(definition_name(group, version, &k.list_kind), list_schema(group, version, k, false));
        for (path, item) in kind_paths(group, version, k, false) {
            paths.insert(path, item);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

/// The part of the single `/openapi/v2` swagger document contributed by one CRD group-version:
/// `{"definitions": {...}, "paths": {...}}`, to be merged into the document's `definitions` and `paths`
/// (it includes the ObjectMeta family, which the server core may already have).
///
/// Like the server's v2 publishing, `nullable`, junctors (`allOf`/`anyOf`/`oneOf`/`not`) and
/// `x-kubernetes-validations` are left out of the kind schemas, and a kind whose root preserves unknown
/// fields is published as a bare object.
pub fn openapi_v2_definitions(group: &str, version: &str, kinds: &[CrdKind]) -> Value {
    let mut definitions = meta_definitions(true, kinds.iter().any(|k| k.scale));
    let mut paths = Map::new();
    for k in kinds {
        definitions.insert(definition_name(group, version, &k.kind), kind_schema(group, version, k, true));
        definitions.insert(definition_name(group, version, &k.list_kind), list_schema(group, version, k, true));
        for (path, item) in kind_paths(group, version, k, true) {
            paths.insert(path, item);
        }
    }
    json!({"definitions": definitions, "paths": paths})
}

fn ref_prefix(v2: bool) -> &'static str {
    if v2 { "#/definitions/" } else { "#/components/schemas/" }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DOC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// `{"allOf": [{"$ref": ...}], "description": ...}`: how the server writes a described reference.
fn described_ref(v2: bool, name: &str, description: &str) -> Value {
    if v2 {
        json!({"$ref": format!("{}{name}", ref_prefix(v2)), "description": description})
    } else {
        json!({"allOf": [{"$ref": format!("{}{name}", ref_prefix(v2))}], "description": description})
    }
}

fn kind_schema(group: &str, version: &str, k: &CrdKind, v2: bool) -> Value {
    let mut schema = k.schema.clone();
    if v2 {
        if super::node::preserves_unknown(&schema) {
            schema = json!({"type": "object"});
        } else {
            strip_for_v2(&mut schema);
        }
    }
    if let Value::Object(map) = &mut schema {
        if map.contains_key("properties") || !v2 {
            add_type_meta(map, v2);
        }
        map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(group, version, &k.kind)]));
    }
    add_embedded_meta(&mut schema, v2);
    schema
}

fn add_type_meta(map: &mut Map<String, Value>, v2: bool) {
    let props = map.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(props) = props {
        props.insert("apiVersion".into(), json!({"description": API_VERSION_DOC, "type": "string"}));
        props.insert("kind".into(), json!({"description": KIND_DOC, "type": "string"}));
        props.insert(
            "metadata".into(),
            described_ref(v2, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", METADATA_DOC),
        );
    }
}

/// `x-kubernetes-embedded-resource` objects get apiVersion, kind and metadata, and require the first two.
fn add_embedded_meta(schema: &mut Value, v2: bool) {
    let Value::Object(map) = schema else { return };
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            for (name, child) in children.iter_mut() {
                if !(name == "metadata" && child.get("allOf").is_some()) {
                    add_embedded_meta(child, v2);
                }
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            add_embedded_meta(child, v2);
        }
    }
    if map.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
        add_type_meta(map, v2);
        let required = map.entry("required").or_insert_with(|| json!([]));
        if let Value::Array(req) = required {
            for k in ["kind", "apiVersion"] {
                if !req.iter().any(|r| r == k) {
                    req.push(json!(k));
                }
            }
        }
    }
}

/// Drop what OpenAPI v2 cannot say or kubectl's v2 validation would misread.
fn strip_for_v2(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for key in ["nullable", "allOf", "anyOf", "oneOf", "not", "x-kubernetes-validations"] {
        map.remove(key);
    }
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        map.remove("type");
    }
    if let Some(Value::Object(children)) = map.get_mut("properties") {
        children.values_mut().for_each(strip_for_v2);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            strip_for_v2(child);
        }
    }
}

fn list_schema(group: &str, version: &str, k: &CrdKind, v2: bool) -> Value {
    json!({
        "description": format!("{} is a list of {}", k.list_kind, k.kind),
        "required": ["items"],
        "type": "object",
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", k.plural),
                "type": "array",
                "items": {"$ref": format!("{}{}", ref_prefix(v2), definition_name(group, version, &k.kind))}
            },
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": described_ref(v2, "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", LIST_METADATA_DOC)
        },
        "x-kubernetes-group-version-kind": [gvk(group, version, &k.list_kind)]
    })
}

/// ObjectMeta, ListMeta and what the operations return (Status, DeleteOptions, Patch, Scale), with every
/// schema they reference, generated from k8s-openapi's schemas under the server's names.
fn meta_definitions(v2: bool, scale: bool) -> Map<String, Value> {
    let mut settings = SchemaSettings::openapi3();
    if v2 {
        settings.definitions_path = "/definitions".into();
    }
    let mut generator = settings.into_generator();
    generator.subschema_for::<ObjectMeta>();
    generator.subschema_for::<ListMeta>();
    generator.subschema_for::<Status>();
    generator.subschema_for::<DeleteOptions>();
    generator.subschema_for::<Patch>();
    if scale {
        generator.subschema_for::<Scale>();
    }
    generator.take_definitions(true)
}

fn param(name: &str, location: &str, description: &str, ty: &str, v2: bool) -> Value {
    let mut p = json!({"name": name, "in": location, "description": description});
    if location == "path" {
        p["required"] = json!(true);
    }
    if v2 {
        p["type"] = json!(ty);
        p["uniqueItems"] = json!(true);
    } else {
        p["schema"] = json!({"type": ty, "uniqueItems": true});
    }
    p
}

const DRY_RUN_DOC: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER_DOC: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_VALIDATION_DOC: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";

/// Query parameters of an operation, by its `x-kubernetes-action`.
fn action_params(action: &str, v2: bool) -> Vec<Value> {
    let q = |name: &str, doc: &str, ty: &str| param(name, "query", doc, ty, v2);
    match action {
        "list" | "deletecollection" => [
            ("allowWatchBookmarks", "boolean"),
            ("continue", "string"),
            ("fieldSelector", "string"),
            ("labelSelector", "string"),
            ("limit", "integer"),
            ("resourceVersion", "string"),
            ("resourceVersionMatch", "string"),
            ("sendInitialEvents", "boolean"),
            ("timeoutSeconds", "integer"),
            ("watch", "boolean"),
        ]
        .iter()
        .map(|(n, t)| q(n, &format!("{n} (see ListOptions)"), t))
        .collect(),
        "get" => vec![q(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
        )],
        "post" | "put" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("fieldManager", FIELD_MANAGER_DOC, "string"),
            q("fieldValidation", FIELD_VALIDATION_DOC, "string"),
        ],
        "patch" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("fieldManager", FIELD_MANAGER_DOC, "string"),
            q("fieldValidation", FIELD_VALIDATION_DOC, "string"),
            q(
                "force",
                "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
                "boolean",
            ),
        ],
        "delete" => vec![
            q("dryRun", DRY_RUN_DOC, "string"),
            q("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
            q(
                "propagationPolicy",
                "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
                "string",
            ),
        ],
        _ => vec![],
    }
}

/// One operation object.
#[allow(clippy::too_many_arguments)]
fn operation(
    v2: bool,
    gvk_value: &Value,
    action: &str,
    op_id: String,
    description: String,
    tag: &str,
    response: &str,
    body: Option<&str>,
    consumes: &[&str],
) -> Value {
    let response_ref = json!({"$ref": format!("{}{response}", ref_prefix(v2))});
    let mut params = action_params(action, v2);
    let mut op = json!({
        "description": description,
        "operationId": op_id,
        "tags": [tag],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk_value,
    });
    if v2 {
        if let Some(b) = body {
            params.push(json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": format!("{}{b}", ref_prefix(v2))}}));
        }
        op["consumes"] = json!(consumes);
        op["produces"] = json!(["application/json", "application/yaml"]);
        op["schemes"] = json!(["https"]);
        op["responses"] =
            json!({"200": {"description": "OK", "schema": response_ref}, "401": {"description": "Unauthorized"}});
    } else {
        if let Some(b) = body {
            let content: Map<String, Value> = consumes
                .iter()
                .map(|c| ((*c).to_string(), json!({"schema": {"$ref": format!("{}{b}", ref_prefix(v2))}})))
                .collect();
            op["requestBody"] = json!({"content": content, "required": true});
        }
        op["responses"] = json!({
            "200": {"description": "OK", "content": {
                "application/json": {"schema": response_ref},
                "application/yaml": {"schema": response_ref}
            }},
            "401": {"description": "Unauthorized"}
        });
    }
    op["parameters"] = Value::Array(params);
    op
}

/// The REST paths of one kind, with operations as the server documents them.
fn kind_paths(group: &str, version: &str, k: &CrdKind, v2: bool) -> Vec<(String, Value)> {
    let kind_def = definition_name(group, version, &k.kind);
    let list_def = definition_name(group, version, &k.list_kind);
    let status = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    let patch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    let delete_opts = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    let scale = "io.k8s.api.autoscaling.v1.Scale";
    let tag: String = {
        // `hybridscale.dev` -> `hybridscaleDev_v1alpha1`
        let parts: Vec<&str> = group.split('.').collect();
        let camel: String =
            parts.iter().enumerate().map(|(i, p)| if i == 0 { p.to_string() } else { capitalize(p) }).collect();
        format!("{camel}_{version}")
    };
    let gvk_value = gvk(group, version, &k.kind);
    let ns = if k.namespaced { "Namespaced" } else { "" };
    let kind = &k.kind;
    let patch_types = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
    let json_yaml = ["application/json", "application/yaml"];
    let op =
        |action: &str, verb: &str, sub: &str, desc: String, response: &str, body: Option<&str>, consumes: &[&str]| {
            operation(
                v2,
                &gvk_value,
                action,
                format!("{verb}{ns}{kind}{}", capitalize(sub)),
                desc,
                &tag,
                response,
                body,
                consumes,
            )
        };
    let pretty = param("pretty", "query", "If 'true', then the output is pretty printed.", "string", v2);
    let name_param = param("name", "path", &format!("name of the {kind}"), "string", v2);
    let ns_param =
        param("namespace", "path", "object name and auth scope, such as for teams and projects", "string", v2);

    let mut out = Vec::new();
    let mut root = format!("/apis/{group}/{version}/{}", k.plural);
    if k.namespaced {
        let mut all = Map::new();
        let mut get = op("list", "list", "", format!("list objects of kind {kind}"), &list_def, None, &json_yaml);
        get["operationId"] = json!(format!("list{kind}ForAllNamespaces"));
        all.insert("get".into(), get);
        all.insert("parameters".into(), json!([pretty.clone()]));
        out.push((root.clone(), Value::Object(all)));
        root = format!("/apis/{group}/{version}/namespaces/{{namespace}}/{}", k.plural);
    }
    let scope_params = |with_name: bool| {
        let mut p = Vec::new();
        if with_name {
            p.push(name_param.clone());
        }
        if k.namespaced {
            p.push(ns_param.clone());
        }
        p.push(pretty.clone());
        Value::Array(p)
    };
    let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
    out.push((
        root.clone(),
        json!({
            "get": op("list", "list", "", format!("list objects of kind {kind}"), &list_def, None, &json_yaml),
            "post": op("post", "create", "", format!("create {article} {kind}"), &kind_def, Some(&kind_def), &json_yaml),
            "delete": op("deletecollection", "deletecollection", "", format!("delete collection of {kind}"), status, None, &json_yaml),
            "parameters": scope_params(false),
        }),
    ));
    out.push((
        format!("{root}/{{name}}"),
        json!({
            "get": op("get", "read", "", format!("read the specified {kind}"), &kind_def, None, &json_yaml),
            "put": op("put", "replace", "", format!("replace the specified {kind}"), &kind_def, Some(&kind_def), &json_yaml),
            "delete": op("delete", "delete", "", format!("delete {article} {kind}"), status, Some(delete_opts), &json_yaml),
            "patch": op("patch", "patch", "", format!("partially update the specified {kind}"), &kind_def, Some(patch), &patch_types),
            "parameters": scope_params(true),
        }),
    ));
    for (sub, enabled, response) in [("status", k.status, kind_def.as_str()), ("scale", k.scale, scale)] {
        if !enabled {
            continue;
        }
        let body = if sub == "scale" { scale } else { kind_def.as_str() };
        out.push((
            format!("{root}/{{name}}/{sub}"),
            json!({
                "get": op("get", "read", sub, format!("read {sub} of the specified {kind}"), response, None, &json_yaml),
                "put": op("put", "replace", sub, format!("replace {sub} of the specified {kind}"), response, Some(body), &json_yaml),
                "patch": op("patch", "patch", sub, format!("partially update {sub} of the specified {kind}"), response, Some(patch), &patch_types),
                "parameters": scope_params(true),
            }),
        ));
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
