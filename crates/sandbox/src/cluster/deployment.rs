//! The Deployment controller: keeps `spec.replicas` pods of the current template and writes the status
//! fields the real controller writes.
//!
//! Difference from the real one: pods are owned by the Deployment directly, without a ReplicaSet in
//! between (each pod carries `pod-template-hash`). A template change rolls by `spec.strategy`
//! (`RollingUpdate` with `maxSurge`/`maxUnavailable`, or `Recreate`); `minReadySeconds`,
//! `progressDeadlineSeconds` and `paused` are not simulated (Ready counts as Available).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::pods::{is_ready, name_suffix, pod_from_template, sort_for_deletion, template_hash};
use super::workload::{self, Workload};
use super::{ClusterError, Shared, api_err, conditions_with_times, is_status};

/// Runs the controller until `shutdown` completes.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    workload::run::<Deployment, _, _>(shared, shutdown, reconcile).await;
}

impl Workload for Deployment {
    type Spec = DeploymentSpec;
    fn spec(&self) -> Option<&DeploymentSpec> {
        self.spec.as_ref()
    }
    fn selector(spec: &DeploymentSpec) -> &LabelSelector {
        &spec.selector
    }
    fn replicas(spec: &DeploymentSpec) -> Option<i32> {
        spec.replicas
    }
}

async fn reconcile(d: Arc<Deployment>, shared: Arc<Shared>) -> Result<Action, ClusterError> {
    let Some(open) = workload::open(d.as_ref(), &shared).await? else { return Ok(Action::await_change()) };
    let (ns, name, uid, spec, want, where_) = (open.ns, open.name, open.uid, open.spec, open.want, &open.where_);
    let pods: Vec<&Pod> = open.pods.iter().collect();
    let hash = template_hash(&spec.template);
    let plan = plan_rollout(want, &hash, Strategy::of(spec, want), &pods);
    let owner = super::pods::controller_ref("apps/v1", "Deployment", name, uid);
    for _ in 0..plan.create {
        create_pod(&shared, &open.pods_api, &spec.template, ns, name, &hash, owner.clone()).await?;
    }
    for pod in &plan.delete {
        open.delete_pod(pod).await?;
    }
    let RolloutPlan { replicas, updated, ready, .. } = plan;
    let status = deployment_status(&d, want, replicas, updated, ready);
    let key = format!("deployment/{uid}");
    if shared.status_needs_write(&key, &super::to_json(d.status.as_ref()), &status) {
        let api: Api<Deployment> = Api::namespaced(shared.client.clone(), ns);
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map_err(api_err(format!("{where_}: patch status")))?;
        shared.status_written(&key, &status);
    }
    // Pod and workload events trigger reconciles; the periodic one is only a safety net.
    Ok(Action::requeue(shared.opts.resync * 6))
}

/// What one reconcile does: pods to create and delete, and the counts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutPlan {
    /// Pods of the current template to create.
    pub create: usize,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    /// Pods after the changes (status.replicas).
    pub replicas: usize,
    /// Pods of the current template after the changes (status.updatedReplicas).
    pub updated: usize,
    /// Ready pods that remain (status.readyReplicas).
    pub ready: usize,
}

/// How a Deployment replaces the pods of an older template (`spec.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Delete every old pod first; create new ones once they are gone.
    Recreate,
    /// At most `want + max_surge` pods, and old pods removed only while at least `want - max_unavailable`
    /// stay Ready.
    RollingUpdate { max_surge: usize, max_unavailable: usize },
}

/// An int-or-percent of `want`: percentages round up for surge and down for unavailability, as the
/// real controller resolves them; unparseable values fall back to `default_pct`.
fn resolve(v: Option<&IntOrString>, want: usize, round_up: bool, default_pct: usize) -> usize {
    let pct = |p: usize| if round_up { (want * p).div_ceil(100) } else { want * p / 100 };
    match v {
        Some(IntOrString::Int(n)) => usize::try_from(*n).unwrap_or(0),
        Some(IntOrString::String(s)) => s.strip_suffix('%').and_then(|p| p.parse().ok()).map_or(pct(default_pct), pct),
        None => pct(default_pct),
    }
}

