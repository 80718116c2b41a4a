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
//! The server core serves these documents; this module only builds them: the documents and the kinds'
//! schemas here, the REST paths with their operations and parameters in `paths`.

mod paths;

use paths::kind_paths;

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
