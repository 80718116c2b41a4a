//! OpenAPI documents for CRD kinds (work in progress in this commit).

use serde_json::{Value, json};

/// The `/openapi/v3/apis/GROUP/VERSION` document.
pub fn openapi_v3_document(group: &str, version: &str, kinds: &[(&str, &Value, bool)]) -> Value {
    let _ = (group, version, kinds);
    json!({})
}

/// `/openapi/v2` definitions.
pub fn openapi_v2_definitions(group: &str, version: &str, kinds: &[(&str, &Value, bool)]) -> Value {
    let _ = (group, version, kinds);
    json!({})
}
