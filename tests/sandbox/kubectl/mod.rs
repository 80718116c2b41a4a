//! The sandbox API server driven by the real `kubectl` (1.32+): apply the CRDs and the samples (`apply -k
//! config/samples/` on a simulated cluster gives a pool the operator reconciles), `get` with printer
//! columns, `explain`, and every file in config/samples/invalid/ rejected with the message in its
//! `# expect:`; workloads, drain and the bundled kinds in `workloads`.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use hybridscale::sandbox::{Sandbox, SandboxOptions};
use tokio::process::Command;

mod workloads;

// Whichever kubectl is first on PATH (.ci/run puts a 1.32+ one there).
const KUBECTL: &str = "kubectl";

struct Env {
    sandbox: Sandbox,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn start() -> Env {
    let found =
        std::process::Command::new(KUBECTL).args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    assert!(found, "{KUBECTL} 1.32+ is required on PATH (.ci/run provides one)");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let sandbox = Sandbox::start(SandboxOptions { kubeconfig_path: Some(kubeconfig.clone()), ..Default::default() })
        .await
        .expect("sandbox starts");
    Env { sandbox, kubeconfig, cache: tempfile::tempdir().expect("tempdir"), _dir: dir }
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(KUBECTL);
        c.args(args)
            .current_dir(root())
            .env("KUBECONFIG", &self.kubeconfig)
            // A fresh discovery/OpenAPI cache per server: ports are reused across runs.
            .env("KUBECACHEDIR", self.cache.path())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60 s"))
            .expect("kubectl runs")
    }

    /// Run kubectl and return stdout; panic with stderr if it fails.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

const INFERENCE_NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: inference\n";

async fn apply_stdin(env: &Env, yaml: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = env
        .command(&["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl spawns");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(yaml.as_bytes()).await.expect("write stdin");
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.expect("in time").expect("output")
}

/// Namespace `inference` and the CRDs of crds/ (a real API server refuses a CRD whose defaults violate its
/// own schema; so does the sandbox, and this fails with the server's message).
async fn install_crds(env: &Env) {
    let ns = apply_stdin(env, INFERENCE_NS).await;
    assert!(ns.status.success(), "{}", String::from_utf8_lossy(&ns.stderr));
    let out = env.run(&["apply", "-f", "crds/"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("inferencepools.hybridscale.dev created"), "{stdout}{stderr}");
    // Taken silently: no `Warning: unrecognized format "uint32"` (crates/api/src/formats.rs).
    assert!(stderr.is_empty(), "{stderr}");
}

/// A CRD with a format Kubernetes does not know is accepted with the real server's warning, once per
/// format; applying it again adds no new format, so no warning (upstream ratchets them).
#[tokio::test]
async fn unrecognized_crd_formats_are_warned_about() {
    let env = start().await;
    let crd = |extra: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.example.com}}
spec:
  group: example.com
  names: {{kind: Widget, plural: widgets}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          a: {{type: integer, format: uint32}}
          b: {{type: integer, format: uint32}}
          c: {{type: integer, format: int64}}
          d: {{type: string, format: date-time}}
{extra}"
        )
    };
    let out = apply_stdin(&env, &crd("")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.trim_end(), "Warning: unrecognized format \"uint32\"");
    let out = apply_stdin(&env, &crd("          e: {type: integer, format: uint16}\n")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.trim_end(), "Warning: unrecognized format \"uint16\"");
}

