//! The objects a platform team would apply for one pool: the sample pool of config/samples (its
//! kustomization: namespace, CostPolicy, InferencePool, three Deployments pinned to three Karpenter
//! NodePools, the HTTPRoute with both backends), built into the binary and renamed for an e2e scenario or
//! `hybridscale demo`, made small and fast: short tick and stabilisation windows, 1 GPU per replica on
//! 1-GPU nodes, no budget (unless a scenario sets one).
//!
//! Load signals: the pool reads its total demand from gateway-level series that the harness serves
//! through the exporter's extra gauges (`gateway_requests_per_second`, `gateway_prompt_tokens_per_second`,
//! `gateway_generation_tokens_per_second`), configured as `spec.metrics.queries.requestRate`,
//! `promptTokenRate` and `generationTokenRate`. vLLM's own counters only see the self-hosted share, and
//! nothing at all once every request goes external: without a gateway signal a pool scaled to zero
//! could never see its load come back. Latency, queue and GPU series stay vLLM's and DCGM's.

use serde_json::{Value, json};

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

/// The Karpenter `nodeClassRef` of the pool's NodePools (a real Karpenter requires one).
#[derive(Clone, Debug)]
pub struct NodeClassRef {
    pub group: String,
    pub kind: String,
    pub name: String,
}

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
    /// cluster) of `node_class`, if the cluster may have them (`node_pools`), the reserved class's NodePool
    /// of `reserved_capacity_type`, replicas running `image`.
    pub fn cluster(
        ns: &str,
        node_pools: bool,
        node_class: Option<NodeClassRef>,
        reserved_capacity_type: &str,
        image: &str,
    ) -> Placement {
        let node_pools = node_pools.then(|| ["reserved", "spot", "ondemand"].map(|k| format!("{ns}-{k}")));
        Placement {
            node_pools,
            node_class,
            capacity_types: [reserved_capacity_type.into(), "spot".into(), "on-demand".into()],
            image: image.into(),
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
    /// The route's self-hosted backend is a Gateway API Inference Extension InferencePool (selecting every
    /// class's pods by their `pool` label) rather than the model Service.
    pub gie_backend: bool,
    /// spec.budget.monthlyUsd (action Alert: it never changes a plan); none by default.
    pub monthly_budget_usd: Option<f64>,
    /// Three external providers ([`super::providers`]), each behind its own route backend, instead of
    /// the single external API.
    pub providers: bool,
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
            gie_backend: false,
            monthly_budget_usd: None,
            providers: false,
        }
    }
}

fn gateway_query(metric: &str, ns: &str) -> String {
    format!("sum({metric}{{namespace=\"{ns}\",route=\"{ROUTE}\"}})")
}

/// config/samples, built into the binary so `hybridscale demo` runs anywhere.
const KUSTOMIZATION: &str = include_str!("../../config/samples/kustomization.yaml");
const SAMPLE_FILES: &[(&str, &str)] = &[
    ("namespace.yaml", include_str!("../../config/samples/namespace.yaml")),
    ("costpolicy.yaml", include_str!("../../config/samples/costpolicy.yaml")),
    ("inferencepool.yaml", include_str!("../../config/samples/inferencepool.yaml")),
    ("deployments.yaml", include_str!("../../config/samples/deployments.yaml")),
    ("nodepools.yaml", include_str!("../../config/samples/nodepools.yaml")),
    ("httproute.yaml", include_str!("../../config/samples/httproute.yaml")),
];

/// Split a multi-document YAML string (documents separated by `---` lines); comment-only documents are
/// skipped.
pub fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    text.split("\n---")
        .map(|d| d.trim_start_matches("---"))
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(|d| serde_saphyr::from_str::<Value>(d).map_err(|e| format!("YAML: {e}")))
        .collect()
}

