//! The objects a platform team would apply for one pool, shaped like config/samples but small and
//! fast: a CostPolicy with short tick and stabilisation windows, an InferencePool over three
//! Deployments (reserved, spot, on-demand; 1 GPU per replica) pinned by node affinity to three
//! Karpenter NodePools of 1-GPU nodes, and an HTTPRoute with the self-hosted and the external backend.
//!
//! Load signals: the pool reads its total demand from gateway-level series that the harness serves
//! through the exporter's extra gauges (`gateway_requests_per_second`, `gateway_prompt_tokens_per_second`,
//! `gateway_generation_tokens_per_second`), configured as `spec.metrics.queries.requestRate`,
//! `promptTokenRate` and `generationTokenRate`. vLLM's own counters only see the self-hosted share, and
//! nothing at all once every request goes external: without a gateway signal a pool scaled to zero
//! could never see its load come back. Latency, queue and GPU series stay vLLM's and DCGM's.

use super::target::{ClusterTarget, NodeClassRef};

/// Model name (the exporter's `model_name` label).
pub const MODEL: &str = "llm";
/// The HTTPRoute and its backends.
pub const ROUTE: &str = "llm";
pub const SELF_BACKEND: &str = "llm-vllm";
pub const EXTERNAL_BACKEND: &str = "llm-external";
/// Deployments per class, in planner class order (reserved, spot, on-demand).
pub const DEPLOYMENTS: [&str; 3] = ["llm-reserved", "llm-spot", "llm-ondemand"];
/// NodePools per class on the sandbox (each scenario has its own server, so fixed names do not collide).
pub const NODEPOOLS: [&str; 3] = ["gpu-reserved", "gpu-spot", "gpu-ondemand"];
/// Label on every object a scenario creates outside its namespace (NodePools) and on its namespace, with
/// the namespace as value: what the clean-up deletes, and what `kubectl delete ns,nodepools -l` finds
/// after an interrupted run.
pub const RUN_LABEL: &str = "e2e.hybridscale.dev/run";
/// The image of the replicas on the sandbox (never pulled there).
pub const SANDBOX_IMAGE: &str = "vllm/vllm-openai:v0.6.0";

/// Where the replicas run.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The class NodePools (reserved, spot, on-demand) of 1-GPU nodes the replicas are pinned to, each
    /// replica asking for one GPU; `None`: plain pods without GPU on the nodes that exist, and the pool
    /// references no node pool.
    pub node_pools: Option<[String; 3]>,
    /// Karpenter's `nodeClassRef` for those NodePools (a real Karpenter requires one).
    pub node_class: Option<NodeClassRef>,
    /// `karpenter.sh/capacity-type` of each class NodePool.
    pub capacity_types: [String; 3],
    pub image: String,
}

impl Placement {
    /// The sandbox's: the fixed NodePool names, the vLLM image (the simulated kubelet never pulls it).
    pub fn sandbox() -> Placement {
        Placement {
            node_pools: Some(NODEPOOLS.map(String::from)),
            node_class: None,
            capacity_types: ["reserved", "spot", "on-demand"].map(String::from),
            image: SANDBOX_IMAGE.into(),
        }
    }

    /// A cluster's: NodePools named after the namespace (they are cluster-scoped and scenarios share the
    /// cluster), if the cluster may have them.
    pub fn cluster(ns: &str, c: &ClusterTarget) -> Placement {
        let node_pools = c.node_pools.then(|| ["reserved", "spot", "ondemand"].map(|k| format!("{ns}-{k}")));
        Placement {
            node_pools,
            node_class: c.node_class.clone(),
            capacity_types: [c.reserved_capacity_type.clone(), "spot".into(), "on-demand".into()],
            image: c.image.clone(),
        }
    }
}

/// Knobs of one scenario's objects.
#[derive(Clone, Debug)]
pub struct Setup {
    /// `Enforce` or `Recommend`.
    pub mode: &'static str,
    pub tick_seconds: u32,
    pub stabilization_seconds: u32,
    pub max_step_replicas: u32,
    pub idle_seconds: u32,
    /// External API price per million input and output tokens.
    pub external_usd_per_m: (f64, f64),
    /// (min, max) replicas per class.
    pub class_bounds: [(u32, u32); 3],
    /// Replicas each Deployment starts with.
    pub initial: [u32; 3],
    /// The planner's lead time per replica (spec.startupSeconds, nodeProvisionSeconds).
    pub startup_seconds: u32,
    pub node_provision_seconds: u32,
    /// Requests per second one replica serves within the SLO (also the exporter's pod capacity).
    pub replica_rps: f64,
    /// What an exporter pod really completes, when it is not `replica_rps` (a wrong belief).
    pub pod_capacity_rps: Option<f64>,
    /// spec.replicaCapacity.learnFromMetrics.
    pub learn_from_metrics: bool,
    pub spare_spot_replicas: u32,
    pub max_spot_fraction: f64,
    /// spec.metrics.maxAgeSeconds.
    pub signal_max_age_seconds: u32,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            mode: "Enforce",
            tick_seconds: 5,
            stabilization_seconds: 10,
            max_step_replicas: 10,
            idle_seconds: 3600,
            external_usd_per_m: (2.68, 3.54),
            class_bounds: [(0, 1), (0, 4), (0, 4)],
            initial: [1, 0, 0],
            startup_seconds: 2,
            node_provision_seconds: 1,
            replica_rps: 5.0,
            pod_capacity_rps: None,
            learn_from_metrics: false,
            spare_spot_replicas: 0,
            max_spot_fraction: 1.0,
            signal_max_age_seconds: 15,
        }
    }
}

