//! The image `make image` builds, as far as it can be checked without building it (`make image-test`
//! builds and runs it): the chart's default image is the reference it tags, the Dockerfile runs as the
//! non-root user with the OCI labels hack/image.sh copies, and `--version` names the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_charts_default_image_is_what_make_image_tags() {
    let out = Command::new("make").args(["-s", "image-name"]).current_dir(root()).output().expect("run make");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tagged = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
    let values = yaml(&root().join("charts/hybridscale/values.yaml"));
    let chart = yaml(&root().join("charts/hybridscale/Chart.yaml"));
    let tag = match values["image"]["tag"].as_str() {
        Some(t) if !t.is_empty() => t,
        _ => chart["appVersion"].as_str().expect("appVersion"),
    };
    let repository = values["image"]["repository"].as_str().expect("image.repository");
    assert_eq!(format!("{repository}:{tag}"), tagged);
    assert_eq!(tagged, format!("ghcr.io/hybridscale/hybridscale:{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_dockerfile_runs_as_nonroot_with_the_oci_labels() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let last_stage = text.rsplit("\nFROM ").next().expect("a stage");
    assert!(last_stage.starts_with("gcr.io/distroless/cc-debian12"), "{last_stage}");
    for line in ["USER 65532:65532", "ENTRYPOINT [\"/hybridscale\"]", "CMD [\"controller\"]"] {
        assert!(last_stage.lines().any(|l| l == line), "no `{line}` in the runtime stage");
    }
    for label in ["title", "description", "version", "revision", "source", "licenses"] {
        assert!(last_stage.contains(&format!("org.opencontainers.image.{label}=\"")), "label {label}");
    }
}

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_hybridscale")).arg("--version").output().expect("run hybridscale");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let commit = text
        .trim_end()
        .strip_prefix(&format!("hybridscale {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    // A git checkout (this test runs in one): an abbreviated commit of it (HEAD when the binary was built).
    assert!(commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    let known = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", &format!("{commit}^{{commit}}")])
        .current_dir(root())
        .output()
        .expect("git");
    assert!(known.status.success(), "{commit} is not a commit of this repository");
}