impl Strategy {
    /// The strategy of `spec` for `want` replicas (default RollingUpdate with 25% surge and 25%
    /// unavailable; both resolving to 0 means one may be unavailable, as the real controller does).
    pub fn of(spec: &DeploymentSpec, want: usize) -> Self {
        let strategy = spec.strategy.as_ref();
        if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
            return Strategy::Recreate;
        }
        let ru = strategy.and_then(|s| s.rolling_update.as_ref());
        let max_surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), want, true, 25);
        let mut max_unavailable = resolve(ru.and_then(|r| r.max_unavailable.as_ref()), want, false, 25);
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Strategy::RollingUpdate { max_surge, max_unavailable }
    }
}

/// Plans a reconcile of `pods` (the Deployment's active pods) towards `want` pods of template `hash`.
/// Pods of the current template are scaled to `want` (surplus deleted in [`sort_for_deletion`] order).
/// Old-template pods are replaced by `strategy`, with the real controller's arithmetic: new pods up to
/// `want + maxSurge` in all; unhealthy old pods removed up to `old + readyNew - minAvailable`, then
/// Ready old pods while more than `minAvailable = want - maxUnavailable` pods are Ready.
pub fn plan_rollout(want: usize, hash: &str, strategy: Strategy, pods: &[&Pod]) -> RolloutPlan {
    let (mut new, mut old): (Vec<&Pod>, Vec<&Pod>) = pods.iter().partition(|p| {
        p.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")).map(String::as_str) == Some(hash)
    });
    let mut delete = Vec::new();
    if new.len() > want {
        sort_for_deletion(&mut new);
        delete.extend(new.drain(..new.len() - want).filter_map(|p| p.metadata.name.clone()));
    }
    let missing = want - new.len();
    let create = match strategy {
        _ if old.is_empty() => missing,
        Strategy::Recreate => {
            delete.extend(old.drain(..).filter_map(|p| p.metadata.name.clone()));
            0
        }
        Strategy::RollingUpdate { max_surge, max_unavailable } => {
            let create = missing.min((want + max_surge).saturating_sub(new.len() + old.len()));
            let min_available = want.saturating_sub(max_unavailable);
            let ready_new = new.iter().filter(|p| is_ready(p)).count();
            let ready_old = old.iter().filter(|p| is_ready(p)).count();
            let mut unhealthy_budget = (old.len() + ready_new).saturating_sub(min_available);
            let mut ready_budget = (ready_new + ready_old).saturating_sub(min_available);
            sort_for_deletion(&mut old);
            let mut kept = Vec::new();
            for p in old.drain(..) {
                let budget = if is_ready(p) { &mut ready_budget } else { &mut unhealthy_budget };
                if *budget > 0 {
                    *budget -= 1;
                    delete.extend(p.metadata.name.clone());
                } else {
                    kept.push(p);
                }
            }
            old = kept;
            create
        }
    };
    let ready = new.iter().chain(old.iter()).filter(|p| is_ready(p)).count();
    RolloutPlan { create, delete, replicas: new.len() + old.len() + create, updated: new.len() + create, ready }
}

async fn create_pod(
    shared: &Shared,
    api: &Api<Pod>,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    ns: &str,
    deployment: &str,
    hash: &str,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Result<(), ClusterError> {
    // A name clash (same random suffix) is retried with a fresh suffix, as generateName would.
    for _ in 0..5 {
        let name =
            format!("{deployment}-{hash}-{}", shared.with_rng(&format!("deployment/{ns}/{deployment}"), name_suffix));
        let pod = pod_from_template(template, ns, &name, &[("pod-template-hash", hash)], owner.clone());
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 409) => continue,
            Err(e) => return Err(api_err(format!("deployment {ns}/{deployment}: create pod {name}"))(e)),
        }
    }
    Err(ClusterError::Invalid(format!("deployment {ns}/{deployment}: five pod name clashes in a row")))
}

