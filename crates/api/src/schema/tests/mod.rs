//! Unit tests of CRD admission: the repository's samples against the generated CRDs, then each schema
//! keyword, CEL feature and message form on small schemas.

mod cel_rules;
mod keywords;
mod openapi;
mod ratcheting;
mod render;
mod samples;

use serde_json::Value;

use super::{FieldError, admit};

/// Admit and return the rendered errors (empty when admitted).
fn rendered(schema: &Value, obj: &mut Value, old: Option<&Value>) -> Vec<String> {
    match admit(schema, obj, old) {
        Ok(()) => vec![],
        Err(errs) => errs.iter().map(FieldError::render).collect(),
    }
}
