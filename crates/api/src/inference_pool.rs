//! `InferencePool`: one self-hosted model, the capacity it may run on, the route carrying its traffic
//! and the external API it may overflow to.
//!
//! Named `inferencepools.hybridscale.dev` (short name `hpool`) so it never clashes with the Gateway API
//! Inference Extension's `InferencePool` in `inference.networking.k8s.io`.

// kube's `printcolumn(...)` attributes repeat keys such as `type_`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod external;
mod metrics;

pub use external::{ExternalApi, ExternalProvider, ProviderHealth, provider_name};
pub use metrics::{MetricsSpec, PrometheusAuth, QueryOverrides, SecretKeyRef};
// The status and the names the planner and ledger share live in the core crate, without Kubernetes.
pub use hybridscale_core::status::pool::*;
pub use hybridscale_core::status::{
    CapacityClassName, MAX_PROVIDERS, NodePoolKind, PerClass, ProviderCost, ProviderHealthState, ProviderStatus,
};

/// One self-hosted model served by replicas on reserved, spot and on-demand GPU capacity, with an
/// external API it may overflow to.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "hybridscale.dev",
    version = "v1alpha1",
    kind = "InferencePool",
    namespaced,
    shortname = "hpool",
    category = "hybridscale",
    status = "InferencePoolStatus",
    doc = "InferencePool (inferencepools.hybridscale.dev, short name hpool) is one self-hosted model, the GPU capacity it may use per class, its HTTPRoute and the external API it may overflow to. Not the Gateway API Inference Extension's InferencePool (inferencepools.inference.networking.k8s.io), which shares the plural and may be this pool's self-hosted backend: `kubectl get inferencepools` resolves to one of the two groups, so name ours `kubectl get hpool`, `inferencepools.hybridscale.dev` or the category `hybridscale`.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model"),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Ready self-hosted replicas"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas",
        description = "Replicas the last plan asked for"
    ),
    printcolumn(
        name = "External%",
        type_ = "integer",
        json_path = ".status.traffic.externalWeight",
        description = "Share of traffic sent to the external API"
    ),
    printcolumn(
        name = "$/Hour",
        type_ = "number",
        json_path = ".status.cost.usdPerHour",
        description = "Current burn rate in USD per hour"
    ),
    printcolumn(
        name = "MTD",
        type_ = "number",
        json_path = ".status.cost.monthToDateUsd",
        description = "Month-to-date spend in USD"
    ),
    printcolumn(
        name = "RPS/Replica",
        type_ = "number",
        json_path = ".status.capacity.requestsPerSecondPerReplica",
        description = "Requests per second one replica is believed to serve within the SLO",
        priority = 1
    ),
    printcolumn(
        name = "Capacity",
        type_ = "string",
        json_path = ".status.capacity.source",
        description = "Where the capacity comes from: configured, token mix, learned",
        priority = 1
    ),
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.costPolicyRef.name", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("spec.minReplicas must not exceed spec.maxReplicas"))]
#[x_kube(validation = Rule::new("has(self.capacity.reserved) || has(self.capacity.spot) || has(self.capacity.onDemand)").message("spec.capacity needs at least one capacity class: reserved, spot or onDemand"))]
#[x_kube(validation = Rule::new("!has(self.route.externalBackend) || self.route.selfHostedBackend.name != self.route.externalBackend.name || self.route.selfHostedBackend.kind != self.route.externalBackend.kind").message("spec.route.selfHostedBackend and spec.route.externalBackend must be different backends"))]
#[x_kube(validation = Rule::new("!has(self.external) || !has(self.externalProviders)").message("set spec.external (one API behind spec.route.externalBackend) or spec.externalProviders (several, each with its backendRef), not both"))]
#[x_kube(validation = Rule::new("!has(self.external) || has(self.route.externalBackend)").message("spec.external needs spec.route.externalBackend: the route rule's backend reaching that API"))]
#[x_kube(validation = Rule::new("!has(self.externalProviders) || self.externalProviders.all(p, p.backendRef.name != self.route.selfHostedBackend.name || p.backendRef.kind != self.route.selfHostedBackend.kind)").message("an external provider's backendRef must not be spec.route.selfHostedBackend"))]
#[x_kube(validation = Rule::new("!has(self.externalProviders) || self.externalProviders.all(p, self.externalProviders.exists_one(q, q.backendRef.name == p.backendRef.name && q.backendRef.kind == p.backendRef.kind))").message("spec.externalProviders: each provider needs its own backendRef (two name the same backend)"))]
#[x_kube(validation = Rule::new("!has(self.externalProviders) || self.externalProviders.all(p, self.externalProviders.exists_one(q, q.name == p.name))").message("spec.externalProviders: provider names must be unique"))]
pub struct InferencePoolSpec {
    /// Model served by the replicas, e.g. meta-llama/Llama-3.1-70B-Instruct.
    #[schemars(length(min = 1, max = 253))]
    pub model: String,
    /// The CostPolicy (same namespace) this pool is planned under.
    pub cost_policy_ref: LocalObjectReference,
    /// Where replicas may run, per capacity class.
    pub capacity: CapacityClasses,
    /// GPUs one replica needs (tensor-parallel size times pipeline-parallel size).
    #[serde(default = "default_gpus_per_replica")]
    #[schemars(range(min = 1, max = 64))]
    pub gpus_per_replica: u32,
    /// Throughput one replica sustains within the latency SLO.
    pub replica_capacity: ReplicaCapacity,
    /// Seconds from a replica being asked for to it serving, when its node already exists
    /// (image pull, weight load, warm-up).
    #[serde(default = "default_startup_seconds")]
    #[schemars(range(min = 0, max = 7200))]
    pub startup_seconds: u32,
    /// Fewest self-hosted replicas across all classes. 0 lets the pool go cold with all traffic on
    /// the external API.
    #[serde(default)]
    #[schemars(range(min = 0, max = 10000))]
    pub min_replicas: u32,
    /// Most self-hosted replicas across all classes.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 0, max = 10000))]
    pub max_replicas: u32,
    /// The HTTPRoute whose backend weights split traffic between self-hosted and external.
    pub route: RouteSpec,
    /// Where load signals come from.
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// The external API this model overflows to, behind spec.route.externalBackend. For several
    /// providers use externalProviders instead (not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalApi>,
    /// Several external APIs this model may overflow to, each with its own backend of the route rule,
    /// prices, limits and latency: the planner fills the external share cheapest first within each
    /// one's limits and moves share away from one whose errors or latency go bad. At most 8, unique
    /// names and backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub external_providers: Vec<ExternalProvider>,
    /// When a provider counts as unhealthy (for externalProviders; the single external form too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_health: Option<ProviderHealth>,
}

