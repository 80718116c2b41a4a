//! From the resources to the planner's numbers: a CostPolicy and an InferencePool flattened into a
//! [`PoolConfig`] and the [`Prices`] written in them, with an error that names the field at fault.
//!
//! The planner (in `hybridscale-core`) knows nothing of the resources; this is the one place that
//! reads their specs for it.

use hybridscale_core::planner::providers::{HealthRules, Provider, ProviderPrice};
use hybridscale_core::planner::{
    BudgetConfig, Class, ClassConfig, ExternalConfig, PoolConfig, Prices, SIGNAL_WINDOW_S,
};
use hybridscale_core::status::PerClass;

use crate::cost_policy::{Budget, CostPolicy};
use crate::inference_pool::{ExternalProvider, InferencePool};

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

fn name_of(meta: &kube::core::ObjectMeta) -> String {
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

impl From<&Budget> for BudgetConfig {
    fn from(b: &Budget) -> BudgetConfig {
        BudgetConfig { monthly_usd: b.monthly_usd, hourly_usd: b.hourly_usd, on_exceeded: b.on_exceeded }
    }
}

/// Building the planner's view of a pool from the resources: `PoolConfig::from_resources(&policy, &pool)`.
pub trait FromResources: Sized {
    /// Read the policy and the pool; an error names the field at fault.
    fn from_resources(policy: &CostPolicy, pool: &InferencePool) -> Result<Self, ConfigError>;
}

impl FromResources for PoolConfig {
    /// Flatten a pool and its policy into planner numbers. `external` is `None` when the policy forbids
    /// data leaving the cluster (`spec.external.allowed: false`) or the pool names no external API: the
    /// planner then never routes anything outside.
    fn from_resources(policy: &CostPolicy, pool: &InferencePool) -> Result<PoolConfig, ConfigError> {
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

        let mut classes: PerClass<Option<ClassConfig>> = PerClass::default();
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
            classes[class] = Some(ClassConfig {
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

        let budget = c.budget.as_ref().map(BudgetConfig::from);

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
}

impl FromResources for Prices {
    /// The static prices written in the CRDs: GPU prices from the policy (the fallback values when a
    /// price query is set) and external prices from the pool's spec.external, else the policy's
    /// externalPrices. Live prices (Prometheus queries, LiteLLM price files) are resolved by the signals
    /// layer, which starts from these. External prices are 0 when the pool has no usable external API.
    fn from_resources(policy: &CostPolicy, pool: &InferencePool) -> Result<Prices, ConfigError> {
        let cname = name_of(&policy.metadata);
        let g = &policy.spec.gpu_prices;
        let gpu_hour = PerClass {
            reserved: g.reserved.usd_per_gpu_hour,
            spot: g.spot.usd_per_gpu_hour,
            on_demand: g.on_demand.usd_per_gpu_hour,
        };
        for (field, v) in [
            ("spec.gpuPrices.reserved.usdPerGpuHour", gpu_hour.reserved),
            ("spec.gpuPrices.spot.usdPerGpuHour", gpu_hour.spot),
            ("spec.gpuPrices.onDemand.usdPerGpuHour", gpu_hour.on_demand),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_the_sample_resources() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
        let policy: crate::CostPolicy =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("costpolicy.yaml")).unwrap()).unwrap();
        let pool: crate::InferencePool =
            serde_saphyr::from_str(&std::fs::read_to_string(dir.join("inferencepool.yaml")).unwrap()).unwrap();
        let c = PoolConfig::from_resources(&policy, &pool).unwrap();
        assert_eq!(c.gpus_per_replica, 4);
        assert_eq!(c.class(Class::Reserved).map(|r| (r.min_replicas, r.max_replicas)), Some((2, 2)));
        assert_eq!(c.external.as_ref().map(|e| (e.max_share, e.max_rps)), Some((0.5, Some(50.0))));
        let p = Prices::from_resources(&policy, &pool).unwrap();
        assert_eq!(p.gpu_hour, [7.37, 3.23, 12.29].into());
        assert!((p.external[0].output_token - 3.54e-6).abs() < 1e-15);

        let mut forbidden = policy.clone();
        forbidden.spec.external.allowed = false;
        assert_eq!(PoolConfig::from_resources(&forbidden, &pool).unwrap().external, None);
        let mut no_prices = policy.clone();
        no_prices.spec.external_prices = None;
        let mut pool_no_prices = pool.clone();
        if let Some(e) = pool_no_prices.spec.external.as_mut() {
            e.input_usd_per_million_tokens = None;
            e.output_usd_per_million_tokens = None;
        }
        let e = Prices::from_resources(&no_prices, &pool_no_prices).unwrap_err();
        assert!(e.to_string().contains("spec.externalPrices"), "{e}");
        let mut bad = pool.clone();
        bad.spec.min_replicas = 20;
        let e = PoolConfig::from_resources(&policy, &bad).unwrap_err();
        assert_eq!(e.to_string(), "InferencePool inference/llama-70b: spec minReplicas 20 exceeds maxReplicas 16");
    }
}
