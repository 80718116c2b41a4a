//! Every sample in config/samples/ against the CRDs generated from crates/api/src/.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::super::CrdSchema;
use crate as api;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/samples")
}

/// The openAPIV3Schema of the generated CRD serving `kind`.
fn schema_for(kind: &str) -> Value {
    for crd in api::crds() {
        if crd.spec.names.kind == kind {
            let schema = crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
            return serde_json::to_value(schema.expect("generated CRDs carry a schema")).expect("schema is JSON");
        }
    }
    panic!("no generated CRD for kind {kind}");
}

fn load(path: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value = hybridscale_core::input::parse_yaml(path, &text).unwrap_or_else(|e| panic!("{e}"));
    (text, value)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_sample_is_rejected_with_its_expected_message() {
    let files = yaml_files(&samples_dir().join("invalid"));
    assert!(files.len() >= 10, "expected the invalid samples, found {}", files.len());
    for path in files {
        let (text, mut obj) = load(&path);
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()))
            .trim();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let schema = CrdSchema::new(&schema_for(&kind));
        let errs = match schema.admit(&mut obj, None) {
            Ok(_) => panic!("{} was admitted", path.display()),
            Err(errs) => errs,
        };
        let rendered: Vec<String> = errs.iter().map(|e| e.render()).collect();
        assert!(
            rendered.iter().any(|r| r.contains(expect)),
            "{}: expected a message containing {expect:?}, got {rendered:#?}",
            path.display()
        );
    }
}

#[test]
fn every_valid_sample_is_admitted_unchanged_but_for_defaults() {
    let files = yaml_files(&samples_dir());
    let docs = files.iter().flat_map(|path| {
        let docs: Vec<Value> = hybridscale_core::input::load_yaml_documents(path).unwrap_or_else(|e| panic!("{e}"));
        docs.into_iter().map(move |d| (path, d))
    });
    // Ours only: the rest of the sample pool (Namespace, Deployments, ...) is not served by these CRDs.
    let ours: Vec<_> = docs.filter(|(_, d)| d["apiVersion"] == "hybridscale.dev/v1alpha1").collect();
    assert!(ours.len() >= 2);
    for (path, mut obj) in ours {
        let before = obj.clone();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let admitted = CrdSchema::new(&schema_for(&kind)).admit(&mut obj, None);
        let admitted = admitted.unwrap_or_else(|e| panic!("{}: {e:#?}", path.display()));
        assert!(admitted.unknown_fields.is_empty(), "{}: {:?}", path.display(), admitted.unknown_fields);
        // Whatever the sample set is kept as written.
        assert_subset(&before, &obj, &path.display().to_string());
    }
}

