//! Build script: records the git commit the binary is built from, for `hybridscale --version`.
//!
//! `HYBRIDSCALE_GIT_COMMIT` wins when set (container builds, where the context has no `.git`); otherwise
//! `git rev-parse --short=12 HEAD`; outside a git checkout (a source tarball) the commit is `unknown`.
#![forbid(unsafe_code)]

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HYBRIDSCALE_GIT_COMMIT");
    let commit = match std::env::var("HYBRIDSCALE_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it points at (a commit).
            // Only paths that exist: cargo reruns the script every time for one that does not.
            for path in [git(&["rev-parse", "--git-path", "HEAD"]), head_ref_path()].into_iter().flatten() {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=HYBRIDSCALE_GIT_COMMIT={commit}");
}

/// The file of the branch HEAD points at (`refs/heads/<branch>`), when HEAD is on a branch.
fn head_ref_path() -> Option<String> {
    let name = git(&["symbolic-ref", "-q", "HEAD"])?;
    git(&["rev-parse", "--git-path", &name])
}
