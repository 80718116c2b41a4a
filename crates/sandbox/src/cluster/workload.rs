//! What the Deployment and StatefulSet controllers share, written once so the two read only as what
//! differs between them (rollout versus ordinals): a kube-runtime `Controller` over the workload kind that
//! also watches the pods it owns, its error policy, the opening of each reconcile (a live object with a
//! spec, its selector, the wanted count and the active pods it controls) and a pod delete that treats
//! "already gone" as done.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{StreamExt, TryFuture};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

use super::pods::{controlled_by, is_active};
use super::{ClusterError, Shared, api_err, is_status};

/// A namespaced workload kind whose controller owns its pods directly.
pub(crate) trait Workload:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
    /// The kind's spec.
    type Spec;
    /// `spec`, when the object has one.
    fn spec(&self) -> Option<&Self::Spec>;
    /// `spec.selector`.
    fn selector(spec: &Self::Spec) -> &LabelSelector;
    /// `spec.replicas` (absent means 1).
    fn replicas(spec: &Self::Spec) -> Option<i32>;
}

/// Runs the controller of `K` with `reconcile` until `shutdown` completes.
pub(crate) async fn run<K, R, F>(
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    reconcile: R,
) where
    K: Workload,
    R: FnMut(Arc<K>, Arc<Shared>) -> F,
    F: TryFuture<Ok = Action, Error = ClusterError> + Send + 'static,
{
    let client = shared.client.clone();
    Controller::new(Api::<K>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client), watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy::<K>, shared)
        .for_each(|_| async {})
        .await;
}

fn error_policy<K: Workload>(obj: Arc<K>, err: &ClusterError, shared: Arc<Shared>) -> Action {
    tracing::warn!(kind = %K::kind(&()), name = obj.meta().name.as_deref().unwrap_or(""), "{err}");
    Action::requeue(shared.opts.retry())
}

/// The facts every reconcile of a workload starts from.
pub(crate) struct Opened<'a, K: Workload> {
    pub ns: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub spec: &'a K::Spec,
    /// `<kind> <ns>/<name>`, the prefix of every error message.
    pub where_: String,
    /// `spec.replicas`, never negative.
    pub want: usize,
    /// Pods API of the workload's namespace.
    pub pods_api: Api<Pod>,
    /// The active pods matching the selector that this workload controls.
    pub pods: Vec<Pod>,
}

/// Opens a reconcile of `obj`: `None` when there is nothing to do (no name, namespace, uid or spec, or
/// the object is being deleted), an error for a bad selector or a failed pod list.
pub(crate) async fn open<'a, K: Workload>(obj: &'a K, shared: &Shared) -> Result<Option<Opened<'a, K>>, ClusterError> {
    let meta = obj.meta();
    let (Some(ns), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid) else {
        return Ok(None);
    };
    let Some(spec) = obj.spec().filter(|_| meta.deletion_timestamp.is_none()) else {
        return Ok(None);
    };
    let where_ = format!("{} {ns}/{name}", K::kind(&()).to_lowercase());
    let selector = Selector::try_from(K::selector(spec).clone())
        .map_err(|e| ClusterError::Invalid(format!("{where_}: spec.selector: {e}")))?;
    let want = usize::try_from(K::replicas(spec).unwrap_or(1).max(0)).unwrap_or(0);
    let pods_api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
    let listed = pods_api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(api_err(format!("{where_}: list pods")))?;
    let pods = listed.items.into_iter().filter(|p| controlled_by(p, uid) && is_active(p)).collect();
    Ok(Some(Opened { ns, name, uid, spec, where_, want, pods_api, pods }))
}

impl<K: Workload> Opened<'_, K> {
    /// Deletes pod `pod`; one that is already gone counts as deleted.
    pub(crate) async fn delete_pod(&self, pod: &str) -> Result<(), ClusterError> {
        match self.pods_api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("{}: delete pod {pod}", self.where_))(e)),
        }
    }
}
