//! The StatefulSet controller: pods named `<name>-<ordinal>`, created and removed in ordinal order
//! (`OrderedReady`, the default: one at a time, each waiting for its predecessors to be Ready) or all at
//! once (`Parallel`), rolled highest ordinal first on a template change (`RollingUpdate`; `OnDelete`
//! leaves old pods alone), with the status fields the real controller writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use serde_json::json;

use super::pods::{controller_ref, is_ready, pod_from_template, template_hash};
use super::workload::{self, Workload};
use super::{ClusterError, Shared, api_err, is_status};

const REVISION_LABEL: &str = "controller-revision-hash";

/// Runs the controller until `shutdown` completes.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    workload::run::<StatefulSet, _, _>(shared, shutdown, reconcile).await;
}

impl Workload for StatefulSet {
    type Spec = StatefulSetSpec;
    fn spec(&self) -> Option<&StatefulSetSpec> {
        self.spec.as_ref()
    }
    fn selector(spec: &StatefulSetSpec) -> &LabelSelector {
        &spec.selector
    }
    fn replicas(spec: &StatefulSetSpec) -> Option<i32> {
        spec.replicas
    }
}

/// The ordinal of `<sts>-<n>`, if the pod name has that form.
fn ordinal(sts: &str, pod: &Pod) -> Option<usize> {
    pod.metadata.name.as_deref()?.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

/// One existing ordinal's pod as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrdinalState {
    pub ready: bool,
    /// Labelled with the current template revision.
    pub current: bool,
}

/// The ordinals to create and to delete in one reconcile. Scale-down goes from the highest ordinal
/// (one at a time unless `parallel`); scale-up from the lowest missing one, and without `parallel`
/// only when every lower ordinal is Ready; with nothing else to do and every ordinal Ready, a rolling
/// update (unless `on_delete`) replaces the highest outdated pod.
pub fn plan_ordinals(
    want: usize,
    parallel: bool,
    on_delete: bool,
    pods: &BTreeMap<usize, OrdinalState>,
) -> (Vec<usize>, Vec<usize>) {
    let mut delete: Vec<usize> = pods.keys().rev().copied().filter(|o| *o >= want).collect();
    if !parallel {
        delete.truncate(1);
    }
    let ready = |o: usize| pods.get(&o).is_some_and(|p| p.ready);
    let mut create = Vec::new();
    for o in (0..want).filter(|o| !pods.contains_key(o)) {
        if !parallel && !(0..o).all(ready) {
            break;
        }
        create.push(o);
        if !parallel {
            break;
        }
    }
    if !on_delete && delete.is_empty() && create.is_empty() && (0..want).all(ready) {
        delete.extend((0..want).rev().find(|o| pods.get(o).is_some_and(|p| !p.current)));
    }
    (create, delete)
}

