//! Observe (reads the cluster and the signal sources; writes nothing): everything the planner and the
//! actuator need about one pool, turned into a plain [`Snapshot`].

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::tick::ValidatedPool;
use super::{Context, Error, error::Result};
use crate::actuate::{
    Desired, Executor, InterruptionSignals, Interruptions, Observed, RouteWeights, find_interruptions, gie, route,
};
use crate::api::InferencePool;
use crate::api::cost_policy::CostPolicySpec;
use crate::api::inference_pool::{CostStatus, ExternalProvider, PerClass};
use crate::ledger;
use crate::planner::{ClassObservation, Memory, Plan, Snapshot, TrafficWeights, forecast};
use crate::signals::{self, providers::PrometheusProviderSource, providers::ProviderSource};
use crate::signals::{
    Credentials, HistoryWindow, LoadReading, PolicyPrices, PriceReading, PriceSource, PriceTable, PrometheusConfig,
    PrometheusLoadSource, PrometheusTenantSource, TenantReading, TenantSource, price_source_for,
};

/// The policy's part of what a pool's signal sources are built from, taken from the policy when the
/// pool is validated ([`ValidatedPool::signals`]): observe never reads the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalConfig {
    /// The quantile latency is read at (the SLO's `targetAttainment`).
    pub quantile: f64,
    /// The forecast's history query, from the tick ([`history_window`]).
    pub history: HistoryWindow,
    /// The policy's GPU prices (with their queries) and external fallback prices.
    pub prices: PolicyPrices,
}

impl SignalConfig {
    /// What a policy asks of the signal sources (pure).
    pub fn of(policy: &CostPolicySpec) -> SignalConfig {
        SignalConfig {
            quantile: policy.slo.target_attainment,
            history: history_window(policy.tick_seconds),
            prices: PolicyPrices::of(policy),
        }
    }
}

/// What a pool's signal sources were built from: its generation, the policy's signal configuration and
/// the providers in use (which the policy's `external.allowed` narrows). Sources are rebuilt when it
/// changes, and only then, so a policy edit that touches none of it keeps their last good values.
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltFrom {
    pub pool_generation: Option<i64>,
    pub signals: SignalConfig,
    pub providers: Vec<ExternalProvider>,
}

impl BuiltFrom {
    /// What sources for `pool` under `valid` are built from (pure).
    pub fn new(pool: &InferencePool, valid: &ValidatedPool) -> BuiltFrom {
        BuiltFrom {
            pool_generation: pool.metadata.generation,
            signals: valid.signals.clone(),
            providers: valid.providers.clone(),
        }
    }
}

/// A pool's signal sources. Kept across ticks (they remember last good values and their ages) and
/// rebuilt when what they were built from changes.
pub struct PoolSignals {
    /// What the sources were built from.
    pub built_from: BuiltFrom,
    /// Load source; `None` when the pool has no Prometheus to read (then load is unknown).
    pub load: Option<PrometheusLoadSource>,
    /// Why there is no load source, for the SignalsStale condition.
    pub load_problem: Option<String>,
    /// Price source.
    pub prices: Box<dyn PriceSource>,
    /// Tenant shares (spec.metrics.attribution); `None` when not configured or no Prometheus.
    pub tenants: Option<PrometheusTenantSource>,
    /// Each external provider's health from the gateway's series; `None` without Prometheus.
    pub providers: Option<PrometheusProviderSource>,
}

/// Everything observed about one pool at one tick.
pub struct Observation {
    /// What the planner consumes.
    pub snapshot: Snapshot,
    /// The load reading (availability, token rates) for status and the ledger.
    pub load: Option<LoadReading>,
    /// Why load is unknown when there is no reading.
    pub load_problem: Option<String>,
    /// Prices and where they came from.
    pub prices: PriceReading,
    /// Cluster objects the actuator compares the plan with.
    pub observed: Observed,
    /// Interrupted nodes and the replicas on them.
    pub interruptions: Interruptions,
    /// Ready replicas per class.
    pub ready: PerClass<u32>,
    /// Things that are wrong with the pool's references (missing route, workload, ...).
    pub problems: Vec<String>,
    /// Totals of the pools following the same policy.
    pub policy_totals: ledger::policy::PolicyTotals,
    /// Tenant shares of the traffic; `None` when attribution is not configured.
    pub tenants: Option<TenantReading>,
}

