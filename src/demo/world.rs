//! Setting up a pool's world: on the sandbox ([`start_sandbox`]: API server, CRDs, the pool's objects,
//! simulated cluster) or on any API server (install the CRDs, server-side apply objects of any kind the
//! server serves), and its metrics ([`start_metrics`]: the synthetic exporter and the real Prometheus
//! scraping it). Used by `hybridscale demo` and by the e2e harness, so both run the same world.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::objects::{self, MODEL, Placement, Setup};
use super::prom::Prom;
use crate::modelserver::{ExporterHandle, ModelServerExporter, Profile};
use crate::sandbox::cluster::{ClusterHandle, ClusterOptions, spawn_cluster};
use crate::sandbox::{Sandbox, SandboxOptions};

/// The sandbox side of a world.
pub struct SandboxWorld {
    pub sandbox: Sandbox,
    pub client: kube::Client,
    pub cluster: ClusterHandle,
}

/// Start a sandbox API server (writing `kubeconfig`), install the CRDs, apply the pool's objects in `ns`
/// under `manager` (replicas on the sandbox's NodePools), then start the simulated cluster with `cluster`.
pub async fn start_sandbox(
    kubeconfig: PathBuf,
    ns: &str,
    setup: &Setup,
    cluster: ClusterOptions,
    manager: &str,
) -> Result<SandboxWorld, String> {
    let sandbox = Sandbox::start(SandboxOptions { kubeconfig_path: Some(kubeconfig), ..SandboxOptions::default() })
        .await
        .map_err(|e| format!("sandbox API server: {e}"))?;
    let client = sandbox.client().map_err(|e| format!("sandbox client: {e}"))?;
    install_crds(&client, manager).await?;
    for doc in objects::yaml_docs(&objects::manifests(ns, setup, &Placement::sandbox()))? {
        apply(&client, &doc, manager).await?;
    }
    let cluster = spawn_cluster(client.clone(), cluster);
    Ok(SandboxWorld { sandbox, client, cluster })
}

/// Start the synthetic exporter serving the pool's model-server pods in `ns` (each completing
/// `setup.pod_capacity_rps`, else `setup.replica_rps`) and the providers' gateway series (with
/// `setup.providers`, each healthy to start with), and the Prometheus binary `prometheus` scraping it,
/// with its configuration and TSDB in `dir`.
pub async fn start_metrics(
    prometheus: &Path,
    dir: &Path,
    ns: &str,
    setup: &Setup,
) -> Result<(ExporterHandle, Prom), String> {
    let addr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let exporter = ModelServerExporter::start(addr).await.map_err(|e| format!("exporter: {e}"))?;
    let capacity_rps = setup.pod_capacity_rps.unwrap_or(setup.replica_rps);
    exporter.set_profile(
        ns,
        MODEL,
        Profile { capacity_rps, base_latency_s: 1.0, gpus_per_pod: 1, fixed_latency_s: None },
    );
    if setup.providers {
        for p in super::providers::PROVIDERS {
            exporter.set_provider(p.name, p.model, p.healthy());
        }
    }
    let prom = Prom::start(prometheus, dir, &exporter.addr().to_string()).await?;
    Ok((exporter, prom))
}

/// The simulated cluster's delays for the e2e scenarios and the demo: fast, in the same proportions as a
/// real cluster (model load 1.5 s, node provisioning 0.7 s).
pub fn cluster_options() -> ClusterOptions {
    ClusterOptions {
        seed: 7,
        startup_delay: Duration::from_millis(1500),
        provisioning_delay: Duration::from_millis(700),
        consolidation_delay: Duration::from_secs(2),
        interruption_notice: Duration::from_secs(4),
        resync: Duration::from_millis(500),
        ..ClusterOptions::default()
    }
}

/// Server-side apply one object (any kind the server serves) under `manager`.
pub async fn apply(client: &kube::Client, obj: &Value, manager: &str) -> Result<(), String> {
    let api_version = obj["apiVersion"].as_str().ok_or("an object without apiVersion")?;
    let kind = obj["kind"].as_str().ok_or("an object without kind")?;
    let name = obj["metadata"]["name"].as_str().ok_or_else(|| format!("a {kind} without a name"))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("{kind} {api_version} is not served: {e}"))?;
    let api: Api<DynamicObject> = match (caps.scope, obj["metadata"]["namespace"].as_str()) {
        (kube::discovery::Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    };
    api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(obj))
        .await
        .map_err(|e| format!("apply {kind} {name}: {}", short(&e)))?;
    Ok(())
}

/// The API server's message alone for an API error (kube's Display adds the whole Status).
fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Install the operator's CRDs (as `crds/` holds them) and wait until both kinds are served.
pub async fn install_crds(client: &kube::Client, manager: &str) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply(manager).force(), &Patch::Apply(&crd))
            .await
            .map_err(|e| format!("apply CRD {name}: {}", short(&e)))?;
    }
    wait_crds_served(client).await
}

/// Wait (up to 20 s) until the API server serves CostPolicy and InferencePool.
pub async fn wait_crds_served(client: &kube::Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    for kind in ["CostPolicy", "InferencePool"] {
        let gvk = GroupVersionKind::gvk("hybridscale.dev", "v1alpha1", kind);
        while kube::discovery::pinned_kind(client, &gvk).await.is_err() {
            if Instant::now() > deadline {
                return Err(format!("the API server does not serve {kind} 20 s after its CRD was applied"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
