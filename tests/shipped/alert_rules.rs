//! The alert rules (config/prometheus/hybridscale-rules.yaml) against the real promtool: `check rules`
//! and `test rules` with hybridscale-rules.test.yaml, where every alert has an evaluation that fires and
//! one that does not. Also: each alert carries severity, summary, description and runbook; the chart's
//! copy is identical and renders into a PrometheusRule only when asked to.
//!
//! Needs `promtool` (Debian package `prometheus`) and helm (`.ci/helm`), which `make test` installs.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::chart::render;

const RULES: &str = "config/prometheus/hybridscale-rules.yaml";
const RULE_TESTS: &str = "config/prometheus/hybridscale-rules.test.yaml";
const CHART_COPY: &str = "charts/hybridscale/files/hybridscale-rules.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("YAML does not parse: {e}"))
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("promtool: {e} (run `make test`: it installs the Debian package prometheus)"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every alerting rule of the rule file, as JSON.
fn alerts(rules: &Value) -> Vec<Value> {
    let groups = rules["groups"].as_array().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

#[test]
fn promtool_checks_the_rule_file() {
    let out = promtool(&["check", "rules", RULES], &root());
    assert!(out.status.success(), "promtool check rules: {}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
}

#[test]
fn promtool_unit_tests_pass() {
    let out = promtool(&["test", "rules", "hybridscale-rules.test.yaml"], &root().join("config/prometheus"));
    assert!(out.status.success(), "promtool test rules: {}", text(&out));
}

/// The unit tests are not vacuous: a rule file whose idle-GPU alert waits longer, whose reconcile-error
/// or spot-storm threshold is higher, or whose error budget is not `1 - target`, fails them.
#[test]
fn promtool_unit_tests_catch_a_changed_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join(RULE_TESTS), dir.path().join("hybridscale-rules.test.yaml")).expect("copy tests");
    let original = read(RULES);
    for (from, to) in [
        ("for: 30m", "for: 50m"),
        ("> 0.1", "> 0.3"),
        (">= 3", ">= 5"),
        ("expr: 1 - max by (namespace, pool)", "expr: max by (namespace, pool)"),
    ] {
        assert!(original.contains(from), "{from} not in the rule file");
        std::fs::write(dir.path().join("hybridscale-rules.yaml"), original.replacen(from, to, 1)).expect("write");
        let out = promtool(&["test", "rules", "hybridscale-rules.test.yaml"], dir.path());
        assert!(!out.status.success(), "changing {from:?} to {to:?} should fail the rule tests");
    }
}

#[test]
fn every_alert_has_severity_and_annotations() {
    let rules = yaml(&read(RULES));
    let list = alerts(&rules);
    assert!(list.len() >= 10, "{} alerts", list.len());
    for a in &list {
        let name = a["alert"].as_str().unwrap_or_default();
        assert!(name.starts_with("Hybridscale"), "{name}");
        let severity = a["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["warning", "critical"].contains(&severity), "{name}: severity {severity:?}");
        for key in ["summary", "description", "runbook"] {
            let v = a["annotations"][key].as_str().unwrap_or_default();
            assert!(v.len() > 20, "{name}: annotation {key} missing or too short");
        }
    }
}

/// Each alert the issue asks for exists, and each has a test evaluation where it fires and one where it
/// does not.
#[test]
fn every_alert_fires_and_stays_quiet_in_the_unit_tests() {
    let names: BTreeSet<String> =
        alerts(&yaml(&read(RULES))).iter().map(|a| a["alert"].as_str().unwrap_or_default().to_string()).collect();
    for wanted in [
        "HybridscaleBudgetProjectedOver",
        "HybridscaleBudgetExceeded",
        "HybridscaleSignalsStale",
        "HybridscaleSLOBurnRateFast",
        "HybridscaleSLOBurnRateSlow",
        "HybridscaleIdleGPUs",
        "HybridscaleSpotInterruptionStorm",
        "HybridscaleOperatorDown",
        "HybridscaleReconcileErrors",
    ] {
        assert!(names.contains(wanted), "no alert {wanted}");
    }
    let tests = yaml(&read(RULE_TESTS));
    let (mut fires, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for t in tests["tests"].as_array().expect("tests") {
        for case in t["alert_rule_test"].as_array().cloned().unwrap_or_default() {
            let name = case["alertname"].as_str().unwrap_or_default().to_string();
            let expected = case["exp_alerts"].as_array().map(|a| a.len()).unwrap_or(0);
            if expected > 0 {
                fires.insert(name)
            } else {
                quiet.insert(name)
            };
        }
    }
    for name in &names {
        assert!(fires.contains(name), "{name} is never shown firing in {RULE_TESTS}");
        assert!(quiet.contains(name), "{name} is never shown quiet in {RULE_TESTS}");
    }
}

#[test]
fn chart_copy_is_identical_and_renders_as_a_prometheus_rule() {
    assert!(read(RULES) == read(CHART_COPY), "{CHART_COPY} differs from {RULES}: run `make chart-files`");
    assert!(
        !render(&[]).iter().any(|d| d["kind"] == "PrometheusRule"),
        "the PrometheusRule is optional, off by default"
    );
    let docs = render(&["--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=kps"]);
    let rule = docs.iter().find(|d| d["kind"] == "PrometheusRule").expect("a PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "kps");
    assert_eq!(rule["spec"], yaml(&read(RULES)), "the PrometheusRule's spec is the rule file");
}