/// The status the real controller would write for these counts (no minReadySeconds: Ready is Available).
fn deployment_status(d: &Deployment, want: usize, replicas: usize, updated: usize, ready: usize) -> Value {
    // maxUnavailable defaults to 25% of the target, rounded down.
    let max_unavailable = want / 4;
    let available_ok = ready + max_unavailable >= want;
    let complete = updated == want && ready >= want && replicas == want;
    let conditions = vec![
        (
            "Available",
            if available_ok { "True" } else { "False" },
            if available_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
            if available_ok {
                "Deployment has minimum availability."
            } else {
                "Deployment does not have minimum availability."
            },
        ),
        (
            "Progressing",
            "True",
            if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
            if complete { "Deployment has successfully progressed." } else { "Deployment is progressing." },
        ),
    ];
    let previous = d.status.as_ref().and_then(|s| s.conditions.as_ref()).map(serde_json::to_value);
    let previous = previous.and_then(Result::ok).unwrap_or(Value::Null);
    let mut status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(0),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": want.saturating_sub(ready),
        "conditions": conditions_with_times(&previous, &conditions, true),
    });
    // The real controller omits zero counts (omitempty); null removes them in a merge patch.
    super::zero_counts_to_null(&mut status);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, hash: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"pod-template-hash": hash}},
            "spec": {"containers": [], "nodeName": "n"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("pod")
    }

    const DEFAULT_4: Strategy = Strategy::RollingUpdate { max_surge: 1, max_unavailable: 1 };

    #[test]
    fn strategy_defaults_and_percentages() {
        let spec = |v: serde_json::Value| -> DeploymentSpec { serde_json::from_value(v).expect("spec") };
        let base = json!({"selector": {}, "template": {}});
        assert_eq!(Strategy::of(&spec(base.clone()), 4), DEFAULT_4);
        assert_eq!(Strategy::of(&spec(base.clone()), 2), Strategy::RollingUpdate { max_surge: 1, max_unavailable: 0 });
        let mut v = base.clone();
        v["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        assert_eq!(Strategy::of(&spec(v), 3), Strategy::RollingUpdate { max_surge: 0, max_unavailable: 1 });
        let mut v = base;
        v["strategy"] = json!({"type": "Recreate"});
        assert_eq!(Strategy::of(&spec(v), 3), Strategy::Recreate);
    }

    #[test]
    fn scales_up_and_down_the_current_template() {
        let pods = [pod("a", "h1", true), pod("b", "h1", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let up = plan_rollout(4, "h1", DEFAULT_4, &refs);
        assert_eq!((up.create, up.delete.len(), up.replicas, up.updated, up.ready), (2, 0, 4, 4, 1));
        let down = plan_rollout(1, "h1", DEFAULT_4, &refs);
        assert_eq!(down.delete, ["b"], "the not-ready pod goes first");
        assert_eq!((down.create, down.replicas, down.ready), (0, 1, 1));
    }

    #[test]
    fn rolling_update_respects_surge_and_availability() {
        let strategy = Strategy::RollingUpdate { max_surge: 1, max_unavailable: 0 };
        let pods = [pod("old1", "h1", true), pod("old2", "h1", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let start = plan_rollout(2, "h2", strategy, &refs);
        assert_eq!((start.create, start.delete.len(), start.replicas, start.updated), (1, 0, 3, 1));
        let pods = [pod("old1", "h1", true), pod("old2", "h1", true), pod("new1", "h2", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let waiting = plan_rollout(2, "h2", strategy, &refs);
        assert_eq!((waiting.create, waiting.delete.len()), (0, 0), "no Ready new pod yet: nothing goes");
        let pods = [pod("old1", "h1", true), pod("old2", "h1", true), pod("new1", "h2", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let step = plan_rollout(2, "h2", strategy, &refs);
        assert_eq!((step.create, step.delete.len(), step.replicas, step.updated), (0, 1, 2, 1));
    }

    #[test]
    fn max_unavailable_frees_capacity_when_new_pods_cannot_start() {
        // Four GPUs all busy: with maxUnavailable 1 one old pod goes even though no new pod is Ready.
        let pods = [pod("o1", "h1", true), pod("o2", "h1", true), pod("o3", "h1", true), pod("o4", "h1", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let plan = plan_rollout(4, "h2", DEFAULT_4, &refs);
        assert_eq!((plan.create, plan.delete.len(), plan.replicas), (1, 1, 4));
    }

    #[test]
    fn recreate_deletes_old_pods_before_creating() {
        let pods = [pod("o1", "h1", true), pod("o2", "h1", false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let plan = plan_rollout(2, "h2", Strategy::Recreate, &refs);
        assert_eq!((plan.create, plan.delete.len(), plan.replicas, plan.updated), (0, 2, 0, 0));
        let plan = plan_rollout(2, "h2", Strategy::Recreate, &[]);
        assert_eq!(plan.create, 2);
    }
}
