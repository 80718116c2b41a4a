//! The kubelets of every node, as one loop: a pod bound to a node is reported started (Pending,
//! PodScheduled, containers creating) at once and Running and Ready after its start-up delay (the model
//! load). It also does the node-side clean-up the real cluster does elsewhere: pods whose node is gone
//! are deleted (pod garbage collection), pods that do not tolerate a NoExecute taint of their node are
//! evicted (taint manager; `tolerationSeconds` is not honoured: eviction is immediate), and pods being
//! deleted are finished off (the kubelet's final zero-grace delete).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::cache::{Cache, Needs, Pass, Progress};
use super::pods::{is_active, is_ready, node_name};
use super::predicates::untolerated_taint;
use super::well_known::SANDBOX_STARTUP_DELAY_ANNOTATION;
use super::{ClusterError, Shared, api_err, is_status, now_rfc3339};

/// The kubelet loop's state.
pub struct Kubelet {
    shared: Arc<Shared>,
    cache: Cache,
    /// Pod uid → when this kubelet first saw it bound (start of its start-up delay).
    started: HashMap<String, Instant>,
    /// Pods already reported Ready, so a stale cache does not repeat the write.
    reported_ready: HashSet<String>,
    /// Pods already deleted.
    deleted: HashSet<String>,
}

/// The start-up delay of `pod`: its annotation in milliseconds, else `default`.
pub fn startup_delay(pod: &Pod, default: Duration) -> Duration {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SANDBOX_STARTUP_DELAY_ANNOTATION))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// A stable, fake pod IP derived from the uid.
fn pod_ip(uid: &str) -> String {
    let h = uid.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.{}.{}.{}", 64 + (h >> 16) % 64, (h >> 8) & 0xff, (h & 0xfe).max(2))
}

fn node_ip(node: Option<&Node>) -> Value {
    node.and_then(|n| n.status.as_ref())
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map_or(Value::Null, |a| Value::String(a.address.clone()))
}

/// The status a kubelet reports for `pod`: started (containers creating) or Running and Ready.
fn pod_status(pod: &Pod, node: Option<&Node>, ready: bool, start_time: &str) -> Value {
    let now = now_rfc3339();
    let flag = if ready { "True" } else { "False" };
    let not_ready_reason = if ready { Value::Null } else { Value::String("ContainersNotReady".into()) };
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            let state = if ready {
                json!({"running": {"startedAt": now}})
            } else {
                json!({"waiting": {"reason": "ContainerCreating"}})
            };
            json!({"name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                   "ready": ready, "started": ready, "restartCount": 0, "state": state})
        })
        .collect();
    let cond =
        |t: &str, s: &str, reason: &Value| json!({"type": t, "status": s, "reason": reason, "lastTransitionTime": now});
    json!({"status": {
        "phase": if ready { "Running" } else { "Pending" },
        "hostIP": node_ip(node),
        "podIP": if ready { Value::String(pod_ip(pod.metadata.uid.as_deref().unwrap_or(""))) } else { Value::Null },
        "startTime": start_time,
        "conditions": [
            cond("PodScheduled", "True", &Value::Null),
            cond("Initialized", "True", &Value::Null),
            cond("ContainersReady", flag, &not_ready_reason),
            cond("Ready", flag, &not_ready_reason),
        ],
        "containerStatuses": containers,
    }})
}

/// What one pass did to one pod.
enum Outcome {
    Nothing,
    Ready,
    Deleted,
}

impl Kubelet {
    pub(crate) fn new(shared: Arc<Shared>, cache: Cache) -> Self {
        Kubelet { shared, cache, started: HashMap::new(), reported_ready: HashSet::new(), deleted: HashSet::new() }
    }

    async fn patch_status(&self, pod: &Pod, status: &Value) -> Result<(), ClusterError> {
        let (Some(ns), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else { return Ok(()) };
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        match api.patch_status(name, &PatchParams::default(), &Patch::Strategic(status)).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("report status of pod {ns}/{name}"))(e)),
        }
    }

    async fn delete(&self, pod: &Pod, why: &str) -> Result<(), ClusterError> {
        let (Some(ns), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else { return Ok(()) };
        tracing::debug!(pod = %format!("{ns}/{name}"), "{why}");
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        match api.delete(name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("delete pod {ns}/{name} ({why})"))(e)),
        }
    }

    /// Whether the node is really gone (the cache may lag behind a node that was just created).
    async fn node_gone(&self, node: &str) -> Result<bool, ClusterError> {
        let api: Api<Node> = Api::all(self.shared.client.clone());
        api.get_opt(node).await.map(|n| n.is_none()).map_err(api_err(format!("get node {node}")))
    }
}

