//! Through the same client: CRDs registering kinds (with scale), eviction against PodDisruptionBudgets,
//! deterministic faults, and a kube-runtime Controller converging through watch cuts and 409s.

use super::*;

#[tokio::test]
async fn crds_register_kinds_and_scale_custom_resources() {
    let (_sb, client, _d) = start(SandboxOptions::default()).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in hybridscale::api::crds() {
        // A real API server validates a CRD's defaults against its schema and refuses invalid ones; so does
        // the sandbox (this fails while crates/api/src's InferencePool spec.metrics default breaks its minimums).
        crds.create(&PostParams::default(), &crd).await.unwrap_or_else(|e| panic!("CRD refused: {e}"));
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