/// The pool's targets with neutral sizes: observation only needs the references (and reclaims nothing).
pub fn references(ns: &str, pool: &InferencePool) -> Desired {
    let neutral = Plan {
        replicas: PerClass::<u32>::default(),
        node_pool_gpus: PerClass::default(),
        traffic: TrafficWeights::default(),
        providers: Vec::new(),
        changes: vec![],
        summary: String::new(),
        signals_stale: false,
        budget_exceeded: false,
        usd_per_hour: 0.0,
        memory: Memory::default(),
        capacity: crate::planner::Capacity::default(),
    };
    Desired::from_plan(ns, &pool.spec, &neutral, false)
}

async fn secret(client: &Client, ns: &str, name: &str) -> std::result::Result<Secret, String> {
    Api::<Secret>::namespaced(client.clone(), ns).get(name).await.map_err(|e| format!("Secret {ns}/{name}: {e}"))
}

/// Build the pool's signal sources (reads the Secrets named in spec.metrics.auth and the price file).
async fn build_signals(ctx: &Context, ns: &str, pool: &InferencePool, valid: &ValidatedPool) -> PoolSignals {
    let config = &valid.signals;
    let table = ctx.options.price_file.as_deref().and_then(|p| match PriceTable::load(p) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "price file unreadable; using CostPolicy prices");
            None
        }
    });
    let url = pool.spec.metrics.prometheus_url.clone().or_else(|| ctx.options.prometheus_url.clone());
    let mut load_problem = None;
    let client = match url {
        None => {
            load_problem = Some("no Prometheus URL: set spec.metrics.prometheusUrl or --prometheus-url".to_string());
            None
        }
        Some(url) => {
            let mut prom = PrometheusConfig::new(url);
            prom.timeout = std::time::Duration::from_secs(u64::from(pool.spec.metrics.timeout_seconds));
            // The operator-wide token (the chart's PROMETHEUS_BEARER_TOKEN) goes only to the operator-wide
            // Prometheus, never to a URL a pool names itself.
            if pool.spec.metrics.prometheus_url.is_none()
                && let Some(token) = &ctx.options.prometheus_token
            {
                prom.credentials.bearer_token = Some(token.clone());
                prom.credentials.origin = "--prometheus-bearer-token".into();
            }
            if let Some(auth) = &pool.spec.metrics.auth {
                let token = match &auth.bearer_token_secret {
                    Some(r) => Some((secret(&ctx.client, ns, &r.name).await, r.key.clone())),
                    None => None,
                };
                let ca = match &auth.ca_secret {
                    Some(r) => Some((secret(&ctx.client, ns, &r.name).await, r.key.clone())),
                    None => None,
                };
                let creds = match (&token, &ca) {
                    (Some((Err(e), _)), _) | (_, Some((Err(e), _))) => Err(e.clone()),
                    _ => Credentials::from_secrets(
                        token.as_ref().and_then(|(s, k)| s.as_ref().ok().map(|s| (s, k.as_str()))),
                        ca.as_ref().and_then(|(s, k)| s.as_ref().ok().map(|s| (s, k.as_str()))),
                    )
                    .map_err(|e| e.to_string()),
                };
                match creds {
                    Ok(c) => prom.credentials = c,
                    Err(e) => load_problem = Some(format!("Prometheus credentials: {e}")),
                }
            }
            // One client per (URL, credentials, timeout), shared by every pool that uses them.
            match ctx.prometheus_client(&prom) {
                Ok(c) if load_problem.is_none() => Some(c),
                Ok(_) => None,
                Err(e) => {
                    load_problem = Some(format!("Prometheus client: {e}"));
                    None
                }
            }
        }
    };
    // The planner's learning reads the signals as averaging over this window (`learn::load_window_s`).
    let rate_window = format!("{}s", crate::planner::SIGNAL_WINDOW_S);
    let load = match &client {
        Some(c) => {
            match PrometheusLoadSource::for_pool(
                c.clone(),
                &pool.spec,
                config.quantile,
                &rate_window,
                Some(config.history),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    load_problem = Some(format!("load queries: {e}"));
                    None
                }
            }
        }
        None => None,
    };
    let tenants = match (&client, &pool.spec.metrics.attribution) {
        (Some(c), Some(spec)) => Some(PrometheusTenantSource::new(c.clone(), spec, &pool.spec.model)),
        _ => None,
    };
    let providers = client.as_ref().map(|c| {
        let queries = signals::providers::queries(&pool.spec.metrics.queries, &valid.providers, config.quantile);
        PrometheusProviderSource::new(c.clone(), queries)
    });
    PoolSignals {
        built_from: BuiltFrom::new(pool, valid),
        providers,
        load,
        load_problem,
        prices: price_source_for(&config.prices, &valid.providers, table.as_ref(), client),
        tenants,
    }
}

