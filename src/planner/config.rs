//! What the planner needs from an InferencePool and its CostPolicy, flattened into plain numbers.
//! Built once per reconcile (or once per simulation) from the CRD types.

use crate::api::cost_policy::{BudgetAction, CostPolicy};
use crate::api::inference_pool::{ExternalProvider, InferencePool};

use super::providers::{self, Health, HealthRules, Mix, Provider, ProviderPrice};
use super::{Class, Prices};

/// Seconds of the window over which the default queries read rates and the latency histogram (a
/// PromQL `[120s]`): what a signal shows now reflects the load over this window.
pub const SIGNAL_WINDOW_S: u32 = 120;

/// Static configuration of one pool under its policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Capacity classes the pool may use, indexed by `Class as usize` (reserved, spot, on-demand).
    pub classes: [Option<ClassConfig>; 3],
    /// GPUs one replica needs.
    pub gpus_per_replica: u32,
    /// Requests per second one replica serves within the SLO (μ).
    pub replica_rps: f64,
    /// Output tokens per second one replica generates within the SLO, if known.
    pub replica_output_tokens_per_s: Option<f64>,
    /// Prompt tokens per second one replica processes within the SLO, if known.
    pub replica_prompt_tokens_per_s: Option<f64>,
    /// Seconds from asking for a replica to it serving, when its node exists.
    pub startup_s: f64,
    /// Fewest replicas over all classes.
    pub min_replicas: u32,
    /// Most replicas over all classes.
    pub max_replicas: u32,
    /// The external path (the providers together), if the pool has one and data may leave the
    /// cluster. The policy's caps at configuration; each tick narrows it to the healthy providers
    /// ([`PoolConfig::for_tick`]).
    pub external: Option<ExternalConfig>,
    /// The external providers (the single `external` form is a list of one); empty when data may not
    /// leave the cluster.
    pub providers: Vec<Provider>,
    /// When a provider counts as unhealthy.
    pub provider_health: HealthRules,
    /// End-to-end latency SLO, seconds.
    pub slo_latency_s: f64,
    /// Share of requests that must meet the SLO.
    pub target_attainment: f64,
    /// Budget, if any.
    pub budget: Option<BudgetConfig>,
    /// Largest share of replicas on spot.
    pub max_spot_fraction: f64,
    /// Extra spot replicas kept against interruptions.
    pub spare_spot_replicas: u32,
    /// Interruptions per hour above which the spot share is lowered.
    pub interruptions_per_hour_threshold: f64,
    /// Seconds a lower replica count must be justified before scaling down.
    pub stabilization_s: f64,
    /// Most replicas removed per class per tick.
    pub max_scale_down_step: u32,
    /// Whether idle replicas are released.
    pub idle_reclaim: bool,
    /// Utilisation below which the pool counts as idle.
    pub idle_utilization: f64,
    /// Seconds below the idle threshold before releasing.
    pub idle_s: f64,
    /// Seconds between ticks.
    pub tick_s: f64,
    /// Signals older than this are stale.
    pub signal_max_age_s: f64,
    /// Seconds over which the signals average what they show ([`SIGNAL_WINDOW_S`] for the
    /// operator's queries, 0 in the simulator, whose signals are the step's own): an overload seen
    /// now may come from any load within it (`learn.rs`).
    pub signal_window_s: f64,
    /// Correct the replica capacity from the replicas' observed latency and queue (`learn.rs`).
    pub learn_from_metrics: bool,
}

/// One capacity class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassConfig {
    /// Which class.
    pub class: Class,
    /// Fewest replicas on this class.
    pub min_replicas: u32,
    /// Most replicas on this class.
    pub max_replicas: u32,
    /// Seconds for a new node of this class to join.
    pub node_provision_s: f64,
    /// GPUs per node, when the class has a node pool.
    pub gpus_per_node: Option<u32>,
}

/// The external API.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalConfig {
    /// Largest share of requests that may go external (0..1).
    pub max_share: f64,
    /// Rate limit, requests per second.
    pub max_rps: Option<f64>,
    /// Typical latency, seconds.
    pub latency_s: f64,
    /// Index of the provider whose price the external path is costed at (the one filled first).
    pub priced_by: usize,
}

