//! The server's text for each error kind and for echoed values.

use serde_json::json;

use crate::schema::error::go_float;
use crate::schema::{FieldError, go_value, invalid_status_message, render_aggregate};

#[test]
fn each_kind_renders_like_field_error() {
    let cases = [
        (FieldError::required("spec.slo", ""), "spec.slo: Required value", "FieldValueRequired"),
        (
            FieldError::not_supported("spec.mode", json!("Sometimes"), &["Enforce".into(), "Recommend".into()]),
            "spec.mode: Unsupported value: \"Sometimes\": supported values: \"Enforce\", \"Recommend\"",
            "FieldValueNotSupported",
        ),
        (
            FieldError::invalid("spec.n", json!(3), "must be even"),
            "spec.n: Invalid value: 3: must be even",
            "FieldValueInvalid",
        ),
        (
            FieldError::invalid_omitting_value("spec", "spec.minReplicas must not exceed spec.maxReplicas"),
            "spec: Invalid value: spec.minReplicas must not exceed spec.maxReplicas",
            "FieldValueInvalid",
        ),
        (FieldError::forbidden("spec.x", "not now"), "spec.x: Forbidden: not now", "FieldValueForbidden"),
        (FieldError::duplicate("spec.l[1]", json!("a")), "spec.l[1]: Duplicate value: \"a\"", "FieldValueDuplicate"),
        (FieldError::too_long("spec.s", 253), "spec.s: Too long: may not be more than 253 bytes", "FieldValueTooLong"),
        (FieldError::too_many("spec.l", 5, 3), "spec.l: Too many: 5: must have at most 3 items", "FieldValueTooMany"),
        (
            FieldError::type_invalid("spec.n", json!("string"), "spec.n in body must be of type integer: \"string\""),
            "spec.n: Invalid value: \"string\": spec.n in body must be of type integer: \"string\"",
            "FieldValueTypeInvalid",
        ),
        (FieldError::internal("spec", "boom"), "spec: Internal error: boom", "InternalError"),
    ];
    for (err, text, reason) in cases {
        assert_eq!(err.render(), text);
        assert_eq!(err.cause_reason(), reason);
    }
}

#[test]
fn values_print_as_go_does() {
    assert_eq!(go_value(&json!(1)), "1");
    assert_eq!(go_value(&json!(-3.23)), "-3.23");
    assert_eq!(go_value(&json!(1.5)), "1.5");
    assert_eq!(go_value(&json!(5.0)), "5");
    assert_eq!(go_value(&json!(true)), "true");
    assert_eq!(go_value(&json!(null)), "\"null\"");
    assert_eq!(go_value(&json!("a\"b\n")), "\"a\\\"b\\n\"");
    assert_eq!(go_value(&json!(["a", 1])), "[]interface {}{\"a\", 1}");
    assert_eq!(go_value(&json!({"b": 1, "a": "x"})), "map[string]interface {}{\"a\":\"x\", \"b\":1}");
    for (f, s) in [
        (1e6, "1e+06"),
        (100000.0, "100000"),
        (123456789.0, "1.23456789e+08"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.999, "0.999"),
        (3600.0, "3600"),
        (-2.5e-7, "-2.5e-07"),
    ] {
        assert_eq!(go_float(f), s, "{f}");
    }
}

#[test]
fn aggregate_and_status_message() {
    let errs = vec![
        FieldError::required("spec.slo", ""),
        FieldError::required("spec.slo", ""),
        FieldError::invalid("<nil>", json!(null), "x"),
    ];
    assert_eq!(render_aggregate(&errs), "[spec.slo: Required value, <nil>: Invalid value: \"null\": x]");
    assert_eq!(
        invalid_status_message("CostPolicy", "hybridscale.dev", "p", &errs[..1]),
        "CostPolicy.hybridscale.dev \"p\" is invalid: spec.slo: Required value"
    );
}