/// Every leaf of `small` is in `big` with the same value.
fn assert_subset(small: &Value, big: &Value, at: &str) {
    match (small, big) {
        (Value::Object(s), Value::Object(b)) => {
            for (k, v) in s {
                let child = b.get(k).unwrap_or_else(|| panic!("{at}.{k} was dropped"));
                assert_subset(v, child, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(small, big, "{at} changed"),
    }
}

fn minimal_cost_policy() -> Value {
    json!({
        "apiVersion": "hybridscale.dev/v1alpha1",
        "kind": "CostPolicy",
        "metadata": {"name": "p", "namespace": "inference"},
        "spec": {
            "gpuPrices": {
                "reserved": {"usdPerGpuHour": 7.37},
                "spot": {"usdPerGpuHour": 3.23},
                "onDemand": {"usdPerGpuHour": 12.29}
            },
            "slo": {"latencySeconds": 20}
        }
    })
}

#[test]
fn a_minimal_cost_policy_gets_its_defaults() {
    let schema = CrdSchema::new(&schema_for("CostPolicy"));
    let mut obj = minimal_cost_policy();
    schema.admit(&mut obj, None).expect("minimal policy is valid");
    let spec = &obj["spec"];
    assert_eq!(spec["tickSeconds"], json!(15));
    assert_eq!(spec["mode"], json!("Enforce"));
    assert_eq!(spec["slo"]["targetAttainment"], json!(0.999));
    assert_eq!(spec["gpuPrices"]["spot"]["maxAgeSeconds"], json!(900));
    // Whole objects defaulted from their own schema defaults.
    for field in ["spot", "external", "scaleDown", "idleReclaim"] {
        assert!(spec[field].is_object(), "spec.{field} not defaulted: {spec}");
    }
    assert!(spec["idleReclaim"]["idleSeconds"].is_number());
    assert!(spec.get("budget").is_none(), "no default budget");
}

#[test]
fn nested_defaults_apply_inside_a_present_parent() {
    let schema = CrdSchema::new(&schema_for("CostPolicy"));
    let mut obj = minimal_cost_policy();
    obj["spec"]["idleReclaim"] = json!({"enabled": false});
    obj["spec"]["externalPrices"] = json!({
        "inputUsdPerMillionTokens": 1, "outputUsdPerMillionTokens": 2, "priceFile": {"configMap": "prices"}
    });
    schema.admit(&mut obj, None).expect("valid");
    assert_eq!(obj["spec"]["idleReclaim"]["enabled"], json!(false));
    assert!(obj["spec"]["idleReclaim"]["idleSeconds"].is_number(), "{}", obj["spec"]["idleReclaim"]);
    assert_eq!(obj["spec"]["externalPrices"]["priceFile"]["key"], json!("model_prices_and_context_window.json"));
}

#[test]
fn unknown_fields_are_pruned_and_reported_but_metadata_is_kept() {
    let schema = CrdSchema::new(&schema_for("CostPolicy"));
    let mut obj = minimal_cost_policy();
    obj["spec"]["bogus"] = json!(1);
    obj["spec"]["slo"]["extra"] = json!("x");
    obj["metadata"]["labels"] = json!({"team": "ml"});
    obj["metadata"]["bogus"] = json!(true);
    obj["top"] = json!("level");
    let admitted = schema.admit(&mut obj, None).expect("valid after pruning");
    assert_eq!(admitted.unknown_fields, vec!["metadata.bogus", "spec.bogus", "spec.slo.extra", "top"]);
    assert_eq!(
        super::super::strict_decoding_message("CostPolicy", "v1alpha1", &admitted.unknown_fields[1..3]),
        "CostPolicy in version \"v1alpha1\" cannot be handled as a CostPolicy: strict decoding error: \
         unknown field \"spec.bogus\", unknown field \"spec.slo.extra\""
    );
    assert!(obj["spec"].get("bogus").is_none() && obj["spec"]["slo"].get("extra").is_none());
    assert!(obj.get("top").is_none() && obj["metadata"].get("bogus").is_none());
    assert_eq!(obj["metadata"]["labels"]["team"], json!("ml"));
    assert_eq!(obj["apiVersion"], json!("hybridscale.dev/v1alpha1"));
    assert_eq!(obj["kind"], json!("CostPolicy"));
}

#[test]
fn the_generated_crds_rules_all_compile() {
    for kind in ["CostPolicy", "InferencePool"] {
        let errs: Vec<_> = CrdSchema::new(&schema_for(kind))
            .check()
            .into_iter()
            .filter(|e| e.path.contains("x-kubernetes-validations"))
            .collect();
        assert!(errs.is_empty(), "{kind}: {errs:#?}");
    }
}

/// A real API server refuses a CRD whose defaults do not validate. InferencePool's `spec.metrics` default is
/// `MetricsSpec::default()`, whose maxAgeSeconds 0 and timeoutSeconds 0 break their own minimums (5 and 1),
/// so the CRD would be rejected and every pool without `spec.metrics` fails admission here.
#[test]
fn the_generated_crds_defaults_validate() {
    for kind in ["CostPolicy", "InferencePool"] {
        let errs = CrdSchema::new(&schema_for(kind)).check();
        assert!(errs.is_empty(), "{kind}: {:#?}", errs.iter().map(|e| e.render()).collect::<Vec<_>>());
    }
}

#[test]
fn the_generated_crds_are_structural() {
    for kind in ["CostPolicy", "InferencePool"] {
        let errs: Vec<String> = CrdSchema::new(&schema_for(kind))
            .check()
            .iter()
            .filter(|e| !e.path.contains(".default") && !e.path.contains("x-kubernetes-validations"))
            .map(|e| e.render())
            .collect();
        assert!(errs.is_empty(), "{kind}: {errs:#?}");
    }
}

#[test]
fn the_default_check_finds_the_metrics_default() {
    let errs: Vec<String> = CrdSchema::new(&schema_for("CostPolicy")).check().iter().map(|e| e.render()).collect();
    assert!(errs.is_empty(), "{errs:#?}");
    let bad = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}, "default": {"n": 0}});
    let errs: Vec<String> = CrdSchema::new(&bad).check().iter().map(|e| e.render()).collect();
    assert_eq!(
        errs,
        vec!["openAPIV3Schema.default.n: Invalid value: 0: n in body should be greater than or equal to 5"]
    );
}

#[test]
fn rejected_samples_print_the_servers_exact_text() {
    // Full messages for a few samples, to pin the format and not only a substring.
    let cases = [
        (
            "cpol-tick-too-short.yaml",
            "spec.tickSeconds: Invalid value: 1: spec.tickSeconds in body should be greater than or equal to 5",
        ),
        (
            "cpol-mode-enum.yaml",
            "spec.mode: Unsupported value: \"Sometimes\": supported values: \"Enforce\", \"Recommend\"",
        ),
        ("cpol-missing-slo.yaml", "spec.slo: Required value"),
        ("hpool-min-above-max.yaml", "spec: Invalid value: spec.minReplicas must not exceed spec.maxReplicas"),
        (
            "hpool-empty-model.yaml",
            "spec.model: Invalid value: \"\": spec.model in body should be at least 1 chars long",
        ),
    ];
    for (file, want) in cases {
        let path = samples_dir().join("invalid").join(file);
        let (_, mut obj) = load(&path);
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let errs = CrdSchema::new(&schema_for(&kind)).admit(&mut obj, None).expect_err(file);
        let rendered: Vec<String> = errs.iter().map(|e| e.render()).collect();
        assert!(rendered.iter().any(|r| r == want), "{file}: want {want:?} in {rendered:#?}");
    }
}

#[test]
fn a_prepared_schema_can_be_shared_between_request_tasks() {
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&CrdSchema::new(&schema_for("CostPolicy")));
}