impl Pass for Kubelet {
    const NAME: &'static str = "kubelet";
    const NEEDS: Needs = Needs::PodsAndNodes;

    async fn pass(&mut self) -> Result<Option<Instant>, ClusterError> {
        let pods = self.cache.pods.state();
        let nodes: HashMap<String, Arc<Node>> =
            self.cache.nodes.state().into_iter().filter_map(|n| n.metadata.name.clone().map(|k| (k, n))).collect();
        let live: HashSet<&str> = pods.iter().filter_map(|p| p.metadata.uid.as_deref()).collect();
        self.started.retain(|uid, _| live.contains(uid.as_str()));
        self.reported_ready.retain(|uid| live.contains(uid.as_str()));
        self.deleted.retain(|uid| live.contains(uid.as_str()));

        let now = Instant::now();
        let mut progress = Progress::default();
        for pod in &pods {
            let (Some(uid), Some(node)) = (pod.metadata.uid.clone(), node_name(pod)) else { continue };
            if self.deleted.contains(&uid) {
                continue;
            }
            let node_obj = nodes.get(node).map(AsRef::as_ref);
            let result = if pod.metadata.deletion_timestamp.is_some() {
                self.delete(pod, "finish termination").await.map(|()| Outcome::Deleted)
            } else if !is_active(pod) {
                Ok(Outcome::Nothing)
            } else if node_obj.is_none() {
                match self.node_gone(node).await {
                    Ok(true) => self.delete(pod, "its node is gone").await.map(|()| Outcome::Deleted),
                    Ok(false) => Ok(Outcome::Nothing),
                    Err(e) => Err(e),
                }
            } else if let Some(taint) =
                node_obj.and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).and_then(|taints| {
                    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
                    untolerated_taint(&tolerations, taints).filter(|t| t.effect == "NoExecute").cloned()
                })
            {
                self.delete(pod, &format!("evicted by NoExecute taint {}", taint.key)).await.map(|()| Outcome::Deleted)
            } else if is_ready(pod) || self.reported_ready.contains(&uid) {
                Ok(Outcome::Nothing)
            } else {
                let start_time = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map_or_else(now_rfc3339, |t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                let first_seen = match self.started.get(&uid) {
                    Some(t) => Ok(*t),
                    None => self.patch_status(pod, &pod_status(pod, node_obj, false, &start_time)).await.map(|()| now),
                };
                match first_seen {
                    Ok(t) => {
                        self.started.insert(uid.clone(), t);
                        let due = super::later(t, startup_delay(pod, self.shared.opts.startup_delay));
                        if due <= now {
                            let ready = pod_status(pod, node_obj, true, &start_time);
                            self.patch_status(pod, &ready).await.map(|()| Outcome::Ready)
                        } else {
                            progress.due(due);
                            Ok(Outcome::Nothing)
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            match progress.keep(result) {
                Some(Outcome::Deleted) => {
                    self.deleted.insert(uid);
                }
                Some(Outcome::Ready) => {
                    self.reported_ready.insert(uid);
                }
                Some(Outcome::Nothing) | None => {}
            }
        }
        progress.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_delay_annotation_overrides_the_default() {
        let mut pod = Pod::default();
        assert_eq!(startup_delay(&pod, Duration::from_secs(3)), Duration::from_secs(3));
        pod.metadata.annotations =
            Some([(SANDBOX_STARTUP_DELAY_ANNOTATION.to_string(), "250".to_string())].into_iter().collect());
        assert_eq!(startup_delay(&pod, Duration::from_secs(3)), Duration::from_millis(250));
    }

    #[test]
    fn pod_ips_are_stable() {
        assert_eq!(pod_ip("abc"), pod_ip("abc"));
        assert!(pod_ip("abc").starts_with("10."));
    }
}