/// Budget limits summed over the pools of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Monthly budget, USD.
    pub monthly_usd: Option<f64>,
    /// Hourly burn limit, USD.
    pub hourly_usd: Option<f64>,
    /// What happens when exceeded.
    pub on_exceeded: BudgetAction,
}

/// Why a CostPolicy and InferencePool cannot be turned into a [`PoolConfig`]. Each message names the
/// field at fault so a simulator policy file or a status condition can point at it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The pool configures no capacity class.
    #[error("InferencePool {pool}: spec.capacity needs at least one of reserved, spot or onDemand")]
    NoClasses { pool: String },
    /// A minimum is above its maximum.
    #[error("InferencePool {pool}: {field} minReplicas {min} exceeds maxReplicas {max}")]
    MinAboveMax { pool: String, field: String, min: u32, max: u32 },
    /// A number is out of range (negative, zero where it must be positive, or not finite).
    #[error("{kind} {name}: {field} is {value}, {expected}")]
    OutOfRange { kind: &'static str, name: String, field: &'static str, value: f64, expected: &'static str },
    /// The pool may overflow to an external API but no price is known for it.
    #[error(
        "InferencePool {pool}: external provider {provider:?} has no input/output prices (spec.external or \
         spec.externalProviders[]) and CostPolicy {policy} has no spec.externalPrices; set one of them"
    )]
    NoExternalPrices { pool: String, provider: String, policy: String },
}

fn name_of(meta: &kube::api::ObjectMeta) -> String {
    match (&meta.namespace, &meta.name) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n.clone(),
        _ => "<unnamed>".into(),
    }
}

fn check(
    kind: &'static str,
    name: &str,
    field: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { kind, name: name.to_string(), field, value, expected })
    }
}

/// The external providers a pool may use under its policy, in the spec's order: none when the policy
/// does not let data leave the cluster. The planner's providers, the prices and the route's backends all
/// follow this one list, so their indices agree.
pub fn providers_in_use(policy: &CostPolicy, pool: &InferencePool) -> Vec<ExternalProvider> {
    if policy.spec.external.allowed { pool.spec.providers() } else { Vec::new() }
}

