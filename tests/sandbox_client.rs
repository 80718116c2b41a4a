//! The sandbox API server driven by the real kube::Client over HTTP: CRUD, optimistic concurrency,
//! generation, status and scale subresources, selectors, watch (resume, bookmarks, 410), finalizers,
//! cascading deletion, server-side apply conflicts, eviction with PodDisruptionBudgets, CRD registration,
//! deterministic faults, and a kube-runtime Controller that keeps converging through watch cuts and 409s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hybridscale::sandbox::faults::{FaultConfig, FaultRule, WatchCut};
use hybridscale::sandbox::{Sandbox, SandboxOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher::{self, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

async fn start(opts: SandboxOptions) -> (Sandbox, Client, tempfile::TempDir) {
    hybridscale::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SandboxOptions { kubeconfig_path: Some(dir.path().join("kubeconfig")), ..opts };
    let sb = Sandbox::start(opts).await.expect("sandbox starts");
    let client = sb.client().expect("client");
    (sb, client, dir)
}

fn api_code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> u16 {
    match r {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, labels: &[(&str, &str)], data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<BTreeMap<_, _>>()},
        "data": {"v": data},
    }))
    .expect("configmap")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "vllm:1"}]}}},
    }))
    .expect("deployment")
}

#[tokio::test]
async fn crud_concurrency_generation_and_status() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let created = deps.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(api_code(deps.create(&PostParams::default(), &deployment("web", 1)).await), 409);

    // A stale resourceVersion is a 409 Conflict.
    let mut stale = created.clone();
    let mut fresh = deps.get("web").await.unwrap();
    fresh.spec.as_mut().unwrap().replicas = Some(2);
    let fresh = deps.replace("web", &PostParams::default(), &fresh).await.unwrap();
    assert_eq!(fresh.metadata.generation, Some(2), "spec change bumps generation");
    stale.spec.as_mut().unwrap().replicas = Some(3);
    assert_eq!(api_code(deps.replace("web", &PostParams::default(), &stale).await), 409);

    // Labels do not bump generation; status written through the main resource is ignored.
    let p = json!({"metadata": {"labels": {"x": "y"}}, "status": {"replicas": 9}});
    let after = deps.patch("web", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    assert_eq!(after.metadata.generation, Some(2));
    assert_eq!(after.status.as_ref().and_then(|s| s.replicas), None);
    // ... and spec written through /status is ignored, status is kept.
    let p = json!({"spec": {"replicas": 7}, "status": {"replicas": 2, "readyReplicas": 1}});
    let st = deps.patch_status("web", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    assert_eq!(st.status.as_ref().and_then(|s| s.ready_replicas), Some(1));
    assert_eq!(st.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(st.metadata.generation, Some(2), "status writes never bump generation");

    // JSON patch and strategic merge patch (containers merged by name).
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}])).unwrap();
    let j = deps.patch("web", &PatchParams::default(), &Patch::<()>::Json(jp)).await.unwrap();
    assert_eq!(j.spec.as_ref().and_then(|s| s.replicas), Some(4));
    let sp = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}}});
    let s = deps.patch("web", &PatchParams::default(), &Patch::Strategic(&sp)).await.unwrap();
    let names: Vec<String> = s.spec.unwrap().template.spec.unwrap().containers.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["app", "sidecar"]);

    // Scale subresource.
    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=web"));
    let p = json!({"spec": {"replicas": 6}});
    deps.patch_scale("web", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    assert_eq!(deps.get("web").await.unwrap().spec.unwrap().replicas, Some(6));

    deps.delete("web", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(deps.get("web").await), 404);
    // Creating in a namespace that does not exist is a 404, as on the real server.
    let missing: Api<ConfigMap> = Api::namespaced(client, "nowhere");
    assert_eq!(api_code(missing.create(&PostParams::default(), &cm("a", &[], "1")).await), 404);
}

