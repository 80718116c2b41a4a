//! Reading a policy file: one multi-document YAML with a CostPolicy and an InferencePool, in the
//! CRD format `kubectl apply` takes. The embedded default is used when no file is given.

use std::path::Path;

use crate::api::cost_policy::CostPolicy;
use crate::api::inference_pool::InferencePool;
use crate::input::{self, InputError};

/// The default policy of `hybridscale simulate`: Llama-3.1-70B on 4x H100 with an external API.
pub const DEFAULT_POLICY: &str = include_str!("default_policy.yaml");

/// Name under which the embedded policy appears in errors.
pub const DEFAULT_POLICY_NAME: &str = "embedded:default_policy.yaml";

/// Parse a policy file's text.
pub fn parse(path: &Path, text: &str) -> Result<(CostPolicy, InferencePool), InputError> {
    let docs: Vec<serde_json::Value> = input::parse_yaml_documents(path, text)?;
    let mut policy = None;
    let mut pool = None;
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
        match kind.as_str() {
            "CostPolicy" if policy.is_none() => {
                policy = Some(
                    serde_json::from_value::<CostPolicy>(doc)
                        .map_err(|e| InputError::invalid(path, format!("CostPolicy: {}", one_line(&e.to_string()))))?,
                )
            }
            "InferencePool" if pool.is_none() => {
                pool =
                    Some(serde_json::from_value::<InferencePool>(doc).map_err(|e| {
                        InputError::invalid(path, format!("InferencePool: {}", one_line(&e.to_string())))
                    })?)
            }
            "CostPolicy" | "InferencePool" => {
                return Err(InputError::invalid(path, format!("more than one {kind}; the simulator replays one pool")));
            }
            other => {
                return Err(InputError::invalid(
                    path,
                    format!("unexpected document kind {other:?}; expected a CostPolicy and an InferencePool"),
                ));
            }
        }
    }
    match (policy, pool) {
        (Some(c), Some(p)) => Ok((c, p)),
        (None, _) => Err(InputError::invalid(path, "no CostPolicy document")),
        (_, None) => Err(InputError::invalid(path, "no InferencePool document")),
    }
}

/// Read and parse a policy file.
pub fn load(path: &Path) -> Result<(CostPolicy, InferencePool), InputError> {
    parse(path, &input::read_to_string(path)?)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_parses() {
        let (c, p) = parse(Path::new(DEFAULT_POLICY_NAME), DEFAULT_POLICY).unwrap();
        assert_eq!(c.metadata.name.as_deref(), p.spec.cost_policy_ref.name.as_str().into());
    }

    #[test]
    fn bad_documents_are_one_line_errors() {
        let e = parse(Path::new("p.yaml"), "kind: CostPolicy\nspec: {}\n").unwrap_err().to_string();
        assert!(e.starts_with("p.yaml: CostPolicy:"), "{e}");
        assert!(!e.contains('\n'));
        let e = parse(Path::new("p.yaml"), "kind: Pod\n").unwrap_err().to_string();
        assert!(e.contains("unexpected document kind"), "{e}");
    }
}
