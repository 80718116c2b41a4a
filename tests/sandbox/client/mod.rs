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

mod resources;

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
    // Metadata-only lists (kube's metadata watcher) get PartialObjectMetadata.
    let meta = cms.list_metadata(&ListParams::default().labels("tier=gpu")).await.unwrap();
    let meta_names: Vec<String> = meta.items.iter().map(|m| m.name_any()).collect();
    assert_eq!(meta_names, ["a", "c"]);
    assert_eq!(meta.items[0].types.as_ref().map(|t| t.kind.as_str()), Some("PartialObjectMetadata"));

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