#[tokio::test]
async fn selectors_finalizers_and_cascading_delete() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (n, tier) in [("a", "gpu"), ("b", "cpu"), ("c", "gpu")] {
        cms.create(&PostParams::default(), &cm(n, &[("tier", tier), ("app", "x")], n)).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>();
    assert_eq!(names(cms.list(&ListParams::default().labels("tier=gpu")).await.unwrap()), ["a", "c"]);
    assert_eq!(names(cms.list(&ListParams::default().labels("tier notin (gpu),app")).await.unwrap()), ["b"]);
    assert_eq!(names(cms.list(&ListParams::default().labels("tier in (gpu,cpu),!missing")).await.unwrap()).len(), 3);
    assert_eq!(names(cms.list(&ListParams::default().fields("metadata.name!=a")).await.unwrap()), ["b", "c"]);

    // Finalizers hold deletion: deletionTimestamp is set, the object goes when the last one is removed.
    let p = json!({"metadata": {"finalizers": ["hybridscale.dev/cleanup"]}});
    cms.patch("a", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let held = cms.get("a").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let p = json!({"metadata": {"finalizers": null}});
    cms.patch("a", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    assert_eq!(api_code(cms.get("a").await), 404);

    // Owner references: deleting the owner deletes its dependents (background propagation).
    let owner = cms.get("b").await.unwrap();
    let oref = owner.controller_owner_ref(&()).unwrap();
    let mut dep = cm("dep", &[], "d");
    dep.metadata.owner_references = Some(vec![oref]);
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(cms.get("dep").await), 404);

    // Deleting a namespace deletes what is in it.
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let tmp: Api<ConfigMap> = Api::namespaced(client.clone(), "tmp");
    tmp.create(&PostParams::default(), &cm("x", &[], "1")).await.unwrap();
    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(tmp.get("x").await), 404);
}

#[tokio::test]
async fn watch_resumes_bookmarks_and_410() {
    let opts =
        SandboxOptions { history_limit: 20, bookmark_interval: Duration::from_millis(200), ..Default::default() };
    let (_sb, client, _d) = start(opts).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    cms.create(&PostParams::default(), &cm("w", &[("k", "v")], "1")).await.unwrap();
    let p = json!({"data": {"v": "2"}});
    cms.patch("w", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();

    let wp = WatchParams::default().labels("k=v").timeout(5);
    let mut stream = cms.watch(&wp, &rv).await.unwrap().boxed();
    let mut seen = Vec::new();
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(c) => seen.push(format!("ADDED {}", c.name_any())),
            WatchEvent::Modified(c) => seen.push(format!("MODIFIED {}", c.data.unwrap()["v"])),
            WatchEvent::Deleted(c) => seen.push(format!("DELETED {}", c.name_any())),
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                seen.push("BOOKMARK".into());
                break;
            }
            WatchEvent::Error(e) => panic!("unexpected error event {e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED w", "MODIFIED 2", "DELETED w", "BOOKMARK"]);

    // Push the history past its limit: the old version is gone (410 as an ERROR event).
    for i in 0..30 {
        cms.create(&PostParams::default(), &cm(&format!("n{i}"), &[], "x")).await.unwrap();
    }
    let mut stream = cms.watch(&WatchParams::default().timeout(5), &rv).await.unwrap().boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

