//! GitOps: the Argo CD health checks run by a real Lua interpreter against status fixtures, the Argo CD
//! settings shipped in config/argocd/, and the Helm chart as Argo CD would render it (`helm template`).
//!
//! Needs `lua5.4` and `lua5.1` (Debian packages; Argo CD itself runs gopher-lua, a Lua 5.1) and helm
//! (`.ci/helm` fetches it; set HELM to use another). tests/shipped/chart_install.rs installs the rendered chart
//! on the sandbox API server. `make tools` installs or checks all of them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hybridscale::actuate::{FIELD_MANAGER, rbac};
use serde_json::Value;
use support::chart::{helm, render};

use crate::support;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Lua literal for a JSON value: objects become tables with ["key"] = value, arrays sequences; null is
/// nil (Argo CD hands Lua the same shape). Strings use decimal escapes so the literal is valid in Lua
/// 5.1 and 5.4 alike.
fn lua_literal(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!("{{{}}}", items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter().map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b}")),
        }
    }
    out.push('"');
    out
}

/// Run a health script with `obj` set, as Argo CD does; return (status, message).
fn run_health(lua: &str, script: &Path, obj: &Value) -> (String, String) {
    let program = format!(
        "obj = {}\nlocal hs = assert(loadfile({}))()\nio.write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
        lua_literal(obj),
        lua_string(&script.display().to_string())
    );
    let mut child = Command::new(lua)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {lua}: {e} (install the Debian package {lua}; .ci/run does)"));
    child.stdin.take().unwrap().write_all(program.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{lua} {}: {}", script.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap();
    (status.to_string(), message.to_string())
}

fn health_script(obj: &Value) -> PathBuf {
    let (group, _) = obj["apiVersion"].as_str().unwrap().split_once('/').unwrap();
    root().join("config/argocd/health").join(group).join(obj["kind"].as_str().unwrap()).join("health.lua")
}

#[test]
fn lua_literal_round_trips_awkward_strings() {
    let v =
        serde_json::json!({"s": "quote \" backslash \\ newline \n tab \t é", "n": [1, 2.5, -3], "t": true, "z": null});
    let program =
        format!("local v = {}\nio.write(v.s, \"|\", v.n[2], \"|\", #v.n, \"|\", tostring(v.z))", lua_literal(&v));
    for lua in ["lua5.4", "lua5.1"] {
        let out = Command::new(lua).arg("-e").arg(&program).output().unwrap_or_else(|e| panic!("{lua}: {e}"));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "quote \" backslash \\ newline \n tab \t é|2.5|3|nil");
    }
}

