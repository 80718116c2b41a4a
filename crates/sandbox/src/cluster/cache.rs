//! Watch-fed caches (kube-runtime reflectors) of the objects the node-side loops read, and the driver
//! that runs such a loop: one pass on every change (bursts coalesce), at the deadline a pass asks for,
//! and at least every resync period.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ClusterError;

/// Karpenter `NodePool` (karpenter.sh/v1).
pub(crate) fn nodepool_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"), "nodepools")
}

/// Cluster API `MachineDeployment` (cluster.x-k8s.io/v1beta1).
pub(crate) fn machine_deployment_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cluster.x-k8s.io", "v1beta1", "MachineDeployment"),
        "machinedeployments",
    )
}

/// Read-only views of the watched objects plus a counter that moves on every watch event.
#[derive(Clone)]
pub(crate) struct Cache {
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub nodepools: Store<DynamicObject>,
    pub machine_deployments: Store<DynamicObject>,
    changes: watch::Receiver<u64>,
    /// Per store (pods, nodes, nodepools, machine deployments): the initial list has been applied.
    /// `Store::wait_until_ready` is not used: its one-shot channel wakes only the last of several
    /// concurrent waiters, so the loops would stall.
    synced: [watch::Receiver<bool>; 4],
}

/// Which stores a loop needs before its first pass.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Needs {
    PodsAndNodes,
    NodePools,
    MachineDeployments,
}

impl Cache {
    /// Starts one reflector per kind on `tasks`.
    pub(crate) fn start(client: &kube::Client, tasks: &mut JoinSet<()>) -> Cache {
        let (tx, changes) = watch::channel(0u64);
        let (pods, pods_synced) = reflect("Pod", Api::<Pod>::all(client.clone()), Writer::default(), tx.clone(), tasks);
        let (nodes, nodes_synced) =
            reflect("Node", Api::<Node>::all(client.clone()), Writer::default(), tx.clone(), tasks);
        let np = nodepool_resource();
        let (nodepools, np_synced) =
            reflect("NodePool", Api::all_with(client.clone(), &np), Writer::new(np), tx.clone(), tasks);
        let md = machine_deployment_resource();
        let (machine_deployments, md_synced) =
            reflect("MachineDeployment", Api::all_with(client.clone(), &md), Writer::new(md), tx, tasks);
        let synced = [pods_synced, nodes_synced, np_synced, md_synced];
        Cache { pods, nodes, nodepools, machine_deployments, changes, synced }
    }

    /// The cached nodes and the set of their names, which every node-side pass starts from.
    pub(crate) fn nodes_and_names(&self) -> (Vec<Arc<Node>>, HashSet<String>) {
        let nodes = self.nodes.state();
        let names = nodes.iter().filter_map(|n| n.metadata.name.clone()).collect();
        (nodes, names)
    }

    async fn ready(&self, needs: Needs) {
        let wanted: &[usize] = match needs {
            Needs::PodsAndNodes => &[0, 1],
            Needs::NodePools => &[0, 1, 2],
            Needs::MachineDeployments => &[0, 1, 3],
        };
        for i in wanted {
            let mut rx = self.synced[*i].clone();
            // Err only when the reflector task is gone, i.e. the simulation is stopping anyway.
            let _ = rx.wait_for(|synced| *synced).await;
        }
    }
}

fn reflect<K>(
    kind: &'static str,
    api: Api<K>,
    writer: Writer<K>,
    tx: watch::Sender<u64>,
    tasks: &mut JoinSet<()>,
) -> (Store<K>, watch::Receiver<bool>)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
{
    let store = writer.as_reader();
    let (synced_tx, synced) = watch::channel(false);
    tasks.spawn(async move {
        let stream = reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if matches!(event, watcher::Event::InitDone) {
                        synced_tx.send_replace(true);
                    }
                    tx.send_modify(|n| *n = n.wrapping_add(1));
                }
                // The watcher retries with backoff; a missing CRD shows up here until it is applied.
                Err(e) => tracing::debug!(kind, "watch: {e}"),
            }
        }
    });
    (store, synced)
}

/// One of the node-side loops: a level-triggered pass over the cached state.
pub(crate) trait Pass: Send + 'static {
    /// Name for logs.
    const NAME: &'static str;
    /// Stores that must have synced before the first pass.
    const NEEDS: Needs;
    /// One reconciliation pass; returns when it next needs to run without a change (a pending delay).
    fn pass(&mut self) -> impl Future<Output = Result<Option<Instant>, ClusterError>> + Send;
}

/// What a pass gathers on its way: the first error (a pass carries on past a failed call, as the real
/// controllers do, and reports the first) and the earliest instant it must run again.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    first_err: Option<ClusterError>,
    next: Option<Instant>,
}

impl Progress {
    /// The value of `r`, or `None` after noting its error.
    pub(crate) fn keep<T>(&mut self, r: Result<T, ClusterError>) -> Option<T> {
        r.map_err(|e| {
            self.first_err.get_or_insert(e);
        })
        .ok()
    }

    /// The pass must run again by `at`, if any (the earliest of such instants counts).
    pub(crate) fn due(&mut self, at: impl Into<Option<Instant>>) {
        if let Some(at) = at.into() {
            self.next = Some(self.next.map_or(at, |n| n.min(at)));
        }
    }

    /// What [`Pass::pass`] returns: the first error, or when to run again.
    pub(crate) fn finish(self) -> Result<Option<Instant>, ClusterError> {
        self.first_err.map_or(Ok(self.next), Err)
    }
}

/// Runs `l` until `stop` completes, a pass at least every `resync` (also the retry delay after an error).
pub(crate) async fn drive<L: Pass>(mut l: L, cache: Cache, resync: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut changes = cache.changes.clone();
    tokio::select! {
        () = cache.ready(L::NEEDS) => {}
        () = &mut stop => return,
    }
    tracing::debug!(simulated = L::NAME, "caches synced, running");
    let mut changes_open = true;
    loop {
        changes.mark_unchanged();
        let next = match l.pass().await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(simulated = L::NAME, "{e}");
                None
            }
        };
        let cap = super::later(Instant::now(), resync);
        let deadline = next.map_or(cap, |n| n.min(cap));
        tokio::select! {
            changed = changes.changed(), if changes_open => {
                changes_open = changed.is_ok();
            }
            () = tokio::time::sleep_until(deadline) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_the_first_error_and_the_earliest_due() {
        let t = Instant::now();
        let mut p = Progress::default();
        assert_eq!(p.keep(Ok::<_, ClusterError>(3)), Some(3));
        p.due(t + Duration::from_secs(5));
        p.due(None);
        p.due(t + Duration::from_secs(2));
        p.due(t + Duration::from_secs(9));
        assert_eq!(p.finish().ok(), Some(Some(t + Duration::from_secs(2))));

        let mut p = Progress::default();
        assert_eq!(p.keep(Err::<(), _>(ClusterError::Invalid("first".into()))), None);
        assert_eq!(p.keep(Err::<(), _>(ClusterError::Invalid("second".into()))), None);
        p.due(t);
        assert_eq!(p.finish().map_err(|e| e.to_string()), Err("first".to_string()));
        assert_eq!(Progress::default().finish().ok(), Some(None), "nothing due, no error");
    }
}