/// The forecast's history: one point per tick (5 to 60 s), back as far as the longest window the
/// forecast looks for a persisting level over (four hours), at most [`HISTORY_POINTS`] points. A
/// coarser step than the tick hides spikes shorter than the step, and the forecast then cannot tell a
/// spike (cheaper on the external API) from a lasting rise (cheaper on GPUs). A shorter lookback than
/// the forecast's windows leaves the long windows without a level (`planner::forecast`): replicas whose
/// load must have lasted hours before they pay (near break-even) would then never be bought here while
/// `hybridscale simulate`, which keeps hours of history, showed them bought.
pub fn history_window(tick_seconds: u32) -> HistoryWindow {
    let step = f64::from(tick_seconds).clamp(5.0, 60.0);
    HistoryWindow { lookback_s: forecast::LONGEST_WINDOW_S.min(step * HISTORY_POINTS), step_s: step }
}

/// Most points in one pool's history query (four hours at a 15 s tick).
pub const HISTORY_POINTS: f64 = 960.0;

/// The pool's signal sources, rebuilt when what they are built from changed.
async fn signals_for(ctx: &Context, ns: &str, pool: &InferencePool, valid: &ValidatedPool) -> Arc<PoolSignals> {
    let key = format!("{ns}/{}", pool.name_any());
    let want = BuiltFrom::new(pool, valid);
    if let Some(s) = ctx.pool_signals.lock().await.get(&key).filter(|s| s.built_from == want) {
        return s.clone();
    }
    let built = Arc::new(build_signals(ctx, ns, pool, valid).await);
    ctx.pool_signals.lock().await.insert(key, built.clone());
    built
}

/// Forget a deleted pool's signal sources.
pub async fn forget(ctx: &Context, ns: &str, name: &str) {
    ctx.pool_signals.lock().await.remove(&format!("{ns}/{name}"));
}