async fn reconcile(s: Arc<StatefulSet>, shared: Arc<Shared>) -> Result<Action, ClusterError> {
    let Some(open) = workload::open(s.as_ref(), &shared).await? else { return Ok(Action::await_change()) };
    let (ns, name, uid, spec, want, where_) = (open.ns, open.name, open.uid, open.spec, open.want, &open.where_);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let on_delete = spec.update_strategy.as_ref().and_then(|u| u.type_.as_deref()) == Some("OnDelete");
    let revision = format!("{name}-{}", template_hash(&spec.template));
    let api = &open.pods_api;
    let pods: BTreeMap<usize, &Pod> = open.pods.iter().filter_map(|p| ordinal(name, p).map(|o| (o, p))).collect();

    let rev_of = |p: &Pod| p.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned();
    let states: BTreeMap<usize, OrdinalState> = pods
        .iter()
        .map(|(o, p)| (*o, OrdinalState { ready: is_ready(p), current: rev_of(p).as_ref() == Some(&revision) }))
        .collect();
    let (to_create, to_delete) = plan_ordinals(want, parallel, on_delete, &states);
    for o in &to_delete {
        open.delete_pod(&format!("{name}-{o}")).await?;
    }
    let owner = controller_ref("apps/v1", "StatefulSet", name, uid);
    for o in &to_create {
        let pod_name = format!("{name}-{o}");
        let index = o.to_string();
        let mut pod = pod_from_template(
            &spec.template,
            ns,
            &pod_name,
            &[
                (REVISION_LABEL, revision.as_str()),
                ("statefulset.kubernetes.io/pod-name", pod_name.as_str()),
                ("apps.kubernetes.io/pod-index", index.as_str()),
            ],
            owner.clone(),
        );
        if let Some(ps) = pod.spec.as_mut() {
            ps.hostname = Some(pod_name.clone());
            ps.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
        }
        match api.create(&PostParams::default(), &pod).await {
            // A terminating pod of the same name still exists: the next pass retries.
            Ok(_) => {}
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(api_err(format!("{where_}: create pod {pod_name}"))(e)),
        }
    }

    let remaining: Vec<&Pod> = pods.iter().filter(|(o, _)| !to_delete.contains(o)).map(|(_, p)| *p).collect();
    let replicas = remaining.len() + to_create.len();
    let updated = remaining.iter().filter(|p| rev_of(p).as_ref() == Some(&revision)).count() + to_create.len();
    let ready = remaining.iter().filter(|p| is_ready(p)).count();
    let previous_current = s.status.as_ref().and_then(|st| st.current_revision.clone());
    let current_revision =
        if updated >= replicas { revision.clone() } else { previous_current.unwrap_or_else(|| revision.clone()) };
    let current = remaining.iter().filter(|p| rev_of(p).as_ref() == Some(&current_revision)).count()
        + if current_revision == revision { to_create.len() } else { 0 };
    let mut status = json!({
        "observedGeneration": s.metadata.generation.unwrap_or(0),
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": revision,
        "collisionCount": 0,
    });
    super::zero_counts_to_null(&mut status);
    if let Some(obj) = status.as_object_mut() {
        // `replicas` is required in StatefulSetStatus: keep it even when zero.
        obj.insert("replicas".into(), json!(replicas));
        obj.insert("collisionCount".into(), json!(0));
    }
    let key = format!("statefulset/{uid}");
    if shared.status_needs_write(&key, &super::to_json(s.status.as_ref()), &status) {
        let sts_api: Api<StatefulSet> = Api::namespaced(shared.client.clone(), ns);
        sts_api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map_err(api_err(format!("{where_}: patch status")))?;
        shared.status_written(&key, &status);
    }
    // Pod and workload events trigger reconciles; the periodic one is only a safety net.
    Ok(Action::requeue(shared.opts.resync * 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(list: &[(usize, bool, bool)]) -> BTreeMap<usize, OrdinalState> {
        list.iter().map(|(o, ready, current)| (*o, OrdinalState { ready: *ready, current: *current })).collect()
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time_after_ready_predecessors() {
        assert_eq!(plan_ordinals(3, false, false, &states(&[])), (vec![0], vec![]));
        assert_eq!(plan_ordinals(3, false, false, &states(&[(0, false, true)])), (vec![], vec![]));
        assert_eq!(plan_ordinals(3, false, false, &states(&[(0, true, true)])), (vec![1], vec![]));
        assert_eq!(plan_ordinals(3, true, false, &states(&[(1, false, true)])), (vec![0, 2], vec![]));
    }

    #[test]
    fn scale_down_from_the_highest_ordinal() {
        let s = states(&[(0, true, true), (1, true, true), (2, true, true), (3, false, true)]);
        assert_eq!(plan_ordinals(1, false, false, &s), (vec![], vec![3]));
        assert_eq!(plan_ordinals(1, true, false, &s), (vec![], vec![3, 2, 1]));
    }

    #[test]
    fn rolling_update_replaces_the_highest_outdated_pod_once_all_are_ready() {
        let s = states(&[(0, true, false), (1, true, false)]);
        assert_eq!(plan_ordinals(2, false, false, &s), (vec![], vec![1]));
        assert_eq!(plan_ordinals(2, false, true, &s), (vec![], vec![]), "OnDelete leaves them");
        let s = states(&[(0, true, false), (1, false, true)]);
        assert_eq!(plan_ordinals(2, false, false, &s), (vec![], vec![]), "wait for ordinal 1 to be Ready");
    }
}
