//! One test per schema keyword, each checking the server's exact text.

use serde_json::{Value, json};

use super::rendered;
use crate::schema::{CrdSchema, RULES_NOT_CHECKED};

/// A resource schema whose spec is `spec`.
fn with_spec(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

fn obj(spec: Value) -> Value {
    json!({"apiVersion": "x.dev/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec})
}

fn errors_for(spec_schema: Value, spec: Value) -> Vec<String> {
    rendered(&with_spec(spec_schema), &mut obj(spec), None)
}

const NOT_CHECKED: &str = "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

#[test]
fn type_mismatch_is_type_invalid_and_blocks_rules_when_there_are_rules() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let type_error = "spec.n: Invalid value: \"string\": spec.n in body must be of type integer: \"string\"";
    // No rule anywhere: the server has no CEL validator and adds nothing.
    assert_eq!(errors_for(schema, json!({"n": "three"})), vec![type_error]);
    let with_rule = json!({"type": "object", "properties": {"n": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.n > 0"}]});
    assert_eq!(errors_for(with_rule, json!({"n": "three"})), vec![type_error, NOT_CHECKED]);
    assert_eq!(format!("<nil>: Invalid value: \"null\": {RULES_NOT_CHECKED}"), NOT_CHECKED);
}

#[test]
fn integers_are_numbers_and_whole_floats_are_integers() {
    let schema = json!({"type": "object", "properties": {
        "i": {"type": "integer"}, "f": {"type": "number"}, "b": {"type": "boolean"}
    }});
    assert!(errors_for(schema.clone(), json!({"i": 3.0, "f": 3, "b": true})).is_empty());
    assert_eq!(
        errors_for(schema, json!({"i": 3.5, "b": "yes"})),
        vec![
            "spec.b: Invalid value: \"string\": spec.b in body must be of type boolean: \"string\"",
            "spec.i: Invalid value: \"number\": spec.i in body must be of type integer: \"number\"",
        ]
    );
}

#[test]
fn required_fields() {
    let schema = json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}});
    assert_eq!(errors_for(schema, json!({"a": "x"})), vec!["spec.b: Required value"]);
}

#[test]
fn enums_list_their_supported_values() {
    let schema = json!({"type": "object", "properties": {
        "s": {"type": "string", "enum": ["A", "B"]}, "n": {"type": "integer", "enum": [1, 2]}
    }});
    assert!(errors_for(schema.clone(), json!({"s": "A", "n": 2})).is_empty());
    assert_eq!(
        errors_for(schema, json!({"s": "C", "n": 3})),
        vec![
            "spec.n: Unsupported value: 3: supported values: \"1\", \"2\"",
            "spec.s: Unsupported value: \"C\": supported values: \"A\", \"B\"",
        ]
    );
}

#[test]
fn minimum_maximum_and_exclusive_bounds() {
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "integer", "minimum": 5, "maximum": 10},
        "b": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true},
        "c": {"type": "number", "maximum": 1000000.0}
    }});
    assert!(errors_for(schema.clone(), json!({"a": 5, "b": 0.5, "c": 1000000})).is_empty());
    assert_eq!(
        errors_for(schema.clone(), json!({"a": 11, "b": 0, "c": 2000000.5})),
        vec![
            "spec.a: Invalid value: 11: spec.a in body should be less than or equal to 10",
            "spec.b: Invalid value: 0: spec.b in body should be greater than 0",
            "spec.c: Invalid value: 2.0000005e+06: spec.c in body should be less than or equal to 1e+06",
        ]
    );
    assert_eq!(
        errors_for(schema, json!({"a": 4, "b": 1.0})),
        vec![
            "spec.a: Invalid value: 4: spec.a in body should be greater than or equal to 5",
            "spec.b: Invalid value: 1: spec.b in body should be less than 1",
        ]
    );
}

#[test]
fn integer_values_meet_a_fractional_bound_truncated_like_the_server() {
    // kube-openapi compares an int64 value with int64(bound): minimum 0.01 lets the integer 0 through,
    // while 0.001 (a float) is rejected.
    let schema = json!({"type": "object", "properties": {"s": {"type": "number", "minimum": 0.01}}});
    assert!(errors_for(schema.clone(), json!({"s": 0})).is_empty());
    assert_eq!(
        errors_for(schema, json!({"s": 0.001})),
        vec!["spec.s: Invalid value: 0.001: spec.s in body should be greater than or equal to 0.01"]
    );
}

