//! Cluster API MachineDeployments (cluster.x-k8s.io/v1beta1): keep `spec.replicas` nodes (set directly
//! or through `/scale`), each registering after the provisioning delay, and report `status.replicas`,
//! `readyReplicas`, `availableReplicas`, `updatedReplicas`, `unavailableReplicas`, `observedGeneration`,
//! `phase` and `selector`. Scale-down removes launches in flight first, then empty nodes, then the least
//! loaded, newest first. Nodes of a deleted MachineDeployment are removed.
//!
//! A MachineDeployment's nodes carry `cluster.x-k8s.io/deployment-name=<name>`,
//! `cluster.x-k8s.io/cluster-name=<spec.clusterName>`, the template's `node.cluster.x-k8s.io/*` labels
//! (which Cluster API propagates to Nodes) and the cluster autoscaler's scale-from-zero annotations
//! `capacity.cluster-autoscaler.kubernetes.io/{labels,taints,gpu-count}`. GPUs per node: the option
//! [`pool_gpus_per_node`](super::ClusterOptions), then `sandbox.hybridscale.dev/gpus-per-node`, then
//! `capacity.cluster-autoscaler.kubernetes.io/gpu-count`, else the default.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::cache::{Cache, Needs, Pass, Progress, machine_deployment_resource};
use super::launcher::{Launcher, marked_for_removal, remove_node};
use super::pods::{is_active, node_name};
use super::predicates::NodeShape;
use super::scheduler::node_usable;
use super::sizing::{Member, trim_to_count};
use super::well_known::*;
use super::{ClusterError, ClusterOptions, Shared, api_err, is_status};

/// What the simulation reads from a MachineDeployment.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineDeploymentView {
    pub namespace: String,
    pub name: String,
    pub replicas: u64,
    /// The node each replica becomes.
    pub template: NodeShape,
}

fn annotation<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// Parses the autoscaler's `k=v:Effect,k2:Effect` taint list.
fn parse_taints(s: &str) -> Result<Vec<Taint>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (kv, effect) = t.rsplit_once(':').ok_or_else(|| format!("taint {t:?} has no :Effect"))?;
            let (key, value) = match kv.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (kv, None),
            };
            if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                return Err(format!("taint {t:?}: unknown effect {effect:?}"));
            }
            Ok(Taint { key: key.into(), value, effect: effect.into(), time_added: None })
        })
        .collect()
}

/// Reads a MachineDeployment object.
pub fn parse_machine_deployment(obj: &DynamicObject, opts: &ClusterOptions) -> Result<MachineDeploymentView, String> {
    let name = obj.metadata.name.clone().ok_or("machinedeployment without a name")?;
    let namespace = obj.metadata.namespace.clone().unwrap_or_default();
    let at = format!("machinedeployment {namespace}/{name}");
    let spec = &obj.data["spec"];
    let replicas = match &spec["replicas"] {
        Value::Null => 1,
        v => v.as_u64().ok_or_else(|| format!("{at}: spec.replicas: {v} is not a whole number"))?,
    };
    let mut labels = BTreeMap::new();
    if let Some(m) = spec["template"]["metadata"]["labels"].as_object() {
        for (k, v) in m {
            if let (true, Some(v)) = (k.starts_with(CAPI_NODE_LABEL_PREFIX), v.as_str()) {
                labels.insert(k.clone(), v.to_string());
            }
        }
    }
    if let Some(list) = annotation(obj, CAPI_LABELS_ANNOTATION) {
        for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{at}: annotation {CAPI_LABELS_ANNOTATION}: {pair:?} is not key=value"))?;
            labels.insert(k.to_string(), v.to_string());
        }
    }
    labels.insert(CAPI_DEPLOYMENT_LABEL.into(), name.clone());
    if let Some(cluster) = spec["clusterName"].as_str() {
        labels.insert(CAPI_CLUSTER_LABEL.into(), cluster.to_string());
    }
    let taints = annotation(obj, CAPI_TAINTS_ANNOTATION)
        .map(parse_taints)
        .transpose()
        .map_err(|e| format!("{at}: annotation {CAPI_TAINTS_ANNOTATION}: {e}"))?
        .unwrap_or_default();
    let count = |key: &str| -> Result<Option<u64>, String> {
        annotation(obj, key)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| format!("{at}: annotation {key}: {v:?} is not a whole number"))
            })
            .transpose()
    };
    let gpus = match opts.pool_gpus_per_node.get(&name) {
        Some(g) => *g,
        None => count(SANDBOX_GPUS_PER_NODE_ANNOTATION)?
            .or(count(CAPI_GPU_COUNT_ANNOTATION)?)
            .unwrap_or(opts.default_gpus_per_node),
    };
    let template = NodeShape { name: String::new(), labels, taints, unschedulable: false, gpus };
    Ok(MachineDeploymentView { namespace, name, replicas, template })
}