/// kube-runtime's streaming lists (`sendInitialEvents=true`): the initial objects, then the
/// `k8s.io/initial-events-end` bookmark that ends the initial list, then live changes.
#[tokio::test]
async fn watcher_streaming_lists_gets_initial_events_then_changes() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for n in ["s1", "s2"] {
        cms.create(&PostParams::default(), &cm(n, &[("s", "y")], "1")).await.unwrap();
    }
    let cfg = watcher::Config::default().labels("s=y").streaming_lists();
    let mut events = watcher(cms.clone(), cfg).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await.unwrap().unwrap() {
            Some(watcher::Event::Init) => {}
            Some(watcher::Event::InitApply(c)) => initial.push(c.name_any()),
            Some(watcher::Event::InitDone) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["s1", "s2"]);
    cms.create(&PostParams::default(), &cm("s3", &[("s", "y")], "1")).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await.unwrap().unwrap() {
        Some(watcher::Event::Apply(c)) => assert_eq!(c.name_any(), "s3"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn server_side_apply_ownership_and_conflicts() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = serde_json::to_value(deployment("ssa", 2)).unwrap();
    d["metadata"]["labels"] = json!({"owner": "gitops"});
    let applied = deps.patch("ssa", &PatchParams::apply("gitops"), &Patch::Apply(&d)).await.unwrap();
    let mf = applied.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!((mf[0].manager.as_deref(), mf[0].operation.as_deref()), (Some("gitops"), Some("Apply")));

    // Another manager changing an owned field conflicts; the message names the owner and the field.
    let p = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 5}});
    match deps.patch("ssa", &PatchParams::apply("hybridscale"), &Patch::Apply(&p)).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                "Apply failed with 1 conflict: conflict with \"gitops\" using apps/v1: .spec.replicas"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // force=true takes the field.
    let forced = deps.patch("ssa", &PatchParams::apply("hybridscale").force(), &Patch::Apply(&p)).await.unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(5));
    // The original manager dropping a field it still owns removes it (labels here).
    let mut d2 = d.clone();
    d2["metadata"].as_object_mut().unwrap().remove("labels");
    d2["spec"].as_object_mut().unwrap().remove("replicas");
    let after = deps.patch("ssa", &PatchParams::apply("gitops"), &Patch::Apply(&d2)).await.unwrap();
    assert!(after.labels().get("owner").is_none());
    assert_eq!(after.spec.unwrap().replicas, Some(5), "replicas stay: hybridscale owns them now");
}

