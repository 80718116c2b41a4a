//! Admission for objects of CRD-served kinds: the schema helper's `schema::admit` (validation, defaulting,
//! pruning, CEL), with its field errors rendered as the real API server's 422 `Status`.

use serde_json::Value;

use super::error::ApiError;
use super::{FieldError, FieldErrorKind};

/// Validate, default and prune `obj` against its CRD version's `openAPIV3Schema`.
pub fn admit(schema: &Value, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
    // TEMPORARY until `git merge validation`: accept everything. Replaced by `super::schema::admit`.
    let _ = (schema, obj, old);
    Ok(())
}

/// `(reason, message)` of one cause, as `field.Error` renders them.
fn render(e: &FieldError) -> (&'static str, String) {
    let detail = |prefix: String| if e.message.is_empty() { prefix } else { format!("{prefix}: {}", e.message) };
    match &e.kind {
        FieldErrorKind::Required => ("FieldValueRequired", detail("Required value".into())),
        FieldErrorKind::Unsupported { value, allowed } => (
            "FieldValueNotSupported",
            if allowed.is_empty() {
                format!("Unsupported value: {value}")
            } else {
                format!("Unsupported value: {value}: supported values: {}", allowed.join(", "))
            },
        ),
        FieldErrorKind::Invalid { value } => ("FieldValueInvalid", detail(format!("Invalid value: {value}"))),
        FieldErrorKind::TooLong { max } => (
            "FieldValueTooLong",
            if e.message.is_empty() {
                format!("Too long: may not be more than {max} bytes")
            } else {
                format!("Too long: {}", e.message)
            },
        ),
        FieldErrorKind::TooMany { actual, max } => {
            ("FieldValueTooMany", format!("Too many: {actual}: must have at most {max} items"))
        }
        FieldErrorKind::Forbidden => ("FieldValueForbidden", detail("Forbidden".into())),
        FieldErrorKind::Duplicate { value } => ("FieldValueDuplicate", format!("Duplicate value: {value}")),
        FieldErrorKind::Internal => ("InternalError", detail("Internal error".into())),
    }
}

/// The 422 the real server sends for rejected fields: `<Kind>.<group> "<name>" is invalid: [...]`.
pub fn invalid_status(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let causes = errors
        .iter()
        .map(|e| {
            let (reason, message) = render(e);
            (reason.to_string(), e.path.clone(), message)
        })
        .collect();
    ApiError::invalid(kind, group, name, causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_field_error_list() {
        let errs = vec![
            FieldError { path: "spec.slo".into(), kind: FieldErrorKind::Required, message: String::new() },
            FieldError {
                path: "spec.mode".into(),
                kind: FieldErrorKind::Unsupported {
                    value: "\"Sometimes\"".into(),
                    allowed: vec!["\"Enforce\"".into(), "\"Recommend\"".into()],
                },
                message: String::new(),
            },
        ];
        let e = invalid_status("CostPolicy", "hybridscale.dev", "p", &errs);
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CostPolicy.hybridscale.dev \"p\" is invalid: [spec.slo: Required value, spec.mode: Unsupported value: \
             \"Sometimes\": supported values: \"Enforce\", \"Recommend\"]"
        );
        let s = e.to_status();
        assert_eq!(s["details"]["causes"][1]["reason"], "FieldValueNotSupported");
        assert_eq!(s["details"]["kind"], "CostPolicy");
    }
}