fn gateway_query(metric: &str, ns: &str) -> String {
    format!("sum({metric}{{namespace=\"{ns}\",route=\"{ROUTE}\"}})")
}

/// Every object of the scenario, as one multi-document YAML string (namespace first).
pub fn manifests(ns: &str, s: &Setup, place: &Placement) -> String {
    let mut docs =
        vec![format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels: {{{RUN_LABEL}: {ns}}}\n")];
    docs.push(format!(
        r#"apiVersion: hybridscale.dev/v1alpha1
kind: CostPolicy
metadata:
  name: e2e
  namespace: {ns}
spec:
  mode: {mode}
  gpuPrices:
    reserved: {{usdPerGpuHour: 7.37}}
    spot: {{usdPerGpuHour: 3.23}}
    onDemand: {{usdPerGpuHour: 12.29}}
  externalPrices: {{inputUsdPerMillionTokens: {ein}, outputUsdPerMillionTokens: {eout}}}
  slo: {{latencySeconds: 20, targetAttainment: 0.99}}
  spot: {{maxFraction: {frac}, spareReplicas: {spare}, interruptionsPerHourThreshold: 1000}}
  external: {{allowed: true, maxShare: 1.0}}
  scaleDown: {{stabilizationSeconds: {stab}, maxStepReplicas: {step}}}
  idleReclaim: {{enabled: true, utilizationThreshold: 0.1, idleSeconds: {idle}}}
  tickSeconds: {tick}
"#,
        mode = s.mode,
        ein = s.external_usd_per_m.0,
        eout = s.external_usd_per_m.1,
        frac = s.max_spot_fraction,
        spare = s.spare_spot_replicas,
        stab = s.stabilization_seconds,
        step = s.max_step_replicas,
        idle = s.idle_seconds,
        tick = s.tick_seconds,
    ));
    let class_names = ["reserved", "spot", "onDemand"];
    let mut capacity = String::new();
    for i in 0..3 {
        let (min, max) = s.class_bounds[i];
        let node_pool_ref = match &place.node_pools {
            Some(nps) => format!("      nodePoolRef: {{kind: NodePool, name: {}, gpusPerNode: 1}}\n", nps[i]),
            None => String::new(),
        };
        capacity.push_str(&format!(
            "    {cls}:\n      scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {dep}}}\n\
             {node_pool_ref}      minReplicas: {min}\n      maxReplicas: {max}\n      nodeProvisionSeconds: {prov}\n",
            cls = class_names[i],
            dep = DEPLOYMENTS[i],
            prov = s.node_provision_seconds,
        ));
    }
    docs.push(format!(
        r#"apiVersion: hybridscale.dev/v1alpha1
kind: InferencePool
metadata:
  name: {MODEL}
  namespace: {ns}
spec:
  model: {MODEL}
  costPolicyRef: {{name: e2e}}
  gpusPerReplica: 1
  replicaCapacity: {{requestsPerSecond: {rps}, learnFromMetrics: {learn}}}
  startupSeconds: {startup}
  minReplicas: 0
  maxReplicas: 12
  capacity:
{capacity}  route:
    httpRoute: {ROUTE}
    selfHostedBackend: {{kind: Service, name: {SELF_BACKEND}, port: 8000}}
    externalBackend: {{kind: Service, name: {EXTERNAL_BACKEND}, port: 443}}
  metrics:
    selector: {{model_name: {MODEL}, namespace: {ns}}}
    queries:
      requestRate: '{rq}'
      promptTokenRate: '{pq}'
      generationTokenRate: '{gq}'
    maxAgeSeconds: {age}
    timeoutSeconds: 2
  external:
    model: e2e/external-llm
    latencySeconds: 5
"#,
        rps = s.replica_rps,
        learn = s.learn_from_metrics,
        startup = s.startup_seconds,
        rq = gateway_query("gateway_requests_per_second", ns),
        pq = gateway_query("gateway_prompt_tokens_per_second", ns),
        gq = gateway_query("gateway_generation_tokens_per_second", ns),
        age = s.signal_max_age_seconds,
    ));
    for i in 0..3 {
        // Pinned to the class NodePool and asking for its GPU, or a plain pod with a token request.
        let placement = match &place.node_pools {
            Some(nps) => format!(
                "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            \
                 nodeSelectorTerms:\n            - matchExpressions: [{{key: karpenter.sh/nodepool, operator: In, \
                 values: [{}]}}]\n      tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]\n",
                nps[i]
            ),
            None => String::new(),
        };
        let resources = if place.node_pools.is_some() {
            r#"{limits: {nvidia.com/gpu: "1"}}"#
        } else {
            r#"{requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}"#
        };
        docs.push(format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {dep}
  namespace: {ns}
  labels: {{app: {dep}, pool: {MODEL}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {dep}}}
  template:
    metadata:
      labels: {{app: {dep}, pool: {MODEL}}}
    spec:
{placement}      containers:
      - name: vllm
        image: {image}
        resources: {resources}
"#,
            dep = DEPLOYMENTS[i],
            replicas = s.initial[i],
            image = place.image,
        ));
        let Some(nps) = &place.node_pools else { continue };
        let node_class = match &place.node_class {
            Some(c) => format!("      nodeClassRef: {{group: {}, kind: {}, name: {}}}\n", c.group, c.kind, c.name),
            None => String::new(),
        };
        docs.push(format!(
            r#"apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: {np}
  labels: {{{RUN_LABEL}: {ns}}}
  annotations: {{sandbox.hybridscale.dev/gpus-per-node: "1"}}
spec:
  limits: {{nvidia.com/gpu: "8"}}
  template:
    metadata:
      labels: {{gpu: h100}}
    spec:
{node_class}      requirements:
      - {{key: karpenter.sh/capacity-type, operator: In, values: [{ct}]}}
      taints:
      - {{key: nvidia.com/gpu, value: "true", effect: NoSchedule}}
"#,
            np = nps[i],
            ct = place.capacity_types[i],
        ));
    }
    docs.push(format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {ROUTE}
  namespace: {ns}
spec:
  parentRefs: [{{name: inference-gateway}}]
  rules:
  - backendRefs:
    - {{kind: Service, name: {SELF_BACKEND}, port: 8000, weight: 100}}
    - {{kind: Service, name: {EXTERNAL_BACKEND}, port: 443, weight: 0}}
"#
    ));
    docs.join("---\n")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::support::env::yaml_docs;

    fn cluster(node_pools: bool) -> ClusterTarget {
        ClusterTarget {
            kubeconfig: "/dev/null".into(),
            node_pools,
            node_class: Some(NodeClassRef {
                group: "karpenter.k8s.aws".into(),
                kind: "EC2NodeClass".into(),
                name: "gpu".into(),
            }),
            reserved_capacity_type: "on-demand".into(),
            image: "registry.k8s.io/pause:3.10".into(),
        }
    }

    fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
        docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    #[test]
    fn plain_pods_reference_no_node_pool_and_ask_for_no_gpu() {
        let place = Placement::cluster("e2e-x-1", &cluster(false));
        let docs = yaml_docs(&manifests("e2e-x-1", &Setup::default(), &place));
        assert!(of_kind(&docs, "NodePool").is_empty());
        let pool = of_kind(&docs, "InferencePool")[0];
        for class in ["reserved", "spot", "onDemand"] {
            assert!(pool["spec"]["capacity"][class].get("nodePoolRef").is_none(), "{class}: {pool}");
        }
        for d in of_kind(&docs, "Deployment") {
            let spec = &d["spec"]["template"]["spec"];
            assert!(spec.get("affinity").is_none() && spec.get("tolerations").is_none(), "{d}");
            assert!(spec["containers"][0]["resources"]["limits"].get("nvidia.com/gpu").is_none(), "{d}");
            assert_eq!(spec["containers"][0]["image"], "registry.k8s.io/pause:3.10");
        }
        assert_eq!(of_kind(&docs, "Namespace")[0]["metadata"]["labels"][RUN_LABEL], "e2e-x-1");
    }

    #[test]
    fn cluster_node_pools_are_named_and_labelled_after_the_namespace() {
        let place = Placement::cluster("e2e-x-1", &cluster(true));
        let docs = yaml_docs(&manifests("e2e-x-1", &Setup::default(), &place));
        let nps = of_kind(&docs, "NodePool");
        let names: Vec<&str> = nps.iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
        assert_eq!(names, ["e2e-x-1-reserved", "e2e-x-1-spot", "e2e-x-1-ondemand"]);
        for (np, ct) in nps.iter().zip(["on-demand", "spot", "on-demand"]) {
            assert_eq!(np["metadata"]["labels"][RUN_LABEL], "e2e-x-1");
            assert_eq!(np["spec"]["template"]["spec"]["nodeClassRef"]["kind"], "EC2NodeClass");
            assert_eq!(np["spec"]["template"]["spec"]["requirements"][0]["values"][0], ct);
        }
        let pool = of_kind(&docs, "InferencePool")[0];
        assert_eq!(pool["spec"]["capacity"]["spot"]["nodePoolRef"]["name"], "e2e-x-1-spot");
        let spot =
            of_kind(&docs, "Deployment").into_iter().find(|d| d["metadata"]["name"] == "llm-spot").expect("spot");
        let term = &spot["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0];
        assert_eq!(term["matchExpressions"][0]["values"][0], "e2e-x-1-spot");
        assert_eq!(spot["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "1");
    }
}