#[test]
fn multiple_of() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 5}}});
    assert!(errors_for(schema.clone(), json!({"n": 15})).is_empty());
    assert_eq!(
        errors_for(schema, json!({"n": 7})),
        vec!["spec.n: Invalid value: 7: spec.n in body should be a multiple of 5"]
    );
}

#[test]
fn string_lengths_and_pattern() {
    let schema = json!({"type": "object", "properties": {
        "s": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"}
    }});
    assert!(errors_for(schema.clone(), json!({"s": "abc"})).is_empty());
    // Lengths count characters (runes), not bytes.
    assert!(errors_for(schema.clone(), json!({"s": "ééé"})).len() == 1);
    assert_eq!(
        errors_for(schema.clone(), json!({"s": "a"})),
        vec!["spec.s: Invalid value: \"a\": spec.s in body should be at least 2 chars long"]
    );
    assert_eq!(
        errors_for(schema.clone(), json!({"s": "abcdef"})),
        vec!["spec.s: Too long: may not be more than 4 bytes"]
    );
    assert_eq!(
        errors_for(schema, json!({"s": "AB"})),
        vec!["spec.s: Invalid value: \"AB\": spec.s in body should match '^[a-z]+$'"]
    );
}

#[test]
fn string_formats_checked_numeric_formats_ignored() {
    let schema = json!({"type": "object", "properties": {
        "t": {"type": "string", "format": "date-time"},
        "ip": {"type": "string", "format": "ipv4"},
        "n": {"type": "integer", "format": "int32"}
    }});
    assert!(
        errors_for(schema.clone(), json!({"t": "2026-01-02T03:04:05Z", "ip": "10.0.0.1", "n": 99999999999i64}))
            .is_empty()
    );
    assert_eq!(
        errors_for(schema, json!({"t": "yesterday", "ip": "10.0.0"})),
        vec![
            "spec.ip: Invalid value: \"10.0.0\": spec.ip in body must be of type ipv4: \"10.0.0\"",
            "spec.t: Invalid value: \"yesterday\": spec.t in body must be of type date-time: \"yesterday\"",
        ]
    );
}

#[test]
fn array_bounds_and_item_paths() {
    let schema = json!({"type": "object", "properties": {
        "l": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string", "maxLength": 1}}
    }});
    assert_eq!(
        errors_for(schema.clone(), json!({"l": []})),
        vec!["spec.l: Invalid value: 0: spec.l in body should have at least 1 items"]
    );
    assert_eq!(
        errors_for(schema, json!({"l": ["a", "bb", "c"]})),
        vec!["spec.l[1]: Too long: may not be more than 1 byte", "spec.l: Too many: 3: must have at most 2 items",]
    );
}

#[test]
fn map_values_and_max_properties() {
    let schema = json!({"type": "object", "properties": {
        "m": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}}
    }});
    assert!(errors_for(schema.clone(), json!({"m": {"a": "1", "b": "2"}})).is_empty());
    assert_eq!(
        errors_for(schema.clone(), json!({"m": {"a": 1}})),
        vec!["spec.m.a: Invalid value: \"integer\": spec.m.a in body must be of type string: \"integer\""]
    );
    assert_eq!(
        errors_for(schema, json!({"m": {"a": "1", "b": "2", "c": "3"}})),
        vec!["spec.m: Too many: 3: must have at most 2 items"]
    );
}

#[test]
fn nullable_and_non_nullable_nulls() {
    let schema = json!({"type": "object", "properties": {
        "keep": {"type": "string", "nullable": true},
        "drop": {"type": "string"},
        "dflt": {"type": "string", "default": "d"}
    }});
    let mut o = obj(json!({"keep": null, "drop": null, "dflt": null}));
    assert!(rendered(&with_spec(schema), &mut o, None).is_empty());
    assert_eq!(o["spec"], json!({"keep": null, "dflt": "d"}));
}

