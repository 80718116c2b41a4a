//! Spot interruptions. A notice is requested by annotating a Node with
//! `sandbox.hybridscale.dev/interrupt` ([`interrupt_node`], or `kubectl annotate node N
//! sandbox.hybridscale.dev/interrupt=now`), or drawn at random for spot nodes at
//! [`ClusterOptions::spot_interruptions_per_node_hour`](super::ClusterOptions) from the seeded RNG.
//!
//! On a notice the node gets what a real cluster shows:
//! - the taint `aws-node-termination-handler/spot-itn:NoSchedule` and a cordon (`spec.unschedulable`),
//!   as the AWS node termination handler does with `taintNode: true` and `cordonOnly`;
//! - the taint `karpenter.sh/disrupted:NoSchedule`, as Karpenter's interruption controller does;
//! - a Node condition `SpotInterruption=True` (reason `SpotInterruptionNotice`; this condition is
//!   sandbox-only, no upstream component sets a Node condition for it);
//! - the annotation `sandbox.hybridscale.dev/terminate-at` with the termination time (RFC 3339).
//!
//! When the notice period has passed, the node's pods are deleted and the Node is deleted; the
//! workload controllers then replace the pods elsewhere. Pods keep running during the notice (as with
//! the termination handler's `cordonOnly`), so what the operator does within the notice is observable;
//! Karpenter and the handler's default would drain at once.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use rand::Rng;
use serde_json::json;
use tokio::time::Instant;

use super::cache::{Cache, Needs, Pass, Progress};
use super::launcher::{no_schedule_taint, remove_node};
use super::well_known::*;
use super::{ClusterError, Shared, api_err, is_status, now_rfc3339};

/// Delivers a spot interruption notice to `node`: the simulation taints it at once and terminates it
/// after the notice period.
pub async fn interrupt_node(client: &kube::Client, node: &str) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {SANDBOX_INTERRUPT_ANNOTATION: now_rfc3339()}}});
    api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(api_err(format!("interrupt node {node}")))
}

/// Whether the node is spot capacity by any of the usual labels.
pub fn is_spot(node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    SPOT_LABELS.iter().any(|(k, v)| labels.and_then(|l| l.get(*k)).is_some_and(|x| x == v))
}

fn annotation<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// The spot nodes (in the order given) that a Poisson process of `rate_per_sec` interruptions per node
/// interrupts during `dt` seconds: each with probability `1 - exp(-rate · dt)`, one draw per node.
pub fn draw_interruptions<'a>(candidates: &[&'a str], rate_per_sec: f64, dt: f64, rng: &mut impl Rng) -> Vec<&'a str> {
    if rate_per_sec <= 0.0 || dt <= 0.0 {
        return Vec::new();
    }
    let p = 1.0 - (-rate_per_sec * dt).exp();
    candidates.iter().copied().filter(|_| rng.random::<f64>() < p).collect()
}

/// The spot loop's state.
pub struct Spot {
    shared: Arc<Shared>,
    cache: Cache,
    /// Nodes already noticed or terminated (the cache may lag).
    noticed: HashSet<String>,
    terminated: HashSet<String>,
    /// Last time random interruptions were drawn.
    last_draw: Option<Instant>,
}

impl Spot {
    pub(crate) fn new(shared: Arc<Shared>, cache: Cache) -> Self {
        Spot { shared, cache, noticed: HashSet::new(), terminated: HashSet::new(), last_draw: None }
    }

    async fn notice(&self, node: &Node) -> Result<(), ClusterError> {
        let Some(name) = node.metadata.name.as_deref() else { return Ok(()) };
        let notice = self.shared.opts.interruption_notice;
        let at = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::try_from(notice).unwrap_or(jiff::SignedDuration::ZERO))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        tracing::info!(node = %name, terminate_at = %at, "spot interruption notice");
        let mut taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        for t in [no_schedule_taint(NTH_SPOT_TAINT, Some("true")), no_schedule_taint(KARPENTER_DISRUPTED_TAINT, None)] {
            if !taints.iter().any(|x| x.key == t.key && x.effect == t.effect) {
                taints.push(t);
            }
        }
        let api: Api<Node> = Api::all(self.shared.client.clone());
        let patch = json!({
            "metadata": {"annotations": {SANDBOX_TERMINATE_AT_ANNOTATION: at.to_string()}},
            "spec": {"unschedulable": true, "taints": taints},
        });
        match api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => return Ok(()),
            Err(e) => return Err(api_err(format!("taint interrupted node {name}"))(e)),
        }
        // Merge patch replaces lists, so send every condition with ours added.
        let mut conditions: Vec<serde_json::Value> = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.type_ != SANDBOX_SPOT_CONDITION)
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect()
            })
            .unwrap_or_default();
        conditions.push(json!({
            "type": SANDBOX_SPOT_CONDITION, "status": "True", "reason": "SpotInterruptionNotice",
            "message": format!("spot instance interruption notice: the node terminates at {at}"),
            "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339(),
        }));
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": conditions}})))
            .await
        {
            Ok(_) => {
                let message = format!("Spot instance interruption notice: the node terminates at {at}");
                let client = &self.shared.client;
                super::events::record(
                    client,
                    node,
                    "aws-node-termination-handler",
                    "Warning",
                    "SpotInterruption",
                    &message,
                )
                .await;
                Ok(())
            }
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_err(format!("set spot condition on node {name}"))(e)),
        }
    }
}

