//! The checked-in CRDs match the Rust types, and every sample parses into them.

use std::path::{Path, PathBuf};

use hybridscale::api::{self, CostPolicy, InferencePool};
use hybridscale::input;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn crds_directory_matches_generated_types() {
    for crd in api::crds() {
        let path = root().join("crds").join(api::crd_file_name(&crd));
        let on_disk =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
        let generated = api::crd_yaml(&crd).expect("CRD serializes");
        assert!(
            on_disk == generated,
            "{} is out of date with crates/api/src/: run `make crds` and commit the result",
            path.display()
        );
    }
    let files = std::fs::read_dir(root().join("crds")).expect("crds/ exists").count();
    assert_eq!(files, api::crds().len(), "crds/ holds a file no type generates");
}

#[test]
fn crds_have_names_columns_and_bounded_cel() {
    for crd in api::crds() {
        let names = &crd.spec.names;
        assert_eq!(crd.spec.group, "hybridscale.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(names.categories.as_deref(), Some(&["hybridscale".to_string()][..]));
        assert!(names.short_names.as_ref().is_some_and(|s| s.len() == 1));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        let columns: Vec<_> = version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert!(columns.contains(&"$/Hour") && columns.contains(&"MTD") && columns.contains(&"Age"), "{columns:?}");
        assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        // A real API server estimates the cost of every CEL rule; unbounded strings and lists that a
        // rule walks make it refuse the CRD. Our rules only touch scalars, but every string and list in
        // the schema is bounded anyway so future rules stay within budget.
        let schema =
            serde_json::to_value(version.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap();
        assert_bounded(&schema, "");
    }
}

fn assert_bounded(schema: &serde_json::Value, path: &str) {
    match schema.get("type").and_then(|t| t.as_str()) {
        Some("array") if !path.contains("metadata") => {
            assert!(schema.get("maxItems").is_some(), "list {path} has no maxItems");
        }
        Some("string") if path.starts_with(".spec") => {
            let bounded = schema.get("maxLength").is_some() || schema.get("enum").is_some();
            assert!(bounded, "string {path} has no maxLength");
        }
        _ => {}
    }
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (k, v) in props {
            assert_bounded(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = schema.get("items") {
        assert_bounded(items, &format!("{path}[]"));
    }
    if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        assert!(
            !path.starts_with(".spec") || add.get("maxLength").is_some() || schema.get("maxProperties").is_some(),
            "map {path} is unbounded"
        );
    }
}

#[derive(serde::Deserialize)]
#[serde(tag = "kind")]
enum Sample {
    CostPolicy(Box<CostPolicy>),
    InferencePool(Box<InferencePool>),
    /// The rest of the sample pool (Namespace, Deployments, NodePools, HTTPRoute) and its kustomization.
    #[serde(other)]
    Other,
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_sample_parses_into_the_types() {
    let files = yaml_files(&root().join("config/samples"));
    assert!(files.len() >= 2);
    let (mut policies, mut pools) = (0, 0);
    for file in files {
        for doc in input::load_yaml_documents::<Sample>(&file).unwrap_or_else(|e| panic!("{e}")) {
            match doc {
                Sample::CostPolicy(p) => {
                    policies += 1;
                    assert!(p.spec.gpu_prices.spot.usd_per_gpu_hour <= p.spec.gpu_prices.on_demand.usd_per_gpu_hour);
                }
                Sample::InferencePool(p) => {
                    pools += 1;
                    assert!(p.spec.min_replicas <= p.spec.max_replicas);
                    assert!(
                        p.spec.capacity.reserved.is_some()
                            && p.spec.capacity.spot.is_some()
                            && p.spec.capacity.on_demand.is_some()
                    );
                }
                Sample::Other => {}
            }
        }
    }
    assert!(policies >= 1 && pools >= 1);
}

#[test]
fn every_invalid_sample_names_its_rule_and_message() {
    let files = yaml_files(&root().join("config/samples/invalid"));
    assert!(files.len() >= 15, "one invalid sample per rule");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# Invalid on purpose: "),
            "{}: first line says which rule rejects it",
            file.display()
        );
        let expect = text.lines().find_map(|l| l.strip_prefix("# expect: "));
        assert!(expect.is_some_and(|e| !e.is_empty()), "{}: has an `# expect:` line", file.display());
    }
}