/// The documents of config/samples/kustomization.yaml's resources, in its order.
pub fn samples() -> Result<Vec<Value>, String> {
    let kustomization = yaml_docs(KUSTOMIZATION)?.into_iter().next().unwrap_or_default();
    let resources = kustomization["resources"].as_array().cloned().unwrap_or_default();
    let mut docs = Vec::new();
    for r in resources {
        let name = r.as_str().unwrap_or_default();
        let (_, text) = SAMPLE_FILES
            .iter()
            .find(|(f, _)| *f == name)
            .ok_or_else(|| format!("config/samples/{name} is not built in: add it to SAMPLE_FILES"))?;
        docs.extend(yaml_docs(text).map_err(|e| format!("config/samples/{name}: {e}"))?);
    }
    Ok(docs)
}

/// Every object of the scenario, as one multi-document YAML string (namespace first): the samples with
/// the scenario's names and settings merged in (RFC 7386: `null` removes a field, lists are replaced).
pub fn manifests(ns: &str, s: &Setup, place: &Placement) -> String {
    let mut docs = Vec::new();
    let (mut deployments, mut node_pools) = (0, 0);
    for mut doc in samples().expect("config/samples is built in and parses (a unit test checks it)") {
        let patch = match doc["kind"].as_str().unwrap_or_default() {
            "Namespace" => json!({"metadata": {"name": ns, "labels": {RUN_LABEL: ns}}}),
            "CostPolicy" => cost_policy(ns, s),
            "InferencePool" => inference_pool(ns, s, place),
            "Deployment" => {
                deployments += 1;
                deployment(ns, s, place, deployments - 1, &doc)
            }
            "NodePool" => {
                node_pools += 1;
                match &place.node_pools {
                    Some(names) => node_pool(ns, place, names, node_pools - 1),
                    None => continue,
                }
            }
            "HTTPRoute" => http_route(ns, s),
            other => panic!("config/samples: no e2e settings for kind {other}"),
        };
        json_patch::merge(&mut doc, &patch);
        if s.providers && doc["kind"] == "InferencePool" {
            // A second patch: its nulls remove the single external form the first one set.
            json_patch::merge(&mut doc, &json!({"spec": super::providers::pool_patch()}));
        }
        docs.push(serde_json::to_string(&doc).expect("json"));
    }
    if s.gie_backend {
        docs.push(serde_json::to_string(&gie_pool(ns)).expect("json"));
    }
    assert_eq!((deployments, node_pools), (3, 3), "config/samples: three Deployments and three NodePools");
    docs.join("\n---\n")
}

fn cost_policy(ns: &str, s: &Setup) -> Value {
    json!({"metadata": {"name": "e2e", "namespace": ns}, "spec": {
        "mode": s.mode,
        // The samples' GPU prices, without the live spot price query (no such series here).
        "gpuPrices": {"spot": {"query": null, "maxAgeSeconds": null}},
        "externalPrices": {"inputUsdPerMillionTokens": s.external_usd_per_m.0,
                           "outputUsdPerMillionTokens": s.external_usd_per_m.1},
        "slo": {"latencySeconds": 20, "targetAttainment": 0.99},
        "budget": s.monthly_budget_usd.map(|m| json!({"monthlyUsd": m, "onExceeded": "Alert"})),
        "spot": {"maxFraction": s.max_spot_fraction, "spareReplicas": s.spare_spot_replicas,
                 "interruptionsPerHourThreshold": 1000},
        "external": {"allowed": true, "maxShare": 1.0, "maxRequestsPerSecond": null},
        "scaleDown": {"stabilizationSeconds": s.stabilization_seconds, "maxStepReplicas": s.max_step_replicas},
        "idleReclaim": {"enabled": true, "utilizationThreshold": 0.1, "idleSeconds": s.idle_seconds},
        "tickSeconds": s.tick_seconds,
    }})
}