/// Poll `kubectl get -o jsonpath` until `done` accepts its output (60 s at most).
async fn wait_for(env: &Env, args: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = String::from_utf8_lossy(&env.run(args).await.stdout).into_owned();
        if done(&out) {
            return out;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: still {out:?} after 60 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The README's path on an empty cluster with the CRDs: `kubectl apply -k config/samples/` gives the whole
/// pool, the reserved replicas run on nodes their NodePool launched, and the operator reconciles the pool
/// (its Prometheus does not exist here, which its status says).
#[tokio::test]
async fn the_sample_kustomization_gives_a_pool_the_operator_reconciles() {
    use hybridscale::sandbox::cluster::{ClusterOptions, spawn_cluster};
    let env = start().await;
    let opts = ClusterOptions {
        startup_delay: Duration::from_millis(500),
        provisioning_delay: Duration::from_millis(500),
        resync: Duration::from_millis(300),
        ..ClusterOptions::default()
    };
    let _cluster = spawn_cluster(env.sandbox.client().expect("client"), opts);
    let out = env.run(&["apply", "-f", "crds/"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.run(&["apply", "-k", "config/samples/"]).await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stderr.is_empty(), "{stdout}{stderr}");
    for created in [
        "namespace/inference",
        "costpolicy.hybridscale.dev/llama-70b-prod",
        "inferencepool.hybridscale.dev/llama-70b",
        "deployment.apps/llama-70b-reserved",
        "deployment.apps/llama-70b-spot",
        "deployment.apps/llama-70b-ondemand",
        "nodepool.karpenter.sh/h100-reserved",
        "nodepool.karpenter.sh/h100-spot",
        "nodepool.karpenter.sh/h100-ondemand",
        "httproute.gateway.networking.k8s.io/llama-70b",
    ] {
        assert!(stdout.contains(&format!("{created} created")), "{created} missing from:\n{stdout}");
    }
    let ready = ["get", "deploy", "llama-70b-reserved", "-n", "inference", "-o", "jsonpath={.status.readyReplicas}"];
    wait_for(&env, &ready, "reserved replicas ready", |o| o == "2").await;
    // Two 4-GPU replicas on one 8-GPU node of their own pool.
    let nodes = env.ok(&["get", "nodes", "-l", "karpenter.sh/nodepool=h100-reserved", "-o", "name"]).await;
    assert_eq!(nodes.lines().count(), 1, "{nodes}");

    let dir = tempfile::tempdir().expect("tempdir");
    let log = std::fs::File::create(dir.path().join("operator.log")).expect("log file");
    let mut operator = std::process::Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["controller", "--metrics-addr", "127.0.0.1:0", "--log-format", "text"])
        .env("KUBECONFIG", &env.kubeconfig)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("operator starts");
    let conditions = ["get", "hpool", "llama-70b", "-n", "inference", "-o", "jsonpath={.status.conditions[*].type}"];
    let reconciled = wait_for(&env, &conditions, "pool status", |o| o.contains("SignalsStale")).await;
    // The sample's Prometheus does not exist here: the condition says so once, and what to do, without
    // the URL-encoded PromQL it used to carry.
    let stale = [
        "get",
        "hpool",
        "llama-70b",
        "-n",
        "inference",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="SignalsStale")].message}"#,
    ];
    let stale = env.ok(&stale).await;
    let _ = operator.kill();
    let _ = operator.wait();
    assert!(reconciled.contains("Ready"), "{reconciled}");
    assert!(stale.starts_with("Prometheus http://prometheus-operated.monitoring:9090 unreachable: "), "{stale}");
    assert!(stale.contains("; set spec.metrics.prometheusUrl or --prometheus-url"), "{stale}");
    assert!(!stale.contains("query") && !stale.contains('%') && stale.len() < 300, "{stale}");
    let route = env
        .ok(&[
            "get",
            "httproute",
            "llama-70b",
            "-n",
            "inference",
            "-o",
            "jsonpath={.spec.rules[0].backendRefs[*].name}",
        ])
        .await;
    assert_eq!(route, "llama-70b-vllm azure-ai-egress");
}

