//! Integer formats Kubernetes recognises, in the generated CRDs.
//!
//! schemars writes `format: uint32` (and `uint16`, `uint64`, ...) for Rust's unsigned integers; OpenAPI
//! and Kubernetes know only `int32` and `int64`, and a real API server answers such a CRD with
//! `Warning: unrecognized format "uint32"`. As controller-gen does for Go's unsigned types, the generated
//! schemas say `int32`/`int64` with `minimum: 0` instead.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

/// Rewrite every integer format of every version's schema to `int32` or `int64`.
pub fn to_kubernetes_formats(crd: &mut CustomResourceDefinition) {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
            rewrite(schema);
        }
    }
}

/// The Kubernetes format for a schemars integer format, and whether the type is unsigned.
fn kubernetes_format(format: &str) -> Option<(&'static str, bool)> {
    match format {
        "uint8" | "uint16" | "uint32" => Some(("int32", true)),
        "uint64" | "uint" | "uint128" => Some(("int64", true)),
        "int8" | "int16" => Some(("int32", false)),
        "int" | "int128" => Some(("int64", false)),
        _ => None,
    }
}

fn rewrite(s: &mut JSONSchemaProps) {
    if let Some((format, unsigned)) = s.format.as_deref().and_then(kubernetes_format) {
        s.format = Some(format.to_string());
        if unsigned && s.minimum.is_none_or(|m| m < 0.0) {
            s.minimum = Some(0.0);
        }
    }
    match &mut s.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => rewrite(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(rewrite),
        None => {}
    }
    for extra in [&mut s.additional_properties, &mut s.additional_items].into_iter().flatten() {
        if let JSONSchemaPropsOrBool::Schema(inner) = extra {
            rewrite(inner);
        }
    }
    if let Some(not) = &mut s.not {
        rewrite(not);
    }
    for list in [&mut s.all_of, &mut s.any_of, &mut s.one_of].into_iter().flatten() {
        list.iter_mut().for_each(rewrite);
    }
    for map in [&mut s.properties, &mut s.pattern_properties, &mut s.definitions].into_iter().flatten() {
        map.values_mut().for_each(rewrite);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats(s: &JSONSchemaProps, out: &mut Vec<(String, Option<f64>)>) {
        if let Some(f) = &s.format {
            out.push((f.clone(), s.minimum));
        }
        for p in s.properties.iter().flat_map(|m| m.values()) {
            formats(p, out);
        }
        if let Some(JSONSchemaPropsOrArray::Schema(i)) = &s.items {
            formats(i, out);
        }
        if let Some(JSONSchemaPropsOrBool::Schema(i)) = &s.additional_properties {
            formats(i, out);
        }
    }

    #[test]
    fn every_generated_integer_format_is_one_kubernetes_knows() {
        let mut seen = Vec::new();
        for crd in crate::crds() {
            for v in &crd.spec.versions {
                formats(v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("schema"), &mut seen);
            }
        }
        assert!(seen.len() > 40, "{seen:?}");
        for (format, _) in &seen {
            assert!(["int32", "int64", "double", "date-time"].contains(&format.as_str()), "{format}");
        }
        // The unsigned fields keep their lower bound: every int32 here comes from a u16/u32.
        assert!(seen.iter().filter(|(f, _)| f == "int32").all(|(_, min)| min.is_some_and(|m| m >= 0.0)), "{seen:?}");
    }

    #[test]
    fn unsigned_integers_get_a_lower_bound_and_nested_schemas_are_rewritten() {
        let json = serde_json::json!({"type": "object", "properties": {
            "a": {"type": "integer", "format": "uint32"},
            "b": {"type": "integer", "format": "uint64", "minimum": 3.0},
            "c": {"type": "array", "items": {"type": "integer", "format": "uint16"}},
            "d": {"type": "object", "additionalProperties": {"type": "integer", "format": "int16"}},
        }});
        let mut s: JSONSchemaProps = serde_json::from_value(json).expect("schema");
        rewrite(&mut s);
        let mut seen = Vec::new();
        formats(&s, &mut seen);
        seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.partial_cmp(&b.1).expect("no NaN")));
        assert_eq!(
            seen,
            [
                ("int32".into(), None),
                ("int32".into(), Some(0.0)),
                ("int32".into(), Some(0.0)),
                ("int64".into(), Some(3.0))
            ]
        );
    }
}