fn inference_pool(ns: &str, s: &Setup, place: &Placement) -> Value {
    let mut capacity = serde_json::Map::new();
    for (i, class) in ["reserved", "spot", "onDemand"].into_iter().enumerate() {
        let (min, max) = s.class_bounds[i];
        let node_pool_ref = match &place.node_pools {
            Some(nps) => json!({"kind": "NodePool", "name": nps[i], "gpusPerNode": 1}),
            None => Value::Null,
        };
        capacity.insert(
            class.into(),
            json!({"scaleTargetRef": {"name": DEPLOYMENTS[i]}, "nodePoolRef": node_pool_ref, "minReplicas": min,
                   "maxReplicas": max, "nodeProvisionSeconds": s.node_provision_seconds}),
        );
    }
    json!({"metadata": {"name": MODEL, "namespace": ns}, "spec": {
        "model": MODEL,
        "costPolicyRef": {"name": "e2e"},
        "gpusPerReplica": 1,
        // Requests per second only: the harness's load has one token mix.
        "replicaCapacity": {"requestsPerSecond": s.replica_rps, "promptTokensPerSecond": null,
                            "outputTokensPerSecond": null, "learnFromMetrics": s.learn_from_metrics},
        "startupSeconds": s.startup_seconds,
        "minReplicas": 0,
        "maxReplicas": 12,
        "capacity": capacity,
        "route": {"httpRoute": ROUTE, "selfHostedBackend": pool_self_backend(s),
                  "externalBackend": {"name": EXTERNAL_BACKEND}},
        "metrics": {
            "prometheusUrl": null,
            "selector": {"model_name": MODEL, "namespace": ns},
            "queries": {"requestRate": gateway_query("gateway_requests_per_second", ns),
                        "promptTokenRate": gateway_query("gateway_prompt_tokens_per_second", ns),
                        "generationTokenRate": gateway_query("gateway_generation_tokens_per_second", ns)},
            "maxAgeSeconds": s.signal_max_age_seconds,
            "timeoutSeconds": 2,
            "attribution": {"label": "tenant", "topTenants": 10,
                            "query": format!("sum by (tenant) (gateway_tenant_tokens_per_second{{namespace=\"{ns}\",route=\"{ROUTE}\"}})")},
        },
        "external": {"model": "e2e/external-llm", "latencySeconds": 5,
                     "inputUsdPerMillionTokens": null, "outputUsdPerMillionTokens": null},
    }})
}

/// Class `i`'s Deployment: pinned to the class NodePool and asking for its GPU, or a plain pod with a
/// small request. The sample's vLLM arguments stay only with the sample's image.
fn deployment(ns: &str, s: &Setup, place: &Placement, i: usize, sample: &Value) -> Value {
    let dep = DEPLOYMENTS[i];
    let mut container = sample["spec"]["template"]["spec"]["containers"][0].clone();
    if container["image"] != place.image.as_str()
        && let Some(c) = container.as_object_mut()
    {
        c.remove("args");
    }
    let (affinity, tolerations, resources) = match &place.node_pools {
        Some(nps) => (
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms":
                [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": [nps[i]]}]}]}}}),
            sample["spec"]["template"]["spec"]["tolerations"].clone(),
            json!({"limits": {"nvidia.com/gpu": "1"}}),
        ),
        None => (
            Value::Null,
            Value::Null,
            json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}),
        ),
    };
    container["image"] = json!(place.image);
    container["resources"] = resources;
    let labels = json!({"app": dep, "pool": MODEL});
    json!({"metadata": {"name": dep, "namespace": ns, "labels": labels}, "spec": {
        "replicas": s.initial[i],
        "selector": {"matchLabels": {"app": dep}},
        "template": {"metadata": {"labels": labels},
                     "spec": {"affinity": affinity, "tolerations": tolerations, "containers": [container]}},
    }})
}

/// Class `i`'s NodePool of 1-GPU nodes, of the cluster's capacity type for that class.
fn node_pool(ns: &str, place: &Placement, names: &[String; 3], i: usize) -> Value {
    let name = &names[i];
    let node_class = match &place.node_class {
        Some(c) => json!({"group": c.group, "kind": c.kind, "name": c.name}),
        None => Value::Null,
    };
    json!({"metadata": {"name": name, "labels": {RUN_LABEL: ns},
                 "annotations": {"sandbox.hybridscale.dev/gpus-per-node": "1"}},
    "spec": {"limits": {"nvidia.com/gpu": "8"}, "template": {"metadata": {"labels": {"gpu": "h100"}}, "spec": {
        "nodeClassRef": node_class,
        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                          "values": [place.capacity_types[i]]}],
    }}}})
}