/// `kubectl apply -f crds/ -f config/samples/` in one go: the CRDs are created, and the objects of their
/// kinds get the real server's answer to that race (their kinds are not served yet when kubectl maps
/// them), not "the server was unable to respond with a content type that the client supports", which
/// kubectl said when the sandbox refused the protobuf /openapi/v2 it validates unknown kinds with.
#[tokio::test]
async fn crds_and_samples_in_one_apply_say_to_install_the_crds_first() {
    let env = start().await;
    let out = env
        .run(&[
            "apply",
            "-f",
            "crds/",
            "-f",
            "config/samples/namespace.yaml",
            "-f",
            "config/samples/inferencepool.yaml",
        ])
        .await;
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(!stderr.contains("content type"), "{stderr}");
    assert!(
        stderr.contains(r#"no matches for kind "InferencePool" in version "hybridscale.dev/v1alpha1""#)
            && stderr.contains("ensure CRDs are installed first"),
        "{stderr}"
    );
    assert!(
        stdout.contains("customresourcedefinition.apiextensions.k8s.io/inferencepools.hybridscale.dev created"),
        "{stdout}"
    );
    // As the message says: with the CRDs installed, the same command goes through.
    let again = env
        .ok(&["apply", "-f", "crds/", "-f", "config/samples/namespace.yaml", "-f", "config/samples/inferencepool.yaml"])
        .await;
    assert!(again.contains("inferencepool.hybridscale.dev/llama-70b created"), "{again}");
}

#[tokio::test]
async fn apply_crds_and_samples_then_get_with_printer_columns_and_explain() {
    let env = start().await;
    install_crds(&env).await;
    let out = env.ok(&["apply", "-k", "config/samples/"]).await;
    assert!(out.contains("inferencepool.hybridscale.dev/llama-70b created"), "{out}");
    assert!(out.contains("costpolicy.hybridscale.dev/llama-70b-prod created"), "{out}");
    // Applying again is a no-op.
    let again = env.ok(&["apply", "-k", "config/samples/"]).await;
    assert!(again.contains("llama-70b unchanged"), "{again}");

    let hpool = env.ok(&["get", "hpool", "-n", "inference"]).await;
    let header: Vec<&str> = hpool.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "MODEL", "READY", "DESIRED", "EXTERNAL%", "$/HOUR", "MTD", "AGE"], "{hpool}");
    assert!(hpool.contains("llama-70b   meta-llama/Llama-3.1-70B-Instruct"), "{hpool}");
    let wide = env.ok(&["get", "hpool", "-n", "inference", "-o", "wide"]).await;
    assert!(wide.contains("POLICY") && wide.contains("llama-70b-prod"), "{wide}");
    let cpol = env.ok(&["get", "cpol", "-A"]).await;
    assert!(cpol.lines().next().unwrap_or_default().starts_with("NAMESPACE   NAME"), "{cpol}");
    assert!(cpol.contains("llama-70b-prod") && cpol.contains("Enforce") && cpol.contains("60000"), "{cpol}");

    // `hpool`, not `inferencepools`: that plural is also the Gateway API Inference Extension's.
    let explain = env.ok(&["explain", "hpool.spec"]).await;
    assert!(explain.contains("KIND:       InferencePool"), "{explain}");
    assert!(explain.contains("capacity") && explain.contains("costPolicyRef"), "{explain}");
    let field = env.ok(&["explain", "costpolicies.spec.slo"]).await;
    assert!(field.contains("FIELD: slo <Object>"), "{field}");
}

#[tokio::test]
async fn every_invalid_sample_is_rejected_with_its_expected_message() {
    let env = start().await;
    install_crds(&env).await;
    let dir = root().join("config/samples/invalid");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("invalid samples").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() >= 10, "expected the invalid samples in {}", dir.display());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("sample");
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect:"))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", f.display()))
            .trim()
            .to_string();
        let out = env.run(&["apply", "-f", f.to_str().expect("utf-8 path")]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kind = if f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("cpol")) {
            "CostPolicy"
        } else {
            "InferencePool"
        };
        // A failed CEL rule reads `<field>: Invalid value: <message>`, as on a 1.36 server (no `"object": `).
        let cel = text.lines().next().is_some_and(|l| l.contains("CEL rule"));
        let cel_wording =
            !cel || (stderr.contains(": Invalid value: ") && !stderr.contains("Invalid value: \"object\""));
        if out.status.success()
            || !stderr.contains(&expect)
            || !stderr.contains(&format!("The {kind} \""))
            || !cel_wording
        {
            failures.push(format!("{}: expected {expect:?}, got: {stderr}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