/// Read everything about one pool.
pub async fn observe(
    ctx: &Context,
    ns: &str,
    pool: &InferencePool,
    valid: &ValidatedPool,
    at: jiff::Timestamp,
) -> Result<Observation> {
    let now = at.as_millisecond() as f64 / 1000.0;
    let refs = references(ns, pool);
    let executor = Executor::new(ctx.client.clone());
    let observed = executor.observe(&refs).await.map_err(|e| Error::observe("the pool's objects", e))?;
    let mut problems = Vec::new();

    // Replicas per class, desired and ready (`Executor::get_workload`: the object itself for Deployments and
    // StatefulSets, /scale plus the object for other kinds).
    let mut classes = PerClass::<ClassObservation>::default();
    let mut ready = PerClass::<u32>::default();
    let mut selectors = Vec::new();
    for w in &refs.workloads {
        let c = w.class;
        match &observed.workloads[c] {
            None => problems.push(format!("{} {} not found", w.target.kind, w.target.name)),
            Some(scale) => {
                classes[c].desired = scale.replicas;
                if let Some(sel) = scale.selector.as_deref() {
                    match crate::selector::parse(sel) {
                        Ok(s) => selectors.push((w.class, s)),
                        Err(e) => problems.push(e.to_string()),
                    }
                }
                classes[c].ready = scale.ready;
                ready[c] = scale.ready;
            }
        }
    }
    let interruptions = find_interruptions(&observed.nodes, ns, &selectors, &InterruptionSignals::default());
    for c in crate::planner::Class::ALL {
        classes[c].interrupted = interruptions.affected.get(c).min(classes[c].ready);
    }

    // Route weights as they are now.
    let route_weights = match &observed.route {
        None => {
            problems.push(format!("HTTPRoute {ns}/{} not found", pool.spec.route.http_route));
            None
        }
        Some(json) => route::current_weights(json, &refs.route).map_err(|e| problems.push(e.to_string())).ok(),
    };
    let traffic = route_weights.as_ref().map_or(TrafficWeights::default(), RouteWeights::total);

    // A Gateway API Inference Extension pool as the self-hosted backend must select every class's pods.
    if gie::is_gie_pool(&refs.route.self_hosted) {
        let workloads: Vec<_> = refs
            .workloads
            .iter()
            .map(|w| (w.class, w.target.name.as_str(), observed.workloads[w.class].as_ref()))
            .collect();
        problems.extend(gie::problems(ns, &refs.route.self_hosted, observed.gie_pool.as_ref(), &workloads));
    }

    // Signals.
    let sources = signals_for(ctx, ns, pool, valid).await;
    let load = match &sources.load {
        Some(l) => Some(l.read(now).await),
        None => None,
    };
    let prices = sources.prices.prices(now).await;
    let max_age = f64::from(pool.spec.metrics.max_age_seconds);
    let provider_signals = match &sources.providers {
        Some(p) => p.read(now, max_age).await,
        None => Vec::new(),
    };
    let tenants = match (&sources.tenants, &pool.spec.metrics.attribution) {
        (Some(t), _) => Some(t.shares().await),
        // Configured but no Prometheus to ask: the ledger books the spend under "other".
        (None, Some(_)) => Some(TenantReading::default()),
        (None, None) => None,
    };

    // Spend of the pools following the same policy (for the budget), from the controller's cache: a
    // list per reconcile would cost every tick a number of objects read that grows with the square of
    // the number of pools.
    let siblings = ctx.pools_in(ns).await.map_err(|e| Error::observe(format!("InferencePools in {ns}"), e))?;
    let none = CostStatus::default();
    let costs = siblings
        .iter()
        .filter(|p| p.spec.cost_policy_ref.name == pool.spec.cost_policy_ref.name)
        .map(|p| p.status.as_ref().map_or(&none, |s| &s.cost));
    let policy_totals =
        ledger::policy::sum_pools(costs, at).map_err(|e| Error::observe("the spend of the policy's pools", e))?;
    let own = pool.status.as_ref().map_or(&none, |s| &s.cost);
    let spend = ledger::policy::planner_spend(&policy_totals, own);

    let mut load_signals = load.as_ref().map(|l| l.signals.clone()).unwrap_or_default();
    if pool.spec.metrics.queries.request_rate.is_none() {
        to_total_demand(&mut load_signals, traffic);
    }
    // The route's provider weights, in the planner's order (none when data may not leave the cluster).
    let provider_weights = match route_weights {
        Some(w) if !valid.providers.is_empty() => w.external,
        _ => Vec::new(),
    };
    let snapshot = Snapshot {
        load: load_signals,
        prices: prices.prices.clone(),
        classes,
        traffic,
        provider_weights,
        provider_signals,
        spend,
    };
    Ok(Observation {
        snapshot,
        load,
        load_problem: sources.load_problem.clone(),
        prices,
        observed,
        interruptions,
        ready,
        problems,
        policy_totals,
        tenants,
    })
}