impl InferencePoolSpec {
    /// The pool's external providers, the single `external` form as a list of one; empty without any.
    pub fn providers(&self) -> Vec<ExternalProvider> {
        match (&self.external, &self.route.external_backend) {
            (Some(api), Some(backend)) if self.external_providers.is_empty() => {
                vec![ExternalProvider::from_single(api, backend)]
            }
            _ => self.external_providers.clone(),
        }
    }
}

fn default_gpus_per_replica() -> u32 {
    1
}
fn default_startup_seconds() -> u32 {
    300
}
fn default_max_replicas() -> u32 {
    10
}

/// Reference to an object by name in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The capacity classes a pool may use. Reserved is used first, then spot, then on-demand.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityClasses {
    /// Reserved (committed) capacity: already paid for, used first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<CapacityClass>,
    /// Spot (interruptible) capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<CapacityClass>,
    /// On-demand capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<CapacityClass>,
}

impl CapacityClasses {
    /// The configured class of a given name.
    pub fn get(&self, name: CapacityClassName) -> Option<&CapacityClass> {
        match name {
            CapacityClassName::Reserved => self.reserved.as_ref(),
            CapacityClassName::Spot => self.spot.as_ref(),
            CapacityClassName::OnDemand => self.on_demand.as_ref(),
        }
    }
}

/// One capacity class: the workload whose replicas run on it and the node pool that provides its GPUs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxReplicas) || !has(self.minReplicas) || self.minReplicas <= self.maxReplicas").message("a capacity class's minReplicas must not exceed its maxReplicas"))]
pub struct CapacityClass {
    /// The workload (any object with a /scale subresource: Deployment, StatefulSet,
    /// LeaderWorkerSet, ...) whose replicas run on this class. Pin it to the class's nodes with node
    /// affinity or a node selector.
    pub scale_target_ref: ScaleTargetRef,
    /// The GPU node pool backing this class. Without it, replicas land on whatever nodes exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pool_ref: Option<NodePoolRef>,
    /// Fewest replicas on this class (e.g. the size of a reservation you want always used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub min_replicas: Option<u32>,
    /// Most replicas on this class (e.g. the size of the reservation, or a spot quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub max_replicas: Option<u32>,
    /// Seconds a new node of this class takes to join the cluster and be schedulable.
    #[serde(default = "default_node_provision_seconds")]
    #[schemars(range(min = 0, max = 7200))]
    pub node_provision_seconds: u32,
}

fn default_node_provision_seconds() -> u32 {
    180
}

/// A workload with a /scale subresource, like an HPA's scaleTargetRef.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API version of the target, e.g. apps/v1.
    #[serde(default = "default_apps_v1")]
    #[schemars(length(min = 1, max = 253))]
    pub api_version: String,
    /// Kind of the target, e.g. Deployment.
    #[serde(default = "default_deployment")]
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Name of the target in the pool's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

fn default_apps_v1() -> String {
    "apps/v1".into()
}
fn default_deployment() -> String {
    "Deployment".into()
}

/// A GPU node pool the operator resizes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolRef {
    /// NodePool (Karpenter, karpenter.sh/v1: the operator sets its nvidia.com/gpu limit) or
    /// MachineDeployment (Cluster API, cluster.x-k8s.io/v1beta1: the operator sets its replicas).
    pub kind: NodePoolKind,
    /// Name of the node pool.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of a MachineDeployment; defaults to the pool's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// GPUs on one node of this pool (used to turn GPU counts into node counts).
    #[serde(default = "default_gpus_per_node")]
    #[schemars(range(min = 1, max = 64))]
    pub gpus_per_node: u32,
}