/// The MachineDeployment loop's state.
pub struct MachineDeployments {
    shared: Arc<Shared>,
    cache: Cache,
    launcher: Launcher,
    removed: HashSet<String>,
}

impl MachineDeployments {
    pub(crate) fn new(shared: Arc<Shared>, cache: Cache) -> Self {
        let launcher = Launcher::new(shared.clone());
        MachineDeployments { shared, cache, launcher, removed: HashSet::new() }
    }

    async fn remove(&mut self, node: &Node) -> Result<(), ClusterError> {
        let Some(name) = node.metadata.name.clone() else { return Ok(()) };
        tracing::info!(node = %name, "cluster-api: removing node");
        if remove_node(&self.shared.client, node, None, false).await? {
            self.removed.insert(name);
        }
        Ok(())
    }

    async fn write_status(
        &self,
        obj: &DynamicObject,
        md: &MachineDeploymentView,
        replicas: usize,
        ready: usize,
    ) -> Result<(), ClusterError> {
        let want = md.replicas as usize;
        let phase = if replicas > want {
            "ScalingDown"
        } else if replicas < want || ready < want {
            "ScalingUp"
        } else {
            "Running"
        };
        let selector = obj.data["spec"]["selector"]["matchLabels"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}"))).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| format!("{CAPI_DEPLOYMENT_LABEL}={}", md.name));
        let status = json!({
            "observedGeneration": obj.metadata.generation.unwrap_or(0),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": replicas.saturating_sub(ready),
            "phase": phase,
            "selector": selector,
        });
        let key = format!("machinedeployment/{}", obj.metadata.uid.as_deref().unwrap_or(&md.name));
        if !self.shared.status_needs_write(&key, &obj.data["status"], &status) {
            return Ok(());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.shared.client.clone(), &md.namespace, &machine_deployment_resource());
        match api.patch_status(&md.name, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await {
            Ok(_) => {
                self.shared.status_written(&key, &status);
                Ok(())
            }
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("machinedeployment {}/{}: patch status", md.namespace, md.name))(e)),
        }
    }
}

impl Pass for MachineDeployments {
    const NAME: &'static str = "cluster-api";
    const NEEDS: Needs = Needs::MachineDeployments;