/// vLLM's own request counter only sees the self-hosted share of the route's traffic; the planner wants
/// the pool's whole demand. Scale the rate up by the self-hosted weight. With no self-hosted weight at all
/// the pool's demand cannot be seen in vLLM's metrics: the rate becomes unknown (the planner holds rather
/// than reading 0), and scaling back from zero needs a gateway-level `spec.metrics.queries.requestRate`.
pub fn to_total_demand(load: &mut crate::planner::LoadSignals, traffic: TrafficWeights) {
    let share = f64::from(traffic.self_hosted_weight) / 100.0;
    if share <= 0.0 {
        load.request_rate = None;
        load.history = Default::default();
        load.recent_rates = Vec::new();
        return;
    }
    if let Some(s) = load.request_rate.as_mut() {
        s.value /= share;
    }
    // History was served under weights we no longer know point by point; the current share is the best
    // estimate and errs towards more capacity when the external share has just grown.
    load.history = load.history.iter().map(|&(t, v)| (t, v / share)).collect();
    load.recent_rates = load.recent_rates.iter().map(|&(t, v)| (t, v / share)).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{LoadSignals, Sample};

    #[test]
    fn self_hosted_rate_scales_to_total_demand() {
        let mut l = LoadSignals { request_rate: Some(Sample { value: 6.0, at: 1.0 }), ..Default::default() };
        to_total_demand(&mut l, TrafficWeights { self_hosted_weight: 60, external_weight: 40 });
        assert!((l.request_rate.unwrap().value - 10.0).abs() < 1e-9);
    }

    #[test]
    fn history_reaches_back_as_far_as_the_forecast_looks() {
        let window = |tick: u32| {
            let yaml = format!(
                "gpuPrices:\n  reserved: {{usdPerGpuHour: 1.0}}\n  spot: {{usdPerGpuHour: 1.5}}\n  \
                 onDemand: {{usdPerGpuHour: 4.0}}\nslo: {{latencySeconds: 2}}\ntickSeconds: {tick}\n"
            );
            let spec = crate::input::parse_yaml(std::path::Path::new("policy.yaml"), &yaml).unwrap();
            let w = SignalConfig::of(&spec).history;
            (w.lookback_s, w.step_s)
        };
        // The default 15 s tick: four hours, one point per tick.
        assert_eq!(window(15), (forecast::LONGEST_WINDOW_S, 15.0));
        assert_eq!(window(60), (forecast::LONGEST_WINDOW_S, 60.0));
        // A 5 s tick keeps its resolution and gives up lookback (960 points).
        assert_eq!(window(5), (4800.0, 5.0));
    }

    fn sample<T: serde::de::DeserializeOwned>(file: &str) -> T {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(file);
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("sample")).expect("sample parses")
    }

    /// Validation carries what the signal sources read from the policy, and they are rebuilt when any
    /// of it (or the pool) changes, not for a policy edit they do not read.
    #[test]
    fn sources_are_rebuilt_when_what_they_read_changes_and_only_then() {
        use crate::api::CostPolicy;
        use crate::api::cost_policy::Mode;
        let (policy, pool): (CostPolicy, InferencePool) = (sample("costpolicy.yaml"), sample("inferencepool.yaml"));
        let key = |policy: &CostPolicy, pool: &InferencePool| {
            BuiltFrom::new(pool, &ValidatedPool::new(policy, pool).expect("valid"))
        };
        let base = key(&policy, &pool);
        assert_eq!(base.signals.quantile, policy.spec.slo.target_attainment);
        assert_eq!(base.signals.prices.gpu.spot.query, policy.spec.gpu_prices.spot.query);
        assert_eq!(base.providers.len(), 1);
        let edited = |edit: fn(&mut CostPolicy)| {
            let mut p = policy.clone();
            edit(&mut p);
            key(&p, &pool)
        };
        assert_eq!(edited(|p| p.spec.budget = None), base);
        assert_eq!(edited(|p| p.spec.mode = Mode::Recommend), base);
        assert_ne!(edited(|p| p.spec.gpu_prices.spot.usd_per_gpu_hour = 3.0), base);
        assert_ne!(edited(|p| p.spec.gpu_prices.spot.query = None), base);
        assert_ne!(edited(|p| p.spec.external_prices = None), base);
        assert_ne!(edited(|p| p.spec.tick_seconds = 60), base);
        assert_ne!(edited(|p| p.spec.slo.target_attainment = 0.99), base);
        let closed = edited(|p| p.spec.external.allowed = false);
        assert!(closed.providers.is_empty() && closed != base);
        let mut newer = pool.clone();
        newer.metadata.generation = Some(pool.metadata.generation.unwrap_or(0) + 1);
        assert_ne!(key(&policy, &newer), base);
    }

    #[test]
    fn all_external_makes_vllm_rate_unknown_not_zero() {
        let mut l = LoadSignals { request_rate: Some(Sample { value: 0.0, at: 1.0 }), ..Default::default() };
        to_total_demand(&mut l, TrafficWeights { self_hosted_weight: 0, external_weight: 100 });
        assert!(l.request_rate.is_none());
    }
}
