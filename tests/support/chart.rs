//! The Helm chart as `helm template` renders it: tests/shipped/argocd.rs checks the rendered objects, and
//! tests/shipped/chart_install.rs installs them on the sandbox API server.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary `.ci/helm` provides (fetched once into the tools folder; HELM overrides it).
pub fn helm() -> String {
    let out = Command::new(root().join(".ci/helm")).output().expect("run .ci/helm");
    assert!(out.status.success(), ".ci/helm failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 path").trim().to_string()
}

/// `helm template` of charts/hybridscale as release `hybridscale` in `hybridscale-system`, CRDs included,
/// with `extra` flags; one JSON value per rendered document.
pub fn render(extra: &[&str]) -> Vec<Value> {
    let out = Command::new(helm())
        .args(["template", "hybridscale", "charts/hybridscale", "-n", "hybridscale-system", "--include-crds"])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("run helm");
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    text.split("\n---")
        .map(|d| d.trim())
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(|d| {
            serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("rendered document does not parse: {e}\n{d}"))
        })
        .collect()
}