fn default_gpus_per_node() -> u32 {
    8
}

/// What one replica sustains within the SLO: the operator's starting belief, which the token mix and
/// (with `learnFromMetrics`) the replicas' observed latency and queue refine every tick.
///
/// How to measure it: run vLLM's benchmark (`vllm bench serve`, formerly `benchmark_serving.py`)
/// against one replica at increasing request rates with your traffic's prompt and output lengths,
/// and take the highest rate whose latency at the SLO's quantile is still within the SLO. Its report
/// gives the three figures: request throughput (`requestsPerSecond`), total input tokens per second
/// (`promptTokensPerSecond`) and output tokens per second (`outputTokensPerSecond`). With both token
/// rates set, the capacity follows the live token mix: a request costs its prompt tokens over
/// `promptTokensPerSecond` plus its output tokens over `outputTokensPerSecond` seconds of a replica,
/// so long prompts (RAG, agents, code assistants) lower it as much as long outputs do.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.tokensPerSecond) && has(self.outputTokensPerSecond))").message("replicaCapacity: set outputTokensPerSecond only; tokensPerSecond is its deprecated older name"))]
pub struct ReplicaCapacity {
    /// Requests per second one replica serves within the latency SLO for the token mix it was
    /// measured with. Used as it is when the token rates below are not set or the live token mix is
    /// unknown, and as the cap when only one token rate is set.
    #[schemars(range(min = 0.001, max = 100000.0))]
    pub requests_per_second: f64,
    /// Prompt (prefill) tokens per second one replica processes within the SLO: the benchmark's
    /// input token throughput at the rate above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 100000000.0))]
    pub prompt_tokens_per_second: Option<f64>,
    /// Output (decode) tokens per second one replica generates within the SLO: the benchmark's
    /// output token throughput at the rate above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 10000000.0))]
    pub output_tokens_per_second: Option<f64>,
    /// Deprecated: the older name of outputTokensPerSecond, still read when that is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 10000000.0))]
    pub tokens_per_second: Option<f64>,
    /// Correct the capacity from what the replicas are seen to do: it falls when they are
    /// overloaded (latency over the SLO, or a queue they cannot clear within it) at the throughput
    /// they were given, and rises while they serve near the believed capacity with latency and queue
    /// to spare. The configured figures are the starting point, not a floor; `status.capacity` shows
    /// the figure believed now and the evidence behind it.
    #[serde(default)]
    pub learn_from_metrics: bool,
}

impl ReplicaCapacity {
    /// Output tokens per second, under its current or its deprecated name.
    pub fn output_tokens(&self) -> Option<f64> {
        self.output_tokens_per_second.or(self.tokens_per_second)
    }
}

/// The HTTPRoute and the two backends whose weights the operator sets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// Name of the HTTPRoute (gateway.networking.k8s.io/v1) in the pool's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub http_route: String,
    /// Index of the rule, within the route's rules, that carries this model's traffic.
    #[serde(default)]
    #[schemars(range(min = 0, max = 15))]
    pub rule_index: u32,
    /// The backend serving the self-hosted replicas: the model Service, or a Gateway API Inference
    /// Extension InferencePool (group inference.networking.k8s.io, kind InferencePool, no port) whose
    /// selector picks the pods of every class's scale target. Either way the operator sets the route's
    /// weights and scales the Deployments behind it.
    pub self_hosted_backend: BackendRef,
    /// The backend reaching the external API of spec.external (an egress Service, ExternalName or
    /// proxy). Unset with spec.externalProviders, whose providers name their own backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_backend: Option<BackendRef>,
}

/// A backendRef of an HTTPRoute rule, matched by group, kind and name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind != 'InferencePool' || self.group == 'inference.networking.k8s.io'").message("a backend of kind InferencePool is the Gateway API Inference Extension's: set group inference.networking.k8s.io"))]
#[x_kube(validation = Rule::new("self.group != 'inference.networking.k8s.io' || !has(self.port)").message("an Inference Extension InferencePool backend takes no port: the pool's targetPorts say where its pods listen"))]
pub struct BackendRef {
    /// API group of the backend; empty for core Services.
    #[serde(default)]
    #[schemars(length(max = 253))]
    pub group: String,
    /// Kind of the backend.
    #[serde(default = "default_service")]
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Name of the backend.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Port of the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

fn default_service() -> String {
    "Service".into()
}

/// The Gateway API Inference Extension's group and kind (`inference.networking.k8s.io/v1`, GA in v1.0).
pub const GIE_GROUP: &str = "inference.networking.k8s.io";
pub const GIE_KIND: &str = "InferencePool";

impl BackendRef {
    /// Whether this backend is a Gateway API Inference Extension InferencePool (not a Service).
    pub fn is_inference_extension_pool(&self) -> bool {
        self.group == GIE_GROUP && self.kind == GIE_KIND
    }
}