#[test]
fn health_checks_match_every_fixture_in_lua_5_4_and_5_1() {
    let spec = yaml(&root().join("config/argocd/health_test.yaml"));
    let tests = spec["tests"].as_array().expect("tests list");
    let mut listed = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for t in tests {
        let fixture = t["fixture"].as_str().unwrap();
        listed.insert(fixture.to_string());
        let obj = yaml(&root().join("config/argocd/fixtures").join(fixture));
        kinds.insert(obj["kind"].as_str().unwrap().to_string());
        let want = (t["status"].as_str().unwrap().to_string(), t["message"].as_str().unwrap().to_string());
        for lua in ["lua5.4", "lua5.1"] {
            assert_eq!(run_health(lua, &health_script(&obj), &obj), want, "{fixture} under {lua}");
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("config/argocd/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, on_disk, "every fixture has an expectation and every expectation a fixture");
    assert_eq!(kinds, BTreeSet::from(["CostPolicy".to_string(), "InferencePool".to_string()]));
    // Each status Argo CD knows from us appears at least once per kind's fixtures.
    let statuses: BTreeSet<&str> = tests.iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, BTreeSet::from(["Degraded", "Healthy", "Progressing"]));
}

#[test]
fn argocd_cm_snippet_embeds_the_tested_scripts_and_ignores_our_fields() {
    let cm = yaml(&root().join("config/argocd/argocd-cm.yaml"));
    for kind in ["InferencePool", "CostPolicy"] {
        let embedded = cm["data"][format!("resource.customizations.health.hybridscale.dev_{kind}")].as_str().unwrap();
        let file = read(&root().join(format!("config/argocd/health/hybridscale.dev/{kind}/health.lua")));
        assert_eq!(embedded, file, "argocd-cm.yaml's {kind} health check differs from its health.lua");
    }
    for key in ["apps_Deployment", "karpenter.sh_NodePool", "cluster.x-k8s.io_MachineDeployment"] {
        let rule: Value = serde_saphyr::from_str(
            cm["data"][format!("resource.customizations.ignoreDifferences.{key}")].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(rule["managedFieldsManagers"], serde_json::json!([FIELD_MANAGER]), "{key}");
    }
}

#[test]
fn example_application_respects_ignore_differences_for_our_field_manager() {
    let app = yaml(&root().join("config/argocd/application.yaml"));
    assert_eq!(app["kind"], "Application");
    let opts = app["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap();
    assert!(opts.iter().any(|o| o == "RespectIgnoreDifferences=true"), "{opts:?}");
    let ignores = app["spec"]["ignoreDifferences"].as_array().unwrap();
    let kinds: BTreeSet<&str> = ignores
        .iter()
        .filter(|i| i["managedFieldsManagers"] == serde_json::json!([FIELD_MANAGER]))
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["Deployment", "StatefulSet", "NodePool", "MachineDeployment"]));
    let route = ignores.iter().find(|i| i["kind"] == "HTTPRoute").expect("HTTPRoute rule");
    assert_eq!(route["jqPathExpressions"], serde_json::json!([".spec.rules[].backendRefs[]?.weight"]));
}

#[test]
fn chart_crds_are_identical_to_crds() {
    let names = |dir: &str| -> BTreeSet<String> {
        std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names("crds"), names("charts/hybridscale/crds"), "run `make chart-crds`");
    for name in names("crds") {
        assert!(
            read(&root().join("crds").join(&name)) == read(&root().join("charts/hybridscale/crds").join(&name)),
            "charts/hybridscale/crds/{name} differs from crds/{name}: run `make chart-crds`"
        );
    }
}

fn typed<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> T {
    let doc = docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} rendered"));
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{kind} does not parse: {e}"))
}

/// The chart grants exactly what src/actuate/rbac.rs lists; the message names the differences.
fn same_rules(what: &str, chart: &[k8s_openapi::api::rbac::v1::PolicyRule], needed: &[rbac::Rule]) {
    if let Err(e) = rbac::same_grants(what, &rbac::policy_rule_triples(chart), &rbac::static_triples(needed)) {
        panic!("{e}");
    }
}

#[test]
fn chart_renders_typed_objects_with_least_privilege_rbac_and_restricted_pods() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

    let docs = render(&[]);
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    let want = [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ];
    assert_eq!(kinds, BTreeSet::from(want));

    let role: ClusterRole = typed(&docs, "ClusterRole");
    same_rules("ClusterRole", role.rules.as_deref().unwrap(), rbac::CLUSTER_RULES);
    let lease: Role = typed(&docs, "Role");
    same_rules("Role", lease.rules.as_deref().unwrap(), rbac::LEADER_ELECTION_RULES);

    let deploy: Deployment = typed(&docs, "Deployment");
    let spec = deploy.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = &pod.containers[0];
    let args = c.args.clone().unwrap();
    assert!(args.contains(&"--leader-elect".to_string()) && args[0] == "controller", "{args:?}");
    // The chart's command line is one the binary accepts (the flags are the contract in the chart README).
    let argv = std::iter::once("hybridscale".to_string()).chain(args.iter().cloned());
    match <hybridscale::cli::Cli as clap::Parser>::try_parse_from(argv) {
        Ok(cli) => match cli.command {
            hybridscale::cli::Command::Controller(a) => assert_eq!(a.max_concurrent_reconciles, 16, "{args:?}"),
            other => panic!("the chart runs {other:?}"),
        },
        Err(e) => panic!("hybridscale rejects the chart's args {args:?}: {e}"),
    }
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
    assert!(c.resources.as_ref().unwrap().requests.is_some());
    let pdb: PodDisruptionBudget = typed(&docs, "PodDisruptionBudget");
    assert!(pdb.spec.unwrap().min_available.is_some());

    // The CRDs Helm installs are the ones the Rust types generate.
    let mut crds: Vec<CustomResourceDefinition> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|d| serde_json::from_value(d.clone()).unwrap())
        .collect();
    let mut generated = hybridscale::api::crds();
    crds.sort_by_key(|c| c.metadata.name.clone());
    generated.sort_by_key(|c| c.metadata.name.clone());
    assert_eq!(crds.len(), 2);
    assert!(crds == generated, "rendered CRDs differ from crates/api/src/: run `make crds`");
}

#[test]
fn chart_options_render_service_monitor_price_file_and_extra_scale_targets() {
    let docs = render(&["-f", "charts/hybridscale/ci/all-features-values.yaml", "--set", "rbac.readSecrets=false"]);
    assert!(docs.iter().any(|d| d["kind"] == "ServiceMonitor" && d["spec"]["endpoints"][0]["port"] == "metrics"));
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].as_array().unwrap();
    assert!(args.iter().any(|a| a == "--price-file=/etc/hybridscale/prices/model_prices_and_context_window.json"));
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let rules = role["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["resources"] == serde_json::json!(["leaderworkersets/scale"])));
    assert!(!rules.iter().any(|r| r["resources"] == serde_json::json!(["secrets"])), "readSecrets=false drops Secrets");
}

#[test]
fn chart_rejects_bad_values_through_its_schema() {
    let out = Command::new(helm())
        .args(["template", "hybridscale", "charts/hybridscale", "--set", "prometheus.url=prometheus:9090"])
        .current_dir(root())
        .output()
        .expect("run helm");
    assert!(!out.status.success(), "a Prometheus URL without a scheme must be refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/prometheus/url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
