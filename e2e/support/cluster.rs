//! The parts of a scenario's world that differ on a cluster reached through `HS_E2E_KUBECONFIG`: the
//! client from that kubeconfig, a fresh namespace per scenario, the checks that the cluster serves what
//! the scenario needs, the CRDs installed only when missing, the clean-up (also when the scenario
//! fails), and a spot interruption delivered through the API the way a termination handler does it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use serde_json::json;

use super::env::{apply, nodepool_resource, yaml_docs};
use super::objects::RUN_LABEL;

/// The taint AWS Node Termination Handler puts on a node when its spot interruption notice arrives
/// (one of the operator's default interruption signals).
pub const SPOT_NOTICE_TAINT: &str = "aws-node-termination-handler/spot-itn";

/// A client for the current context of `kubeconfig` (kube's defaults, as `kubectl` would connect).
pub async fn client(kubeconfig: &Path) -> kube::Client {
    let kc =
        Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| panic!("HS_E2E_KUBECONFIG={}: {e}", kubeconfig.display()));
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("HS_E2E_KUBECONFIG={}: {e}", kubeconfig.display()));
    kube::Client::try_from(config).unwrap_or_else(|e| panic!("client for HS_E2E_KUBECONFIG: {e}"))
}

/// `base` with a random suffix: scenarios of concurrent or earlier runs never share a namespace.
pub fn namespace_name(base: &str) -> String {
    format!("{base}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Panic with what to install when the cluster does not serve a kind the scenario needs.
pub async fn require_kind(client: &kube::Client, group: &str, version: &str, kind: &str, hint: &str) {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    if let Err(e) = kube::discovery::pinned_kind(client, &gvk).await {
        panic!("the HS_E2E_KUBECONFIG cluster does not serve {group}/{version} {kind} ({e}): {hint}");
    }
}

/// Install crds/ unless the cluster already has them. Existing CRDs are left as they are (they may be a
/// release's, shared with other users); a CRD this run installs is left installed, since deleting a
/// CRD deletes every object of its kind in the cluster.
pub async fn install_crds_if_missing(client: &kube::Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for name in ["costpolicies.hybridscale.dev", "inferencepools.hybridscale.dev"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).expect("read CRD");
        match api.get_opt(name).await {
            Ok(Some(installed)) => {
                if schemas(&serde_json::to_value(&installed).unwrap_or_default())
                    != yaml_docs(&text).first().map(schemas).unwrap_or_default()
                {
                    super::say!(
                        "e2e: WARNING: CRD {name} on the cluster differs from crds/ (left as it is; scenarios may \
                         fail on fields it lacks: `kubectl apply --server-side -f crds/` updates it)"
                    );
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => panic!("read CRD {name} on the HS_E2E_KUBECONFIG cluster: {e}"),
        }
        for d in yaml_docs(&text) {
            apply(client, &d, "e2e").await;
        }
        super::say!("e2e: installed CRD {name} (it stays installed)");
    }
}

/// (version name, schema) of each version of a CRD, to tell an installed CRD from crds/.
fn schemas(crd: &serde_json::Value) -> Vec<(serde_json::Value, serde_json::Value)> {
    crd.pointer("/spec/versions")
        .and_then(serde_json::Value::as_array)
        .map(|vs| vs.iter().map(|v| (v["name"].clone(), v["schema"].clone())).collect())
        .unwrap_or_default()
}

/// Deletes what a scenario created on the cluster when dropped: at the end of the scenario and also
/// when it panics (best effort, reported on stderr). `HS_E2E_KEEP=1` keeps everything for inspection.
pub struct Cleanup {
    pub kubeconfig: PathBuf,
    pub ns: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var("HS_E2E_KEEP").is_ok_and(|v| v == "1") {
            super::say!("e2e: HS_E2E_KEEP=1: namespace {} and its NodePools are kept", self.ns);
            return;
        }
        let (kubeconfig, ns) = (self.kubeconfig.clone(), self.ns.clone());
        // Drop may run while the scenario's runtime unwinds a panic: use a runtime of our own on a
        // thread of our own, and wait for it (bounded) so the test does not end before the deletes.
        let done = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(60), delete_run(&kubeconfig, &ns))
                    .await
                    .map_err(|_| "timed out after 60 s".to_string())?
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => super::say!(
                "e2e: clean-up of namespace {ns} failed: {e}; delete it with `kubectl delete ns,nodepools -l \
                 {RUN_LABEL}={ns}`",
                ns = self.ns
            ),
            Err(_) => super::say!("e2e: clean-up of namespace {} panicked", self.ns),
        }
    }
}

/// Release the pools' finalizers (the operator is stopped by now, so nothing else would), then delete
/// the namespace and the run's NodePools.
async fn delete_run(kubeconfig: &Path, ns: &str) -> Result<(), String> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(|e| e.to_string())?;
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let pools: Api<hybridscale::api::InferencePool> = Api::namespaced(client.clone(), ns);
    for p in pools.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default() {
        if let Some(name) = p.metadata.name {
            let patch = json!({"metadata": {"finalizers": null}});
            if let Err(e) = pools.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                super::say!("e2e: release finalizers of InferencePool {ns}/{name}: {e}");
            }
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.delete(ns, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(format!("delete namespace {ns}: {e}")),
    }
    // Only when the cluster serves NodePools at all (a cluster without Karpenter has none of ours).
    let gvk = GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool");
    if kube::discovery::pinned_kind(&client, &gvk).await.is_ok() {
        let nps: Api<DynamicObject> = Api::all_with(client.clone(), &nodepool_resource());
        let lp = ListParams::default().labels(&format!("{RUN_LABEL}={ns}"));
        for np in nps.list(&lp).await.map_err(|e| format!("list NodePools: {e}"))?.items {
            if let Some(name) = np.metadata.name {
                match nps.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(format!("delete NodePool {name}: {e}")),
                }
            }
        }
    }
    Ok(())
}

/// Deliver a spot interruption notice to `node` as AWS Node Termination Handler does: a NoSchedule
/// taint. The node must be one of the scenario's own NodePools (see [`super::target::Need`]).
pub async fn taint_spot_notice(client: &kube::Client, node: &str) {
    let api: Api<Node> = Api::all(client.clone());
    for _ in 0..10 {
        let n = api.get(node).await.unwrap_or_else(|e| panic!("get node {node}: {e}"));
        let mut taints = n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        if taints.iter().any(|t| t.key == SPOT_NOTICE_TAINT) {
            return;
        }
        taints.push(k8s_openapi::api::core::v1::Taint {
            key: SPOT_NOTICE_TAINT.into(),
            value: Some("true".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        });
        // The resourceVersion makes the merge patch (which replaces the whole list) fail rather than drop
        // a taint someone else added meanwhile.
        let patch = json!({
            "metadata": {"resourceVersion": n.metadata.resource_version},
            "spec": {"taints": taints},
        });
        match api.patch(node, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => panic!("taint node {node}: {e}"),
        }
    }
    panic!("taint node {node}: conflicts on every try");
}

/// End an interrupted node as the cloud does when the notice runs out: delete the Node (Karpenter's
/// finalizer then drains it and terminates the instance).
pub async fn terminate_node(client: &kube::Client, node: &str) {
    let api: Api<Node> = Api::all(client.clone());
    match api.delete(node, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("delete node {node}: {e}"),
    }
}