#[tokio::test]
async fn crds_register_kinds_and_scale_custom_resources() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in hybridscale::api::crds() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let est = crds.get("inferencepools.hybridscale.dev").await.unwrap();
    let conds = est.status.unwrap().conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_ == "Established" && c.status == "True"));
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples/inferencepool.yaml")).unwrap();
    let mut pool: serde_json::Value = serde_saphyr::from_str(&sample).unwrap();
    pool["metadata"]["namespace"] = json!("default");
    let pools: Api<hybridscale::api::InferencePool> = Api::namespaced(client.clone(), "default");
    let pool: hybridscale::api::InferencePool = serde_json::from_value(pool).unwrap();
    let created = pools.create(&PostParams::default(), &pool).await.unwrap();
    assert_eq!(created.spec.model, "meta-llama/Llama-3.1-70B-Instruct");

    // The bundled Cluster API MachineDeployment CRD has /scale.
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "MachineDeployment"),
        "machinedeployments",
    );
    let mds: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let md: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
        "metadata": {"name": "gpu-pool"}, "spec": {"clusterName": "c1", "replicas": 1},
    }))
    .unwrap();
    mds.create(&PostParams::default(), &md).await.unwrap();
    let p = json!({"spec": {"replicas": 3}});
    let s = mds.patch_scale("gpu-pool", &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
    assert_eq!(s.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(mds.get("gpu-pool").await.unwrap().data["spec"]["replicas"], 3);

    // Deleting the CRD stops serving the kind.
    crds.delete("inferencepools.hybridscale.dev", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(pools.list(&ListParams::default()).await), 404);
}

#[tokio::test]
async fn eviction_respects_pod_disruption_budgets() {
    let (sb, _, _d) = start(SandboxOptions::default()).await;
    // kube retries 429 by default (up to 15 times); the refusal itself is what is tested here.
    let mut config = sb.kube_config().unwrap();
    config.default_retry = false;
    let client = Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in ["p1", "p2"] {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": n, "labels": {"app": "llm"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let st = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        pods.patch_status(n, &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "llm"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "llm"}}}}))
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    pods.evict("p1", &EvictParams::default()).await.unwrap();
    assert_eq!(api_code(pods.get("p1").await), 404);
    match pods.evict("p2", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 429);
            assert_eq!(s.message, "Cannot evict pod as it would violate the pod's disruption budget.");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(pods.get("p2").await.is_ok());
}

#[tokio::test]
async fn faults_are_deterministic_per_seed() {
    let faults = FaultConfig {
        seed: 42,
        rules: vec!["get:configmaps:500:0.5".parse::<FaultRule>().unwrap()],
        ..FaultConfig::default()
    };
    let (sb, client, _d) = start(SandboxOptions::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &cm("f", &[], "1")).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        sb.set_faults(faults.clone());
        let mut outcome = Vec::new();
        for _ in 0..40 {
            outcome.push(match cms.get("f").await {
                Ok(_) => 200,
                Err(kube::Error::Api(s)) => s.code,
                Err(e) => panic!("transport error {e}"),
            });
        }
        runs.push(outcome);
    }
    assert_eq!(runs[0], runs[1], "same seed, same faults");
    assert!(runs[0].contains(&500) && runs[0].contains(&200));
    // Listing is not affected by a rule for `get`.
    sb.set_faults(faults);
    for _ in 0..10 {
        cms.list(&ListParams::default()).await.unwrap();
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

/// A controller that copies each ConfigMap's `data.v` into its `observed` annotation keeps converging while
/// every watch is cut after a few events and a third of its patches fail with 409.
#[tokio::test]
async fn controller_converges_through_watch_cuts_and_conflicts() {
    let (sb, client, _d) = start(SandboxOptions::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    sb.set_faults(FaultConfig {
        seed: 3,
        rules: vec!["patch:configmaps:409:0.33".parse().unwrap()],
        watch_cut: Some(WatchCut { max_events: 4, max_age: Duration::from_secs(2) }),
        ..FaultConfig::default()
    });
    let ctx = Arc::new(cms.clone());
    let reconcile = |obj: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>| async move {
        let want = obj.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default();
        if obj.annotations().get("observed") != Some(&want) {
            let p = json!({"metadata": {"annotations": {"observed": want}}});
            api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&p)).await?;
        }
        Ok::<_, ReconcileError>(Action::await_change())
    };
    let controller = Controller::new(cms.clone(), watcher::Config::default().labels("managed=yes"))
        .run(reconcile, |_, _, _| Action::requeue(Duration::from_millis(50)), ctx)
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    let writes = async {
        for i in 0..12 {
            let c = cm(&format!("c{i}"), &[("managed", "yes")], "v1");
            // Creates are not faulted; later data updates race with the controller's patches.
            cms.create(&PostParams::default(), &c).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..12 {
            let p = json!({"data": {"v": format!("v2-{i}")}});
            loop {
                match cms.patch(&format!("c{i}"), &PatchParams::default(), &Patch::Merge(&p)).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
    writes.await;
    let converged = async {
        loop {
            let list = cms.list(&ListParams::default().labels("managed=yes")).await.unwrap();
            let done = list.items.iter().all(|c| {
                c.annotations().get("observed") == c.data.as_ref().and_then(|d| d.get("v"))
                    && c.data.as_ref().and_then(|d| d.get("v")).is_some_and(|v| v.starts_with("v2-"))
            });
            if done && list.items.len() == 12 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), converged).await.is_err() {
        let list = cms.list(&ListParams::default().labels("managed=yes")).await.unwrap();
        let state: Vec<String> = list
            .items
            .iter()
            .map(|c| {
                format!(
                    "{} v={:?} observed={:?}",
                    c.name_any(),
                    c.data.as_ref().and_then(|d| d.get("v")),
                    c.annotations().get("observed")
                )
            })
            .collect();
        panic!("controller did not converge within 60 s: {state:#?}");
    }
    handle.abort();
    let counts = sb.fault_counts();
    assert!(counts.watch_cuts > 0 && counts.errors > 0, "the faults fired: {counts:?}");
}
