//! Label, taint, annotation and resource names the simulated cluster reads and writes. Where a real
//! component owns the name (Karpenter, Cluster API, the AWS node termination handler, the cluster
//! autoscaler), the name is that component's, so the operator sees what it would see in a real cluster.

/// The extended resource the simulation schedules on (NVIDIA device plugin).
pub const GPU: &str = "nvidia.com/gpu";

/// Karpenter: label on every node a NodePool provisioned.
pub const KARPENTER_NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
/// Karpenter: capacity type label (`spot`, `on-demand`, `reserved`).
pub const KARPENTER_CAPACITY_TYPE_LABEL: &str = "karpenter.sh/capacity-type";
/// Karpenter: taint put on a node it is disrupting (consolidation, interruption, expiry).
pub const KARPENTER_DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";
/// Karpenter on AWS: GPU count of the instance type, usable as a template label or requirement.
pub const KARPENTER_GPU_COUNT_LABEL: &str = "karpenter.k8s.aws/instance-gpu-count";

/// Cluster API: label on the nodes of a MachineDeployment (propagated from its Machines).
pub const CAPI_DEPLOYMENT_LABEL: &str = "cluster.x-k8s.io/deployment-name";
/// Cluster API: cluster name label.
pub const CAPI_CLUSTER_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Cluster API: Machine template labels with this prefix are propagated to the Node.
pub const CAPI_NODE_LABEL_PREFIX: &str = "node.cluster.x-k8s.io/";
/// Cluster API: annotation marking a Machine to delete first on scale-down (read here from the Node,
/// since the simulation has no Machine objects).
pub const CAPI_DELETE_MACHINE_ANNOTATION: &str = "cluster.x-k8s.io/delete-machine";
/// Karpenter: annotation on a node (or a pod on it) that blocks voluntary disruption (consolidation).
pub const KARPENTER_DO_NOT_DISRUPT_ANNOTATION: &str = "karpenter.sh/do-not-disrupt";
/// Cluster autoscaler's Cluster API provider: GPU count per node for scale-from-zero.
pub const CAPI_GPU_COUNT_ANNOTATION: &str = "capacity.cluster-autoscaler.kubernetes.io/gpu-count";
/// Cluster autoscaler's Cluster API provider: node labels (`k=v,k2=v2`) for scale-from-zero.
pub const CAPI_LABELS_ANNOTATION: &str = "capacity.cluster-autoscaler.kubernetes.io/labels";
/// Cluster autoscaler's Cluster API provider: node taints (`k=v:Effect,k2=v2:Effect`) for scale-from-zero.
pub const CAPI_TAINTS_ANNOTATION: &str = "capacity.cluster-autoscaler.kubernetes.io/taints";

/// AWS node termination handler: taint it adds on a spot interruption notice (with `taintNode=true`).
pub const NTH_SPOT_TAINT: &str = "aws-node-termination-handler/spot-itn";

/// Sandbox-only: per-pool GPUs per node on a NodePool or MachineDeployment (overrides the other sources).
pub const SANDBOX_GPUS_PER_NODE_ANNOTATION: &str = "sandbox.hybridscale.dev/gpus-per-node";
/// Sandbox-only: set (any value) on a Node to deliver a spot interruption notice to it.
pub const SANDBOX_INTERRUPT_ANNOTATION: &str = "sandbox.hybridscale.dev/interrupt";
/// Sandbox-only: RFC 3339 time at which an interrupted node is terminated (written by the simulation).
pub const SANDBOX_TERMINATE_AT_ANNOTATION: &str = "sandbox.hybridscale.dev/terminate-at";
/// Sandbox-only: per-pod start-up (model load) delay in milliseconds, overriding the cluster default.
pub const SANDBOX_STARTUP_DELAY_ANNOTATION: &str = "sandbox.hybridscale.dev/startup-delay-ms";
/// Sandbox-only: Node condition type set while a spot interruption notice is pending. There is no
/// upstream Node condition for this (Karpenter records it on the NodeClaim), so the name is ours.
pub const SANDBOX_SPOT_CONDITION: &str = "SpotInterruption";

/// Labels that mark a node as spot capacity, for the seeded random interruptions.
pub const SPOT_LABELS: [(&str, &str); 3] = [
    (KARPENTER_CAPACITY_TYPE_LABEL, "spot"),
    ("node.kubernetes.io/lifecycle", "spot"),
    ("eks.amazonaws.com/capacityType", "SPOT"),
];

/// The scheduler name this simulation answers for (pods naming another scheduler are left alone).
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
