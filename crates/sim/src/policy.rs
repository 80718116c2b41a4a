//! Reading a policy file: one multi-document YAML with a CostPolicy and an InferencePool, in the
//! CRD format `kubectl apply` takes. The embedded default is used when no file is given.
//!
//! Each document is admitted against its generated CRD's schema exactly as the API server would
//! (`sandbox::schema`: unknown fields, defaults, types, ranges, CEL rules), so a file the cluster would
//! refuse is refused here with the server's message, and no number outside the CRD's ranges (a
//! capacity of 1e-300 requests per second, 10^9 replicas) reaches the simulator.

use std::path::Path;

use hybridscale_api::cost_policy::CostPolicy;
use hybridscale_api::inference_pool::InferencePool;
use hybridscale_api::schema::{CrdSchema, invalid_status_message, strict_decoding_message};
use hybridscale_core::input::{self, InputError};

/// The default policy of `hybridscale simulate`: Llama-3.1-70B on 4x H100 with an external API.
pub const DEFAULT_POLICY: &str = include_str!("default_policy.yaml");

/// Name under which the embedded policy appears in errors.
pub const DEFAULT_POLICY_NAME: &str = "embedded:default_policy.yaml";

/// Parse a policy file's text.
pub fn parse(path: &Path, text: &str) -> Result<(CostPolicy, InferencePool), InputError> {
    let docs: Vec<serde_json::Value> = input::parse_yaml_documents(path, text)?;
    let mut policy = None;
    let mut pool = None;
    for mut doc in docs {
        if doc.is_null() {
            continue;
        }
        let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string();
        if kind == "CostPolicy" || kind == "InferencePool" {
            admit(path, &kind, &mut doc)?;
        }
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

/// Admit one document of `kind` as the API server would on create, leaving it pruned and defaulted.
fn admit(path: &Path, kind: &str, doc: &mut serde_json::Value) -> Result<(), InputError> {
    let crd = hybridscale_api::crds().into_iter().find(|c| c.spec.names.kind == kind);
    let schema = crd
        .as_ref()
        .and_then(|c| c.spec.versions.first())
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .ok_or_else(|| InputError::invalid(path, format!("no CRD schema for {kind}")))?;
    let version = crd.as_ref().and_then(|c| c.spec.versions.first()).map_or("", |v| v.name.as_str());
    let name = doc.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    match CrdSchema::new(&schema).admit(doc, None) {
        Err(errors) => {
            Err(InputError::invalid(path, one_line(&invalid_status_message(kind, "hybridscale.dev", &name, &errors))))
        }
        Ok(admitted) if !admitted.unknown_fields.is_empty() => {
            Err(InputError::invalid(path, one_line(&strict_decoding_message(kind, version, &admitted.unknown_fields))))
        }
        Ok(_) => Ok(()),
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
        assert!(
            e.starts_with(r#"p.yaml: CostPolicy.hybridscale.dev "" is invalid: [spec.gpuPrices: Required value"#),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = parse(Path::new("p.yaml"), "kind: Pod\n").unwrap_err().to_string();
        assert!(e.contains("unexpected document kind"), "{e}");
    }

    /// Bug 5: numbers the CRD refuses (a replica serving 1e-300 requests per second, a billion
    /// replicas) reached the simulator, which then sized fleets without end.
    #[test]
    fn numbers_outside_the_crds_ranges_are_refused_with_the_api_servers_message() {
        let with = |from: &str, to: &str| {
            assert!(DEFAULT_POLICY.contains(from), "{from}");
            let e = parse(Path::new("p.yaml"), &DEFAULT_POLICY.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
            e
        };
        let e = with("requestsPerSecond: ", "requestsPerSecond: 1.0e-300 #");
        assert!(e.starts_with("p.yaml: InferencePool.hybridscale.dev \"") && e.contains("requestsPerSecond"), "{e}");
        assert!(e.contains("should be greater than or equal to"), "{e}");
        let e = with("maxReplicas: ", "maxReplicas: 1000000000 #");
        assert!(e.contains("maxReplicas") && e.contains("should be less than or equal to"), "{e}");
        let e = with("latencySeconds: ", "latencySeconds: .inf #");
        assert!(e.starts_with("p.yaml:24:") && e.contains("non-finite"), "{e}");
        let e = with("spec:\n", "spec:\n  surprise: 1\n");
        assert!(e.contains(r#"strict decoding error: unknown field "spec.surprise""#), "{e}");
    }
}
