//! OpenAPI documents: `/openapi/v3` (index), `/openapi/v3/api/v1` and `/openapi/v3/apis/GROUP/VERSION`, and
//! `/openapi/v2` (JSON, and a protobuf document without definitions, see [`V2_PROTOBUF`]). CRD group-versions are published by `schema::openapi` exactly as the
//! apiextensions server builds them (what `kubectl explain` shows). Built-in kinds publish a minimal schema: `apiVersion`, `kind`, `metadata`, and `spec`/`status` as
//! objects that preserve unknown fields; kubectl's client-side strategic merge falls back to its compiled-in
//! types for them. Every PATCH operation declares the `fieldValidation` parameter so kubectl leaves field
//! validation to the server instead of fetching the (protobuf) v2 document.

use serde_json::{Map, Value, json};

use super::registry::{Registry, ResourceType};
use super::schema::{self, CrdKind};

/// Component name, reversed-domain style like the real server's (`dev.hybridscale.v1alpha1.InferencePool`).
fn component_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else {
        rt.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", rt.version, rt.kind)
}

fn gvk(rt: &ResourceType) -> Value {
    json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}])
}

/// The schema of one kind.
pub fn kind_schema(rt: &ResourceType) -> Value {
    let mut s = match &rt.crd_schema {
        Some(schema) => schema.raw().clone(),
        None => json!({
            "type": "object",
            "description": format!("{} (minimal schema served by the hybridscale sandbox)", rt.kind),
            "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            }
        }),
    };
    if !s.get("properties").is_some_and(Value::is_object) {
        s["properties"] = json!({});
    }
    s["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
    s["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
    s["properties"]["metadata"] = json!({"type": "object", "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "x-kubernetes-preserve-unknown-fields": true});
    s["x-kubernetes-group-version-kind"] = gvk(rt);
    s
}

fn operation(rt: &ResourceType, action: &str, component: &str, patch: bool) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", rt.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{component}")}}}}},
    });
    let mut params = vec![
        json!({"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
        json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
        json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
    ];
    if patch {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    if action != "get" {
        op["parameters"] = json!(params);
    }
    op
}

fn base(rt: &ResourceType) -> String {
    let prefix = if rt.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{}/{}", rt.group, rt.version) };
    if rt.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{prefix}/{}", rt.plural)
    }
}

fn crd_kind(rt: &ResourceType) -> Option<CrdKind> {
    Some(CrdKind {
        kind: rt.kind.clone(),
        list_kind: format!("{}List", rt.kind),
        plural: rt.plural.clone(),
        namespaced: rt.namespaced,
        schema: rt.crd_schema.as_ref()?.raw().clone(),
        status: rt.status_subresource,
        scale: rt.scale.is_some(),
    })
}

/// The v3 document of one group/version (all CRD kinds, or all built-in kinds: CRDs cannot use a built-in
/// group).
pub fn v3_group_version(types: &[std::sync::Arc<ResourceType>]) -> Value {
    let crd_kinds: Option<Vec<CrdKind>> = types.iter().map(|rt| crd_kind(rt)).collect();
    if let (Some(kinds), Some(first)) = (crd_kinds, types.first()) {
        return schema::openapi_v3_document(&first.group, &first.version, &kinds);
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let comp = component_name(rt);
        schemas.insert(comp.clone(), kind_schema(rt));
        let b = base(rt);
        paths.insert(
            b.clone(),
            json!({"get": operation(rt, "list", &comp, false), "post": operation(rt, "post", &comp, false)}),
        );
        paths.insert(
            format!("{b}/{{name}}"),
            json!({
                "get": operation(rt, "get", &comp, false),
                "put": operation(rt, "put", &comp, false),
                "patch": operation(rt, "patch", &comp, true),
                "delete": operation(rt, "delete", &comp, false),
            }),
        );
        if rt.status_subresource {
            paths.insert(
                format!("{b}/{{name}}/status"),
                json!({
                    "get": operation(rt, "get", &comp, false),
                    "put": operation(rt, "put", &comp, false),
                    "patch": operation(rt, "patch", &comp, true),
                }),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// `/openapi/v3`: one entry per group/version, with a hash of its document so kubectl's cache refetches it
/// after a CRD changes.
pub fn v3_index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = reg.all().map(|rt| (rt.group.clone(), rt.version.clone())).collect();
    gvs.dedup();
    for (g, v) in gvs {
        let doc = v3_group_version(&reg.in_group_version(&g, &v));
        let (key, entry) = schema::openapi_v3_index_entry(&g, &v, &doc);
        paths.insert(key, entry);
    }
    json!({"paths": paths})
}

/// `/openapi/v2` as JSON: definitions only (kubectl uses v3; this serves tools that read v2 JSON).
pub fn v2(reg: &Registry) -> Value {
    let mut defs = Map::new();
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = reg.all().map(|rt| (rt.group.clone(), rt.version.clone())).collect();
    gvs.dedup();
    for (g, v) in gvs {
        let types = reg.in_group_version(&g, &v);
        match types.iter().map(|rt| crd_kind(rt)).collect::<Option<Vec<_>>>() {
            Some(kinds) => {
                let part = schema::openapi_v2_definitions(&g, &v, &kinds);
                for (key, into) in [("definitions", &mut defs), ("paths", &mut paths)] {
                    if let Some(m) = part.get(key).and_then(Value::as_object) {
                        into.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
            }
            None => {
                for rt in &types {
                    defs.insert(component_name(rt), kind_schema(rt));
                }
            }
        }
    }
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "definitions": defs})
}

/// The media type kubectl asks `/openapi/v2` for (gnostic's `openapi_v2.Document`).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The content type the real server answers it with (Go's MIME parser refuses the `@` of the request's).
pub const V2_PROTOBUF_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` in protobuf: `swagger`, `info`, and empty `paths` and `definitions`. kubectl fetches it
/// only to validate, on the client, an object whose kind the v3 documents do not describe (a kind not
/// served yet, e.g. an InferencePool applied in the same `kubectl apply` as its CRD); it skips kinds it
/// finds no definition for, as it does for kinds a real server does not know, and the apply then ends
/// in the real answer, `no matches for kind ... ensure CRDs are installed first`. Without this document
/// kubectl stopped at `the server was unable to respond with a content type that the client supports`.
pub fn v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push((number << 3) | 2);
        // Every payload here is shorter than 128 bytes: its length is one varint byte.
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes"); // title
    field(&mut info, 2, b"v1.33.0"); // version
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0"); // swagger
    field(&mut doc, 2, &info); // info
    field(&mut doc, 8, &[]); // paths
    field(&mut doc, 9, &[]); // definitions
    doc
}
