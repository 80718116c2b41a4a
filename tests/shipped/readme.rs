//! The README runs as written: the fenced blocks marked `<!-- tested by tests/shipped/readme.rs -->` are taken from
//! README.md and run, the first (`hybridscale demo ...`) with the built binary, the second (kubectl
//! against the demo's kubeconfig) while the demo runs. Only the demo's duration and kubeconfig path are
//! replaced (a shorter run, a private file), and the test fails if the README stops saying them.
//! Needs `prometheus` and kubectl 1.32+ on PATH (`make tools`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MARK: &str = "<!-- tested by tests/shipped/readme.rs -->";

/// The command lines of each marked block (comments and blank lines dropped).
fn tested_blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(l) = lines.next() {
        if l.trim() != MARK {
            continue;
        }
        assert_eq!(lines.next().map(str::trim), Some("```sh"), "a marked block must follow its mark");
        let block: Vec<String> = lines
            .by_ref()
            .take_while(|l| l.trim() != "```")
            .map(|l| l.split(" #").next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        blocks.push(block);
    }
    blocks
}

/// Replace the value after `flag` in `args`; the README must give it.
fn replace_flag(args: &mut [String], flag: &str, value: &str) {
    let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("the README's demo has no {flag}: {args:?}"));
    args[i + 1] = value.to_string();
}

#[test]
fn readme_demo_and_kubectl_walk_through_run_as_written() {
    let blocks = tested_blocks();
    assert_eq!(blocks.len(), 2, "two marked blocks: the demo and the kubectl walk-through");
    let demo = &blocks[0];
    assert_eq!(demo.len(), 1, "{demo:?}");
    let mut args: Vec<String> = demo[0].split_whitespace().map(String::from).collect();
    assert_eq!(args.first().map(String::as_str), Some("hybridscale"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let readme_kubeconfig = args[args.iter().position(|a| a == "--kubeconfig").expect("--kubeconfig") + 1].clone();
    replace_flag(&mut args, "--duration", "45");
    replace_flag(&mut args, "--kubeconfig", &kubeconfig.to_string_lossy());

    let mut child = Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(&args[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hybridscale demo");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for the first pool line: the world is up and the operator has written a status.
    while !out.iter().any(|l: &String| l.contains(" llm ")) {
        assert!(Instant::now() < deadline, "no pool line from the demo:\n{}", out.join("\n"));
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(l) => out.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let mut stderr = String::new();
                let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr);
                panic!("the demo ended early: {stderr}\n{}", out.join("\n"))
            }
        }
    }
    assert!(out.iter().any(|l| l.contains(&kubeconfig.to_string_lossy().into_owned())), "{out:?}");

    // The second block, while the demo runs.
    let mut env_kubeconfig = None;
    for line in &blocks[1] {
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            assert_eq!(path, readme_kubeconfig, "the walk-through uses the demo's kubeconfig");
            env_kubeconfig = Some(kubeconfig.clone());
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "kubectl", "{line}");
        let run = Command::new("kubectl")
            .args(&words[1..])
            .env("KUBECONFIG", env_kubeconfig.as_ref().expect("export KUBECONFIG first"))
            .env("KUBECACHEDIR", dir.path().join("cache"))
            .output()
            .expect("kubectl 1.32+ on PATH (make tools)");
        let text = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{line}: {}{text}", String::from_utf8_lossy(&run.stderr));
        assert!(text.contains("llm"), "{line}: {text}");
    }

    out.extend(rx.iter());
    let status = child.wait().expect("demo exits");
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr);
    let text = out.join("\n");
    assert!(status.success(), "demo failed: {stderr}\n{text}");
    let header = out.iter().find(|l| l.contains("DEMAND")).unwrap_or_else(|| panic!("no header:\n{text}"));
    let columns: Vec<&str> = header.split_whitespace().collect();
    let desired = columns.iter().position(|c| *c == "Desired").unwrap_or_else(|| panic!("{header}"));
    let most = out
        .iter()
        .filter(|l| l.contains(" llm "))
        .filter_map(|l| l.split_whitespace().nth(desired).and_then(|d| d.parse::<u32>().ok()))
        .max();
    assert!(most.is_some_and(|m| m >= 2), "the ramp should scale the pool beyond its one replica:\n{text}");
    for phase in ["ramp", "spike", "idle"] {
        assert!(out.iter().any(|l| l.split_whitespace().nth(1) == Some(phase)), "no {phase} line:\n{text}");
    }
}

/// Without Prometheus the demo stops before starting anything, with one line saying how to get it.
#[test]
fn demo_without_prometheus_says_how_to_install_it() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["demo", "--duration", "1"])
        .env("PATH", empty.path())
        .output()
        .expect("run hybridscale demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: prometheus not found on PATH: install it (`apt-get install prometheus`"),
        "{stderr}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_hybridscale")).args(["demo", "--speed", "0"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}