    async fn pass(&mut self) -> Result<Option<Instant>, ClusterError> {
        let now = Instant::now();
        let (nodes, cached) = self.cache.nodes_and_names();
        self.removed.retain(|n| cached.contains(n));
        let mut progress = Progress::default();
        progress.keep(self.launcher.register_due(&cached, now).await);
        let mut pods_on: BTreeMap<String, usize> = BTreeMap::new();
        for p in self.cache.pods.state().iter().filter(|p| is_active(p)) {
            if let Some(n) = node_name(p) {
                *pods_on.entry(n.to_string()).or_default() += 1;
            }
        }
        let md_of = |n: &Node| n.metadata.labels.as_ref().and_then(|l| l.get(CAPI_DEPLOYMENT_LABEL)).cloned();
        let live: Vec<&Arc<Node>> = nodes
            .iter()
            .filter(|n| {
                n.metadata.deletion_timestamp.is_none()
                    && !self.removed.contains(n.metadata.name.as_deref().unwrap_or(""))
            })
            .collect();

        let mut objs = self.cache.machine_deployments.state();
        objs.sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
        let mut names = HashSet::new();
        for obj in objs.iter().filter(|o| o.metadata.deletion_timestamp.is_none()) {
            let md = match parse_machine_deployment(obj, &self.shared.opts) {
                Ok(md) => md,
                Err(e) => {
                    tracing::warn!("cluster-api: {e}");
                    continue;
                }
            };
            names.insert(md.name.clone());
            let mine: Vec<&Arc<Node>> =
                live.iter().copied().filter(|n| md_of(n).as_deref() == Some(md.name.as_str())).collect();
            let mut members: Vec<Member> = mine
                .iter()
                .map(|n| {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    Member {
                        pods: pods_on.get(&name).copied().unwrap_or(0),
                        gpus: NodeShape::of(n).gpus,
                        launching: false,
                        marked: marked_for_removal(n),
                        created_ms: n.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_millisecond()),
                        name,
                    }
                })
                .collect();
            members.extend(
                self.launcher.inflight.iter().filter(|l| l.pool == md.name && !cached.contains(&l.shape.name)).map(
                    |l| Member {
                        name: l.shape.name.clone(),
                        gpus: l.shape.gpus,
                        pods: 0,
                        launching: true,
                        marked: false,
                        created_ms: l.launched_ms,
                    },
                ),
            );
            let want = md.replicas as usize;
            let mut total = members.len();
            while total < want {
                tracing::info!(machinedeployment = %md.name, "cluster-api: launching a node");
                self.launcher.launch(&md.name, &md.template, &cached, now);
                total += 1;
            }
            for victim in trim_to_count(&members, want) {
                total -= 1;
                if self.launcher.cancel(&victim) {
                    continue;
                }
                if let Some(node) = mine.iter().find(|n| n.metadata.name.as_deref() == Some(victim.as_str())) {
                    let node = node.as_ref().clone();
                    progress.keep(self.remove(&node).await);
                }
            }
            let ready = mine
                .iter()
                .filter(|n| node_usable(n) && !self.removed.contains(n.metadata.name.as_deref().unwrap_or("")))
                .count();
            progress.keep(self.write_status(obj, &md, total, ready).await);
        }
        self.launcher.inflight.retain(|l| names.contains(&l.pool));
        let orphans: Vec<Node> =
            live.iter().filter(|n| md_of(n).is_some_and(|m| !names.contains(&m))).map(|n| n.as_ref().clone()).collect();
        for node in &orphans {
            progress.keep(self.remove(node).await);
        }
        progress.due(self.launcher.next_due());
        progress.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replicas_labels_taints_and_gpus() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
            "metadata": {"name": "md-a100", "namespace": "capi", "annotations": {
                "capacity.cluster-autoscaler.kubernetes.io/gpu-count": "8",
                "capacity.cluster-autoscaler.kubernetes.io/labels": "gpu=a100, tier=reserved",
                "capacity.cluster-autoscaler.kubernetes.io/taints": "nvidia.com/gpu=true:NoSchedule,dedicated:NoExecute"
            }},
            "spec": {"clusterName": "prod", "replicas": 3, "template": {"metadata": {"labels": {
                "node.cluster.x-k8s.io/pool": "a100", "other": "dropped"}}}}
        }))
        .expect("md");
        let md = parse_machine_deployment(&obj, &ClusterOptions::default()).expect("parse");
        assert_eq!((md.replicas, md.template.gpus), (3, 8));
        let l = &md.template.labels;
        assert_eq!(l.get("cluster.x-k8s.io/deployment-name").map(String::as_str), Some("md-a100"));
        assert_eq!(l.get("cluster.x-k8s.io/cluster-name").map(String::as_str), Some("prod"));
        assert_eq!(l.get("tier").map(String::as_str), Some("reserved"));
        assert_eq!(l.get("node.cluster.x-k8s.io/pool").map(String::as_str), Some("a100"));
        assert!(!l.contains_key("other"));
        let t: Vec<(&str, Option<&str>, &str)> =
            md.template.taints.iter().map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str())).collect();
        assert_eq!(t, [("nvidia.com/gpu", Some("true"), "NoSchedule"), ("dedicated", None, "NoExecute")]);
    }

    #[test]
    fn bad_taint_annotation_is_a_clear_error() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment",
            "metadata": {"name": "md", "namespace": "ns", "annotations": {
                "capacity.cluster-autoscaler.kubernetes.io/taints": "a=b:Sometimes"}},
            "spec": {"clusterName": "c"}
        }))
        .expect("md");
        let err = parse_machine_deployment(&obj, &ClusterOptions::default()).expect_err("bad");
        assert_eq!(
            err,
            "machinedeployment ns/md: annotation capacity.cluster-autoscaler.kubernetes.io/taints: taint \"a=b:Sometimes\": unknown effect \"Sometimes\""
        );
    }
}