impl PoolConfig {
    /// Flatten a pool and its policy into planner numbers. `external` is `None` when the policy forbids
    /// data leaving the cluster (`spec.external.allowed: false`) or the pool names no external API: the
    /// planner then never routes anything outside.
    pub fn from_resources(policy: &CostPolicy, pool: &InferencePool) -> Result<PoolConfig, ConfigError> {
        let pname = name_of(&pool.metadata);
        let cname = name_of(&policy.metadata);
        let p = &pool.spec;
        let c = &policy.spec;
        if p.min_replicas > p.max_replicas {
            return Err(ConfigError::MinAboveMax {
                pool: pname,
                field: "spec".into(),
                min: p.min_replicas,
                max: p.max_replicas,
            });
        }
        let rps = p.replica_capacity.requests_per_second;
        check("InferencePool", &pname, "spec.replicaCapacity.requestsPerSecond", rps, rps > 0.0, "must be > 0")?;
        if let Some(t) = p.replica_capacity.output_tokens() {
            check("InferencePool", &pname, "spec.replicaCapacity.outputTokensPerSecond", t, t > 0.0, "must be > 0")?;
        }
        if let Some(t) = p.replica_capacity.prompt_tokens_per_second {
            check("InferencePool", &pname, "spec.replicaCapacity.promptTokensPerSecond", t, t > 0.0, "must be > 0")?;
        }
        let slo = c.slo.latency_seconds;
        check("CostPolicy", &cname, "spec.slo.latencySeconds", slo, slo > 0.0, "must be > 0")?;
        let frac = c.spot.max_fraction;
        check("CostPolicy", &cname, "spec.spot.maxFraction", frac, (0.0..=1.0).contains(&frac), "must be in 0..1")?;
        if let Some(share) = c.external.max_share {
            check(
                "CostPolicy",
                &cname,
                "spec.external.maxShare",
                share,
                (0.0..=1.0).contains(&share),
                "must be in 0..1",
            )?;
        }
        let share = c.external.effective_max_share();
        let idle_u = c.idle_reclaim.utilization_threshold;
        check(
            "CostPolicy",
            &cname,
            "spec.idleReclaim.utilizationThreshold",
            idle_u,
            (0.0..=1.0).contains(&idle_u),
            "must be in 0..1",
        )?;

        let mut classes: [Option<ClassConfig>; 3] = [None, None, None];
        for class in Class::ALL {
            let Some(cc) = p.capacity.get(class) else { continue };
            let min = cc.min_replicas.unwrap_or(0);
            let max = cc.max_replicas.unwrap_or(p.max_replicas);
            if min > max {
                return Err(ConfigError::MinAboveMax {
                    pool: pname,
                    field: format!("spec.capacity.{class}"),
                    min,
                    max,
                });
            }
            classes[class as usize] = Some(ClassConfig {
                class,
                min_replicas: min,
                max_replicas: max,
                node_provision_s: f64::from(cc.node_provision_seconds),
                gpus_per_node: cc.node_pool_ref.as_ref().map(|n| n.gpus_per_node),
            });
        }
        if classes.iter().all(Option::is_none) {
            return Err(ConfigError::NoClasses { pool: pname });
        }
        let class_mins: u32 = classes.iter().flatten().map(|c| c.min_replicas).sum();
        if class_mins > p.max_replicas {
            return Err(ConfigError::MinAboveMax {
                pool: pname,
                field: "spec.capacity (sum of the classes')".into(),
                min: class_mins,
                max: p.max_replicas,
            });
        }

        let specs = providers_in_use(policy, pool);
        let mut providers = Vec::with_capacity(specs.len());
        for e in &specs {
            let share = e.max_share.unwrap_or(1.0);
            let in_0_1 = (0.0..=1.0).contains(&share);
            check("InferencePool", &pname, "spec.externalProviders[].maxShare", share, in_0_1, "must be in 0..1")?;
            let latency = e.api.latency_seconds.unwrap_or(0.0);
            check(
                "InferencePool",
                &pname,
                "spec.external(Providers[]).latencySeconds",
                latency,
                latency >= 0.0,
                ">= 0",
            )?;
            for v in [e.max_requests_per_second, e.max_tokens_per_minute].into_iter().flatten() {
                check("InferencePool", &pname, "spec.externalProviders[] limits", v, v >= 0.0, ">= 0")?;
            }
            providers.push(Provider {
                name: e.name.clone(),
                max_share: share,
                max_rps: e.max_requests_per_second,
                max_tokens_per_minute: e.max_tokens_per_minute,
                latency_s: latency,
            });
        }
        let external = if providers.is_empty() {
            None
        } else {
            if let Some(max) = c.external.max_requests_per_second {
                check("CostPolicy", &cname, "spec.external.maxRequestsPerSecond", max, max >= 0.0, ">= 0")?;
            }
            Some(ExternalConfig {
                max_share: share,
                max_rps: c.external.max_requests_per_second,
                latency_s: providers.iter().map(|p| p.latency_s).fold(f64::INFINITY, f64::min),
                priced_by: 0,
            })
        };
        let h = p.provider_health.clone().unwrap_or_default();
        let provider_health = HealthRules {
            max_error_ratio: h.max_error_ratio,
            max_latency_factor: h.max_latency_factor,
            recover_after_s: f64::from(h.recover_after_seconds),
        };

        let budget = c.budget.as_ref().map(|b| BudgetConfig {
            monthly_usd: b.monthly_usd,
            hourly_usd: b.hourly_usd,
            on_exceeded: b.on_exceeded,
        });

        Ok(PoolConfig {
            classes,
            gpus_per_replica: p.gpus_per_replica.max(1),
            replica_rps: rps,
            replica_output_tokens_per_s: p.replica_capacity.output_tokens(),
            replica_prompt_tokens_per_s: p.replica_capacity.prompt_tokens_per_second,
            startup_s: f64::from(p.startup_seconds),
            min_replicas: p.min_replicas,
            max_replicas: p.max_replicas,
            external,
            providers,
            provider_health,
            slo_latency_s: slo,
            target_attainment: c.slo.target_attainment,
            budget,
            max_spot_fraction: frac,
            spare_spot_replicas: c.spot.spare_replicas,
            interruptions_per_hour_threshold: c.spot.interruptions_per_hour_threshold,
            stabilization_s: f64::from(c.scale_down.stabilization_seconds),
            max_scale_down_step: c.scale_down.max_step_replicas.max(1),
            idle_reclaim: c.idle_reclaim.enabled,
            idle_utilization: idle_u,
            idle_s: f64::from(c.idle_reclaim.idle_seconds),
            tick_s: f64::from(c.tick_seconds),
            signal_max_age_s: f64::from(p.metrics.max_age_seconds),
            signal_window_s: f64::from(SIGNAL_WINDOW_S),
            learn_from_metrics: p.replica_capacity.learn_from_metrics,
        })
    }

