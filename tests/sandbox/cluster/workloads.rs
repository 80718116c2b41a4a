//! The opening the Deployment and StatefulSet controllers share: a workload being deleted (held by a
//! finalizer) is left as it is, its pods neither added nor removed when its replicas change, while live
//! workloads of both kinds keep converging.

use super::*;

const HOLD: &str = "test.hybridscale.dev/hold";

fn workload_api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind)))
}

async fn create_workload(client: &kube::Client, kind: &str, name: &str, replicas: i32, finalizer: bool) {
    let mut obj = gpu_workload(kind, name, replicas, ("pool", "none"));
    if finalizer {
        obj["metadata"]["finalizers"] = json!([HOLD]);
    }
    let obj: DynamicObject = serde_json::from_value(obj).expect("workload object");
    workload_api(client, kind).create(&PostParams::default(), &obj).await.expect("create workload");
}

async fn wait_for_pods(client: &kube::Client, app: &str, n: usize) {
    eventually(&format!("{n} pods of {app}"), || async { (pods_of(client, app).await.len() == n).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_being_deleted_keep_their_pods_while_live_ones_converge() {
    init_tracing();
    let (sandbox, cluster) =
        start_sandbox_with_cluster(SandboxOptions::default(), options(7)).await.expect("start sandbox");
    let client = sandbox.client().expect("client");
    for (kind, held) in [("Deployment", "held-deploy"), ("StatefulSet", "held-sts")] {
        create_workload(&client, kind, held, 1, true).await;
        wait_for_pods(&client, held, 1).await;
        let api = workload_api(&client, kind);
        api.delete(held, &Default::default()).await.expect("delete workload");
        let terminating = api.get(held).await.expect("held by its finalizer");
        assert!(terminating.metadata.deletion_timestamp.is_some(), "{kind} {held} is being deleted");
        api.patch(held, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
            .await
            .expect("scale the workload being deleted");
    }
    // Live workloads of both kinds, created after those changes, converge: both controllers have run since.
    for (kind, live) in [("Deployment", "live-deploy"), ("StatefulSet", "live-sts")] {
        create_workload(&client, kind, live, 2, false).await;
        wait_for_pods(&client, live, 2).await;
    }
    for held in ["held-deploy", "held-sts"] {
        assert_eq!(pods_of(&client, held).await.len(), 1, "{held}: a workload being deleted is left alone");
    }
    cluster.shutdown().await;
    sandbox.stop().await;
}
