//! The server core renders converted errors with the same text as `FieldError::render`.

use serde_json::json;

use crate::sandbox::admission::invalid_status;
use crate::sandbox::schema::{FieldError, invalid_status_message};

#[test]
fn core_status_message_matches_ours_for_every_kind() {
    let errs = vec![
        FieldError::required("spec.slo", ""),
        FieldError::not_supported("spec.mode", json!("Sometimes"), &["Enforce".into(), "Recommend".into()]),
        FieldError::invalid("spec", json!("object"), "spec.minReplicas must not exceed spec.maxReplicas"),
        FieldError::type_invalid("spec.n", json!("string"), "spec.n in body must be of type integer: \"string\""),
        FieldError::invalid("spec.t", json!(1), "spec.t in body should be greater than or equal to 5"),
        FieldError::invalid("spec.p", json!(-3.23), "spec.p in body should be greater than or equal to 0"),
        FieldError::too_long("spec.s", 253),
        FieldError::too_many("spec.l", 5, 3),
        FieldError::forbidden("spec.x", "no"),
        FieldError::duplicate("spec.l[1]", json!("a")),
        FieldError::required("spec.max", "set max"),
        FieldError::invalid("<nil>", json!(null), "some validation rules were not checked"),
    ];
    let ours = invalid_status_message("CostPolicy", "hybridscale.dev", "p", &errs);
    let converted: Vec<crate::sandbox::FieldError> = errs.iter().cloned().map(Into::into).collect();
    let core = invalid_status("CostPolicy", "hybridscale.dev", "p", &converted);
    assert_eq!(core.message, ours);
    let causes = core.to_status()["details"]["causes"].clone();
    assert_eq!(causes[0]["reason"], "FieldValueRequired");
    assert_eq!(causes[1]["reason"], "FieldValueNotSupported");
    assert_eq!(causes[6]["reason"], "FieldValueTooLong");
    assert_eq!(causes[0]["field"], "spec.slo");
}