impl Pass for Spot {
    const NAME: &'static str = "spot";
    const NEEDS: Needs = Needs::PodsAndNodes;

    async fn pass(&mut self) -> Result<Option<Instant>, ClusterError> {
        let now = Instant::now();
        let (mut nodes, names) = self.cache.nodes_and_names();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        self.noticed.retain(|n| names.contains(n));
        self.terminated.retain(|n| names.contains(n));

        // Random interruptions: each spot node independently, as a Poisson process per node.
        let rate_per_sec = self.shared.opts.spot_interruptions_per_node_hour / 3600.0;
        let mut drawn = HashSet::new();
        if rate_per_sec > 0.0 {
            let dt = self.last_draw.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            self.last_draw = Some(now);
            let candidates: Vec<&str> = nodes
                .iter()
                .filter(|n| is_spot(n) && annotation(n, SANDBOX_INTERRUPT_ANNOTATION).is_none())
                .filter(|n| annotation(n, SANDBOX_TERMINATE_AT_ANNOTATION).is_none())
                .filter_map(|n| n.metadata.name.as_deref())
                .collect();
            let hit = self.shared.with_rng("spot", |rng| draw_interruptions(&candidates, rate_per_sec, dt, rng));
            drawn.extend(hit.into_iter().map(str::to_string));
        }

        let mut progress = Progress::default();
        let wall_now = jiff::Timestamp::now();
        for node in &nodes {
            let Some(name) = node.metadata.name.clone() else { continue };
            if self.terminated.contains(&name) || node.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let terminate_at =
                annotation(node, SANDBOX_TERMINATE_AT_ANNOTATION).and_then(|v| v.parse::<jiff::Timestamp>().ok());
            match terminate_at {
                Some(at) if at <= wall_now => {
                    tracing::info!(node = %name, "spot interruption: terminating node");
                    if progress.keep(remove_node(&self.shared.client, node, None, true).await).is_some() {
                        self.terminated.insert(name);
                    }
                }
                Some(at) => {
                    let left = wall_now.duration_until(at).unsigned_abs();
                    let due = super::later(now, left);
                    progress.due(due);
                }
                None => {
                    let requested = annotation(node, SANDBOX_INTERRUPT_ANNOTATION).is_some() || drawn.contains(&name);
                    if requested && !self.noticed.contains(&name) && progress.keep(self.notice(node).await).is_some() {
                        self.noticed.insert(name);
                        progress.due(super::later(now, self.shared.opts.interruption_notice));
                    }
                }
            }
        }
        progress.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn draws_are_seeded_and_follow_the_rate() {
        let nodes = ["a", "b", "c"];
        let mut r1 = ChaCha8Rng::seed_from_u64(5);
        let mut r2 = ChaCha8Rng::seed_from_u64(5);
        assert_eq!(draw_interruptions(&nodes, 0.5, 1.0, &mut r1), draw_interruptions(&nodes, 0.5, 1.0, &mut r2));
        assert!(draw_interruptions(&nodes, 0.0, 10.0, &mut r1).is_empty());
        assert_eq!(draw_interruptions(&nodes, 1e6, 1.0, &mut r1), nodes, "a huge rate interrupts every node");
        // 20,000 node-intervals at p = 1 - e^-0.1 ≈ 0.0952: expect about 1,903 (sd ≈ 41).
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let hits: usize = (0..10_000).map(|_| draw_interruptions(&["x", "y"], 1.0, 0.1, &mut rng).len()).sum();
        assert!((1_700..2_100).contains(&hits), "{hits}");
    }

    #[test]
    fn spot_labels() {
        let mut node = Node::default();
        assert!(!is_spot(&node));
        node.metadata.labels = Some([("karpenter.sh/capacity-type".to_string(), "spot".to_string())].into());
        assert!(is_spot(&node));
    }
}
