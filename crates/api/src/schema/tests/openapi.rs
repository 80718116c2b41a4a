//! The OpenAPI documents: names, GVK extensions, self-contained `$ref`s, and what kubectl looks for.

use serde_json::{Value, json};

use crate as api;
use crate::schema::{CrdKind, openapi_v2_definitions, openapi_v3_document, openapi_v3_index_entry};

fn kinds() -> Vec<CrdKind> {
    api::crds()
        .iter()
        .map(|crd| {
            let crd = serde_json::to_value(crd).expect("CRD is JSON");
            CrdKind::from_crd(&crd, "v1alpha1").expect("v1alpha1 is served")
        })
        .collect()
}

/// Every `$ref` in `doc`, with the JSON pointer it names.
fn refs(doc: &Value, out: &mut Vec<String>) {
    match doc {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn assert_refs_resolve(doc: &Value, prefix: &str) {
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("{r} does not start with {prefix}"));
        let pointer = format!("{}/{}", prefix.trim_start_matches('#'), name.replace('~', "~0").replace('/', "~1"));
        let pointer = pointer.replace("//", "/");
        assert!(doc.pointer(&pointer).is_some(), "{r} does not resolve ({pointer})");
    }
}

/// What kubectl's field-validation check looks for: a PATCH operation for the GVK with `fieldValidation`.
fn patch_supports_field_validation(paths: &Value, kind: &str) -> bool {
    paths.as_object().into_iter().flatten().any(|(_, item)| {
        item.get("patch").is_some_and(|op| {
            op["x-kubernetes-group-version-kind"]
                == json!({"group": "hybridscale.dev", "version": "v1alpha1", "kind": kind})
                && op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        })
    })
}

#[test]
fn v3_document_is_self_contained_and_names_kinds_like_the_server() {
    let kinds = kinds();
    let doc = openapi_v3_document("hybridscale.dev", "v1alpha1", &kinds);
    assert_refs_resolve(&doc, "#/components/schemas/");
    let schemas = &doc["components"]["schemas"];
    let policy = &schemas["dev.hybridscale.v1alpha1.CostPolicy"];
    assert_eq!(
        policy["x-kubernetes-group-version-kind"],
        json!([{"group": "hybridscale.dev", "kind": "CostPolicy", "version": "v1alpha1"}])
    );
    assert_eq!(
        policy["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(policy["properties"]["apiVersion"]["type"], "string");
    // The CRD's own schema is kept whole, validations included (v3 is published unstripped).
    assert_eq!(policy["properties"]["spec"]["properties"]["mode"]["enum"], json!(["Enforce", "Recommend"]));
    assert!(policy["properties"]["spec"]["x-kubernetes-validations"].is_array());
    assert_eq!(
        schemas["dev.hybridscale.v1alpha1.InferencePoolList"]["x-kubernetes-group-version-kind"][0]["kind"],
        "InferencePoolList"
    );
    assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"].is_object());
    for kind in ["CostPolicy", "InferencePool"] {
        assert!(patch_supports_field_validation(&doc["paths"], kind), "{kind}");
    }
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/apis/hybridscale.dev/v1alpha1/namespaces/{namespace}/costpolicies/{name}/status"));
    assert!(paths.contains_key("/apis/hybridscale.dev/v1alpha1/inferencepools"));
}

#[test]
fn v3_index_entry_points_at_the_document_and_changes_with_it() {
    let kinds = kinds();
    let doc = openapi_v3_document("hybridscale.dev", "v1alpha1", &kinds);
    let (key, entry) = openapi_v3_index_entry("hybridscale.dev", "v1alpha1", &doc);
    assert_eq!(key, "apis/hybridscale.dev/v1alpha1");
    let url = entry["serverRelativeURL"].as_str().expect("url");
    assert!(url.starts_with("/openapi/v3/apis/hybridscale.dev/v1alpha1?hash="), "{url}");
    let other = openapi_v3_document("hybridscale.dev", "v1alpha1", &kinds[..1]);
    assert_ne!(openapi_v3_index_entry("hybridscale.dev", "v1alpha1", &other).1, entry);
}

#[test]
fn v2_fragment_uses_definitions_and_strips_what_v2_cannot_say() {
    let kinds = kinds();
    let frag = openapi_v2_definitions("hybridscale.dev", "v1alpha1", &kinds);
    assert_refs_resolve(&frag, "#/definitions/");
    let pool = &frag["definitions"]["dev.hybridscale.v1alpha1.InferencePool"];
    assert_eq!(pool["x-kubernetes-group-version-kind"][0]["kind"], "InferencePool");
    let text = pool.to_string();
    assert!(!text.contains("\"nullable\"") && !text.contains("x-kubernetes-validations"), "v2 keeps v3-only keywords");
    assert_eq!(pool["properties"]["metadata"]["$ref"], "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    for kind in ["CostPolicy", "InferencePool"] {
        assert!(patch_supports_field_validation(&frag["paths"], kind), "{kind}");
    }
}

#[test]
fn embedded_resources_get_type_and_object_meta() {
    let kind = CrdKind {
        kind: "Widget".into(),
        list_kind: "WidgetList".into(),
        plural: "widgets".into(),
        namespaced: false,
        schema: json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }}}}),
        status: false,
        scale: true,
    };
    let doc = openapi_v3_document("example.com", "v1", std::slice::from_ref(&kind));
    assert_refs_resolve(&doc, "#/components/schemas/");
    let template =
        &doc["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["required"], json!(["kind", "apiVersion"]));
    assert!(template["properties"]["metadata"]["allOf"].is_array());
    assert!(doc["paths"].as_object().expect("paths").contains_key("/apis/example.com/v1/widgets/{name}/scale"));
    assert!(doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
}
