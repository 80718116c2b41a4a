//! Admission for objects of CRD-served kinds: the `schema` module's pruning, defaulting, OpenAPI validation
//! and CEL rules, with its field errors rendered as the real API server's 422 `Status`, and the
//! `fieldValidation` query parameter (Strict: unknown fields are a 400; Warn: a `Warning` header; Ignore).

use std::sync::Arc;

use serde_json::Value;

use super::error::ApiError;
use super::schema::{self, CrdSchema, FieldError};

/// A CRD version's schema, compiled once (CEL programs, patterns) when the CRD is registered.
#[derive(Clone)]
pub struct CompiledSchema(Arc<CrdSchema>);

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

impl PartialEq for CompiledSchema {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl CompiledSchema {
    /// Compile a version's `openAPIV3Schema`.
    pub fn new(raw: &Value) -> Self {
        CompiledSchema(Arc::new(CrdSchema::new(raw)))
    }

    /// The schema as written in the CRD.
    pub fn raw(&self) -> &Value {
        self.0.raw()
    }

    /// What the real server refuses at CRD creation (non-structural schema, CEL that does not compile,
    /// defaults that do not validate).
    pub fn check(&self) -> Vec<FieldError> {
        self.0.check()
    }
}

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and warn (the server's default).
    #[default]
    Warn,
    /// Refuse the request (kubectl's default).
    Strict,
}

impl FieldValidation {
    /// From the query parameter; anything unknown is a 400 as on the real server.
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", got {other:?}"
            ))),
        }
    }
}

/// The 422 the real server sends for rejected fields: `<Kind>.<group> "<name>" is invalid: [...]`, one
/// cause per distinct error.
pub fn invalid_status(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let mut seen = std::collections::HashSet::new();
    let causes = errors
        .iter()
        .filter(|e| seen.insert(e.render()))
        .map(|e| (e.cause_reason().to_string(), e.path.clone(), e.body()))
        .collect();
    ApiError::invalid(kind, group, name, causes)
}

/// Prune, default and validate `obj` in place. Returns the warnings to send (unknown fields under Warn).
pub fn admit(
    schema: &CompiledSchema,
    kind: &str,
    group: &str,
    version: &str,
    obj: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let admitted = schema.0.admit(obj, old).map_err(|errs| invalid_status(kind, group, &name, &errs))?;
    if admitted.unknown_fields.is_empty() {
        return Ok(Vec::new());
    }
    match validation {
        FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(admitted.unknown_fields.iter().map(|f| schema::unknown_field_warning(f)).collect()),
        FieldValidation::Strict => {
            Err(ApiError::bad_request(schema::strict_decoding_message(kind, version, &admitted.unknown_fields)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_schema_errors_like_the_server_and_honours_strict() {
        let s = CompiledSchema::new(&json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["slo"], "properties": {"slo": {"type": "object"}, "mode": {"type": "string", "enum": ["Enforce", "Recommend"]}}}}}));
        let mut obj = json!({"metadata": {"name": "p"}, "spec": {"mode": "Sometimes"}});
        let e = admit(&s, "CostPolicy", "hybridscale.dev", "v1alpha1", &mut obj, None, FieldValidation::Strict)
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("CostPolicy.hybridscale.dev \"p\" is invalid: ["), "{}", e.message);
        assert!(e.message.contains("spec.slo: Required value"), "{}", e.message);
        assert!(e.message.contains("Unsupported value: \"Sometimes\""), "{}", e.message);

        let mut extra = json!({"metadata": {"name": "p"}, "spec": {"slo": {}, "foo": 1}});
        let strict =
            admit(&s, "CostPolicy", "hybridscale.dev", "v1alpha1", &mut extra.clone(), None, FieldValidation::Strict);
        assert_eq!(strict.unwrap_err().code, 400);
        let warn =
            admit(&s, "CostPolicy", "hybridscale.dev", "v1alpha1", &mut extra, None, FieldValidation::Warn).unwrap();
        assert_eq!(warn, ["unknown field \"spec.foo\""]);
        assert!(extra.pointer("/spec/foo").is_none(), "pruned");
    }
}