    /// The external API if it can take any traffic: configured, with a share and a rate limit above 0.
    /// An external API allowed 0% is no path for traffic, so the pool then keeps a replica like a pool
    /// without one.
    pub fn external_path(&self) -> Option<&ExternalConfig> {
        self.external.as_ref().filter(|e| e.max_share > 0.0 && e.max_rps.is_none_or(|r| r > 0.0))
    }

    /// The configuration for one tick: the external path narrowed to the providers that are healthy now
    /// (their shares and limits added up, within the policy's caps) and priced at the one filled first.
    /// No healthy provider: no external path this tick.
    /// A configuration that lists no providers (built by hand) keeps its external path as written.
    pub fn for_tick(&self, prices: &Prices, health: &[Health], mix: Mix) -> PoolConfig {
        let mut c = self.clone();
        if self.providers.is_empty() {
            return c;
        }
        c.external = self.external.as_ref().and_then(|caps| {
            let t = providers::together(&self.providers, &prices.external, health, mix, self.slo_latency_s)?;
            let max_rps = match (caps.max_rps, t.max_rps) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Some(ExternalConfig {
                max_share: caps.max_share.min(t.max_share),
                max_rps,
                latency_s: t.latency_s,
                priced_by: t.priced_by,
            })
        });
        c
    }

    /// The configuration of one class, if the pool may use it.
    pub fn class(&self, c: Class) -> Option<&ClassConfig> {
        self.classes[c as usize].as_ref()
    }
}

impl Prices {
    /// The static prices written in the CRDs: GPU prices from the policy (the fallback values when a
    /// price query is set) and external prices from the pool's spec.external, else the policy's
    /// externalPrices. Live prices (Prometheus queries, LiteLLM price files) are resolved by the signals
    /// layer, which starts from these. External prices are 0 when the pool has no usable external API.
    pub fn from_resources(policy: &CostPolicy, pool: &InferencePool) -> Result<Prices, ConfigError> {
        let cname = name_of(&policy.metadata);
        let g = &policy.spec.gpu_prices;
        let gpu_hour = [g.reserved.usd_per_gpu_hour, g.spot.usd_per_gpu_hour, g.on_demand.usd_per_gpu_hour];
        for (field, v) in [
            ("spec.gpuPrices.reserved.usdPerGpuHour", gpu_hour[0]),
            ("spec.gpuPrices.spot.usdPerGpuHour", gpu_hour[1]),
            ("spec.gpuPrices.onDemand.usdPerGpuHour", gpu_hour[2]),
        ] {
            check("CostPolicy", &cname, field, v, v >= 0.0, "must be >= 0")?;
        }
        let mut external = Vec::new();
        for provider in &providers_in_use(policy, pool) {
            let fallback = policy.spec.external_prices.as_ref();
            let i = provider.api.input_usd_per_million_tokens.or(fallback.map(|f| f.input_usd_per_million_tokens));
            let o = provider.api.output_usd_per_million_tokens.or(fallback.map(|f| f.output_usd_per_million_tokens));
            let (Some(i), Some(o)) = (i, o) else {
                return Err(ConfigError::NoExternalPrices {
                    pool: name_of(&pool.metadata),
                    provider: provider.name.clone(),
                    policy: cname,
                });
            };
            check("CostPolicy", &cname, "external input price per million tokens", i, i >= 0.0, "must be >= 0")?;
            check("CostPolicy", &cname, "external output price per million tokens", o, o >= 0.0, "must be >= 0")?;
            external.push(ProviderPrice { name: provider.name.clone(), input_token: i / 1e6, output_token: o / 1e6 });
        }
        Ok(Prices { gpu_hour, external })
    }
}