#[test]
fn int_or_string() {
    let schema = json!({"type": "object", "properties": {
        "p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    }});
    assert!(errors_for(schema.clone(), json!({"p": 80})).is_empty());
    assert!(errors_for(schema.clone(), json!({"p": "http"})).is_empty());
    let errs = errors_for(schema, json!({"p": true}));
    assert_eq!(
        errs[0],
        "spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: \"boolean\""
    );
}

#[test]
fn list_type_set_and_map_uniqueness() {
    let schema = json!({"type": "object", "properties": {
        "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
              "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}
    }});
    assert!(
        errors_for(schema.clone(), json!({"s": ["a", "b"], "m": [{"name": "a", "v": 1}, {"name": "b", "v": 1}]}))
            .is_empty()
    );
    assert_eq!(
        errors_for(schema, json!({"s": ["a", "b", "a", "a"], "m": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]})),
        vec![
            "spec.m[1]: Duplicate value: map[string]interface {}{\"name\":\"a\"}",
            "spec.s[2]: Duplicate value: \"a\"",
        ]
    );
}

#[test]
fn preserve_unknown_fields_keeps_them_and_embedded_resources_keep_their_metadata() {
    let schema = with_spec(json!({"type": "object", "properties": {
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "tmpl": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
        "closed": {"type": "object"}
    }}));
    let mut o = obj(json!({
        "free": {"anything": {"deep": 1}},
        "tmpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {"x": 1}},
        "closed": {"gone": true}
    }));
    let admitted = CrdSchema::new(&schema).admit(&mut o, None).expect("valid");
    assert_eq!(o["spec"]["free"], json!({"anything": {"deep": 1}}));
    assert_eq!(o["spec"]["tmpl"], json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}));
    assert_eq!(o["spec"]["closed"], json!({}));
    assert_eq!(admitted.unknown_fields, vec!["spec.closed.gone", "spec.tmpl.metadata.junk", "spec.tmpl.spec.x"]);
}

#[test]
fn defaults_replace_missing_fields_recursively() {
    let schema = json!({"type": "object", "properties": {
        "outer": {"type": "object", "default": {}, "properties": {
            "inner": {"type": "integer", "default": 7},
            "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string", "default": "x"}}}}
        }}
    }});
    let mut o = obj(json!({}));
    assert!(rendered(&with_spec(schema.clone()), &mut o, None).is_empty());
    assert_eq!(o["spec"], json!({"outer": {"inner": 7}}));
    let mut o = obj(json!({"outer": {"list": [{}, {"k": "y"}]}}));
    assert!(rendered(&with_spec(schema), &mut o, None).is_empty());
    assert_eq!(o["spec"], json!({"outer": {"inner": 7, "list": [{"k": "x"}, {"k": "y"}]}}));
}

#[test]
fn any_of_one_of_and_not() {
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]},
        "o": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 5}]},
        "n": {"type": "string", "not": {"enum": ["forbidden"]}}
    }});
    assert!(errors_for(schema.clone(), json!({"a": 11, "o": 9, "n": "ok"})).is_empty());
    let errs = errors_for(schema, json!({"a": 5, "o": 3, "n": "forbidden"}));
    assert!(
        errs.contains(&"<nil>: Invalid value: \"\": \"spec.a\" must validate at least one schema (anyOf)".to_string()),
        "{errs:#?}"
    );
    assert!(errs.iter().any(|e| e.contains("\"spec.o\" must validate one and only one schema (oneOf)")), "{errs:#?}");
    assert!(
        errs.contains(&"<nil>: Invalid value: \"\": \"spec.n\" must not validate the schema (not)".to_string()),
        "{errs:#?}"
    );
}

#[test]
fn check_reports_non_structural_schemas() {
    let bad = json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "untyped": {"description": "no type"},
                    "ios": {"type": "string", "x-kubernetes-int-or-string": true},
                    "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
                    "l": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "j": {"type": "object", "properties": {"a": {"type": "string"}},
                          "anyOf": [{"properties": {"b": {"minLength": 1}}}, {"type": "object"}]}
                }
            }
        }
    });
    let errs: Vec<String> = CrdSchema::new(&bad).check().iter().map(|e| e.render()).collect();
    let want = [
        "openAPIV3Schema.properties[metadata].properties[labels]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
        "openAPIV3Schema.properties[spec].properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
        "openAPIV3Schema.properties[spec].properties[ios].type: Invalid value: \"string\": must be empty if x-kubernetes-int-or-string is true",
        "openAPIV3Schema.properties[spec].properties[j].anyOf[0].properties[b]: Required value: must be specified outside of the logical junctors (allOf, anyOf, oneOf, not) to be structural",
        "openAPIV3Schema.properties[spec].properties[j].anyOf[1].type: Forbidden: must be empty to be structural",
        "openAPIV3Schema.properties[spec].properties[l].items.properties[name]: Required value: all map keys must be required or have a default value",
        "openAPIV3Schema.properties[spec].properties[untyped].type: Required value: must not be empty for specified object fields",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}
