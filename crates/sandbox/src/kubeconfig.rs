//! The kubeconfig written for a running sandbox: plain http, no credentials.

use std::path::Path;

/// A kubeconfig pointing at `url` with context `hybridscale-sandbox`.
pub fn render(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: hybridscale-sandbox\n  cluster:\n    server: {url}\n\
         contexts:\n- name: hybridscale-sandbox\n  context:\n    cluster: hybridscale-sandbox\n    user: sandbox\n    \
         namespace: default\ncurrent-context: hybridscale-sandbox\nusers:\n- name: sandbox\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Write the kubeconfig file (creating its directory).
pub fn write(path: &Path, url: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(url))
}