/// The self-hosted backendRef: the model Service, or the Inference Extension pool of the same name.
fn self_backend(s: &Setup) -> Value {
    if s.gie_backend {
        json!({"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": SELF_BACKEND})
    } else {
        json!({"kind": "Service", "name": SELF_BACKEND, "port": 8000})
    }
}

/// The same in the pool's spec, merged into the sample's Service backend: `port: null` removes its port.
fn pool_self_backend(s: &Setup) -> Value {
    let mut b = self_backend(s);
    if s.gie_backend {
        b["port"] = Value::Null;
    }
    b
}

fn http_route(ns: &str, s: &Setup) -> Value {
    let mut own = self_backend(s);
    own["weight"] = json!(100);
    let mut refs = vec![own];
    if s.providers {
        refs.extend(super::providers::route_backends());
    } else {
        refs.push(json!({"kind": "Service", "name": EXTERNAL_BACKEND, "port": 443, "weight": 0}));
    }
    json!({"metadata": {"name": ROUTE, "namespace": ns}, "spec": {"rules": [{"backendRefs": refs}]}})
}

/// The Gateway API Inference Extension pool in front of every class's pods (their common `pool` label),
/// with its endpoint picker (not run here: the harness's gateway simulation spreads load by itself).
fn gie_pool(ns: &str) -> Value {
    json!({"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
           "metadata": {"name": SELF_BACKEND, "namespace": ns},
           "spec": {"selector": {"matchLabels": {"pool": MODEL}}, "targetPorts": [{"number": 8000}],
                    "endpointPickerRef": {"name": format!("{SELF_BACKEND}-epp"), "port": {"number": 9002},
                                          "failureMode": "FailOpen"}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(ns: &str, node_pools: bool) -> Placement {
        let class = NodeClassRef { group: "karpenter.k8s.aws".into(), kind: "EC2NodeClass".into(), name: "gpu".into() };
        Placement::cluster(ns, node_pools, Some(class), "on-demand", "registry.k8s.io/pause:3.10")
    }

    fn docs(ns: &str, place: &Placement) -> Vec<Value> {
        yaml_docs(&manifests(ns, &Setup::default(), place)).unwrap()
    }

    #[test]
    fn every_sample_of_the_kustomization_is_built_in() {
        let docs = samples().unwrap();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds.first(), Some(&"Namespace"), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 3, "{kinds:?}");
        let listed = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples")).unwrap();
        let on_disk = listed.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yaml")).count();
        assert_eq!(on_disk, SAMPLE_FILES.len() + 1, "config/samples has a file SAMPLE_FILES lacks");
    }

    fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
        docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    #[test]
    fn the_providers_variant_lists_three_providers_behind_four_backends() {
        let setup = Setup { providers: true, ..Setup::default() };
        let docs = yaml_docs(&manifests("e2e-p", &setup, &Placement::sandbox())).unwrap();
        let spec = &of_kind(&docs, "InferencePool")[0]["spec"];
        assert!(spec.get("external").is_none() && spec["route"].get("externalBackend").is_none(), "{spec}");
        let names: Vec<&str> =
            spec["externalProviders"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["gemini", "claude", "openai"]);
        assert_eq!(spec["externalProviders"][0]["maxRequestsPerSecond"], 6.0);
        assert!(spec["externalProviders"][0].get("maxShare").is_none(), "{spec}");
        assert!(spec["metrics"]["queries"]["providerErrorRatio"].as_str().unwrap().contains("[20s]"));
        assert!(spec["metrics"]["queries"].get("requestRate").is_some(), "the gateway queries stay: {spec}");
        let refs = of_kind(&docs, "HTTPRoute")[0]["spec"]["rules"][0]["backendRefs"].as_array().unwrap().clone();
        let backends: Vec<&str> = refs.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(backends, [SELF_BACKEND, "llm-gemini", "llm-claude", "llm-openai"]);
    }

    #[test]
    fn plain_pods_reference_no_node_pool_and_ask_for_no_gpu() {
        let docs = docs("e2e-x-1", &cluster("e2e-x-1", false));
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
        let docs = docs("e2e-x-1", &cluster("e2e-x-1", true));
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
