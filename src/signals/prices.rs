//! Prices in force for a pool: GPU-hours per capacity class and the external API's token prices,
//! each with where it came from so the status can say so.
//!
//! Sources, most specific first: the InferencePool's own `spec.external` prices; a LiteLLM price
//! file the CostPolicy points at; the CostPolicy's static numbers. A GPU price with a `query` is read
//! from Prometheus, and the policy's `usdPerGpuHour` is used instead, with the reason, whenever the
//! query fails, answers nothing usable or is older than its `maxAgeSeconds`.

use futures::future::{BoxFuture, join_all};

use super::client::{Point, PrometheusClient};
use super::litellm::PriceTable;
use crate::api::cost_policy::{CostPolicySpec, ExternalPrices, GpuPrice, GpuPrices};
use crate::api::inference_pool::ExternalProvider;
use crate::planner::PerClass;
use crate::planner::providers::ProviderPrice;
use crate::planner::{Class, Prices};

/// Where one price came from.
#[derive(Clone, Debug, PartialEq)]
pub enum PriceOrigin {
    /// The CostPolicy's static number.
    Policy,
    /// The InferencePool's `spec.external` override.
    Pool,
    /// A LiteLLM price file entry.
    PriceFile {
        /// The entry's key.
        model: String,
    },
    /// A Prometheus query, sampled at `at` (Unix seconds).
    Query {
        /// Sample time.
        at: f64,
    },
    /// A source failed; the CostPolicy's static number is in force.
    Fallback {
        /// Why the source was not used.
        reason: String,
    },
    /// Nothing configures this price; it is 0 and unused (e.g. no external API).
    Unset,
}

impl std::fmt::Display for PriceOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PriceOrigin::Policy => f.write_str("CostPolicy"),
            PriceOrigin::Pool => f.write_str("InferencePool spec.external(Providers)"),
            PriceOrigin::PriceFile { model } => write!(f, "price file entry {model:?}"),
            PriceOrigin::Query { .. } => f.write_str("Prometheus query"),
            PriceOrigin::Fallback { reason } => write!(f, "CostPolicy fallback ({reason})"),
            PriceOrigin::Unset => f.write_str("unset"),
        }
    }
}

/// Prices and their origins.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceReading {
    /// What the planner consumes.
    pub prices: Prices,
    /// Origin of each GPU price.
    pub gpu_origin: PerClass<PriceOrigin>,
    /// Origin of each external provider's input and output token prices (the prices' order).
    pub external_origin: Vec<(PriceOrigin, PriceOrigin)>,
}

impl PriceReading {
    /// True when some source failed and a fallback price is in force.
    pub fn fell_back(&self) -> bool {
        self.origins().any(|(_, _, o)| matches!(o, PriceOrigin::Fallback { .. }))
    }

    /// Every price: its name, its value in words and its origin.
    fn origins(&self) -> impl Iterator<Item = (String, String, &PriceOrigin)> {
        let gpu = Class::ALL.iter().map(|c| {
            let value = format!("${:.4}/GPU-hour", self.prices.gpu_hour[*c]);
            (format!("{c} GPU-hour"), value, &self.gpu_origin[*c])
        });
        let per_m = |usd: f64| format!("${:.3}/M tokens", usd * 1e6);
        let external = self.prices.external.iter().zip(&self.external_origin).flat_map(move |(p, (i, o))| {
            [
                (format!("{} input token", p.name), per_m(p.input_token), i),
                (format!("{} output token", p.name), per_m(p.output_token), o),
            ]
        });
        gpu.chain(external)
    }

    /// One line per price whose source failed, saying why and which price is used instead.
    pub fn notes(&self) -> Vec<String> {
        self.origins()
            .filter_map(|(name, value, o)| match o {
                PriceOrigin::Fallback { reason } => {
                    Some(format!("{name} price: {reason}; using the CostPolicy's {value}"))
                }
                _ => None,
            })
            .collect()
    }
}

/// A source of prices, read once per tick.
pub trait PriceSource: Send + Sync {
    /// The prices in force at `now` (Unix seconds), with their origins.
    fn prices(&self, now: f64) -> BoxFuture<'_, PriceReading>;
}

/// Prices fixed in the CRDs (and a price file), read once.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticPrices {
    reading: PriceReading,
}

/// The policy's part of a pool's prices: the GPU prices per class (with their queries) and the external
/// fallback. Taken from the policy when the pool is validated, so a price source is built without it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyPrices {
    /// `spec.gpuPrices`.
    pub gpu: GpuPrices,
    /// `spec.externalPrices`.
    pub external: Option<ExternalPrices>,
}

impl PolicyPrices {
    /// The prices a policy gives.
    pub fn of(policy: &CostPolicySpec) -> PolicyPrices {
        PolicyPrices { gpu: policy.gpu_prices.clone(), external: policy.external_prices.clone() }
    }

    fn per_class(&self) -> PerClass<&GpuPrice> {
        PerClass { reserved: &self.gpu.reserved, spot: &self.gpu.spot, on_demand: &self.gpu.on_demand }
    }
}

impl StaticPrices {
    /// Prices given directly, all from the policy.
    pub fn new(prices: Prices) -> Self {
        let external_origin = prices.external.iter().map(|_| (PriceOrigin::Policy, PriceOrigin::Policy)).collect();
        StaticPrices {
            reading: PriceReading { prices, gpu_origin: PerClass::from_fn(|_| PriceOrigin::Policy), external_origin },
        }
    }

    /// Static prices for a pool's providers under a policy: per provider and token kind, the pool's
    /// own figure, else the price file's entry for its model, else the policy's externalPrices (a
    /// model missing from the price file falls back to those, and says so).
    pub fn from_policy(policy: &PolicyPrices, providers: &[ExternalProvider], table: Option<&PriceTable>) -> Self {
        let gpu = policy.per_class();
        let mut external = Vec::new();
        let mut external_origin = Vec::new();
        for p in providers {
            let (input, output, origins) = provider_prices(policy, p, table);
            external.push(ProviderPrice { name: p.name.clone(), input_token: input, output_token: output });
            external_origin.push(origins);
        }
        StaticPrices {
            reading: PriceReading {
                prices: Prices { gpu_hour: gpu.map(|g| g.usd_per_gpu_hour), external },
                gpu_origin: PerClass::from_fn(|_| PriceOrigin::Policy),
                external_origin,
            },
        }
    }

    /// The reading this source always returns.
    pub fn reading(&self) -> &PriceReading {
        &self.reading
    }
}

/// One provider's input and output prices per token, with their origins.
fn provider_prices(
    policy: &PolicyPrices,
    provider: &ExternalProvider,
    table: Option<&PriceTable>,
) -> (f64, f64, (PriceOrigin, PriceOrigin)) {
    let policy_ext = policy.external.as_ref();
    let from_file = table.map(|t| t.get(&provider.api.model).ok_or_else(|| provider.api.model.clone()));
    let pick = |pool: Option<f64>, file: Option<f64>, policy: Option<f64>| -> (f64, PriceOrigin) {
        if let Some(p) = pool {
            return (p / 1e6, PriceOrigin::Pool);
        }
        match (&from_file, file) {
            (Some(Ok(_)), Some(per_token)) => {
                return (per_token, PriceOrigin::PriceFile { model: provider.api.model.clone() });
            }
            (Some(Err(model)), _) => {
                let reason = format!("model {model:?} is not in the price file");
                return match policy {
                    Some(p) => (p / 1e6, PriceOrigin::Fallback { reason }),
                    None => (0.0, PriceOrigin::Unset),
                };
            }
            _ => {}
        }
        match policy {
            Some(p) => (p / 1e6, PriceOrigin::Policy),
            None => (0.0, PriceOrigin::Unset),
        }
    };
    let file_prices = from_file.as_ref().and_then(|r| r.as_ref().ok());
    let (input, input_origin) = pick(
        provider.api.input_usd_per_million_tokens,
        file_prices.map(|p| p.input_usd_per_token),
        policy_ext.map(|p| p.input_usd_per_million_tokens),
    );
    let (output, output_origin) = pick(
        provider.api.output_usd_per_million_tokens,
        file_prices.map(|p| p.output_usd_per_token),
        policy_ext.map(|p| p.output_usd_per_million_tokens),
    );
    (input, output, (input_origin, output_origin))
}

impl PriceSource for StaticPrices {
    fn prices(&self, _now: f64) -> BoxFuture<'_, PriceReading> {
        Box::pin(std::future::ready(self.reading.clone()))
    }
}

/// One GPU price read from Prometheus.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuPriceQuery {
    /// PromQL returning USD per GPU-hour.
    pub query: String,
    /// Oldest acceptable sample age, seconds.
    pub max_age_s: f64,
}

/// GPU prices from Prometheus queries over static prices that serve as the fallback.
#[derive(Clone, Debug)]
pub struct PrometheusPrices {
    client: Option<PrometheusClient>,
    base: StaticPrices,
    queries: PerClass<Option<GpuPriceQuery>>,
}

impl PrometheusPrices {
    /// Query the classes whose policy price has a `query`; `base` holds the fallbacks. Without a
    /// client (no Prometheus configured) every queried price falls back and says why.
    pub fn new(client: Option<PrometheusClient>, base: StaticPrices, policy: &PolicyPrices) -> Self {
        let queries = policy.per_class().map(|g| {
            g.query.as_ref().map(|q| GpuPriceQuery { query: q.clone(), max_age_s: f64::from(g.max_age_seconds) })
        });
        PrometheusPrices { client, base, queries }
    }

    /// Read every queried price; fall back per class.
    pub async fn read(&self, now: f64) -> PriceReading {
        let mut reading = self.base.reading.clone();
        let answers = join_all(self.queries.iter().map(|q| async move {
            let q = q.as_ref()?;
            let Some(client) = &self.client else {
                return Some(Err("no Prometheus URL is configured".to_string()));
            };
            // Prometheus stamps computed values with the evaluation time; `timestamp()` of a plain
            // selector gives the age of the stored sample (e.g. a price exported with an explicit,
            // older timestamp). When it cannot tell (a scalar query), the evaluation time stands.
            let stamped = format!("timestamp({})", q.query);
            let (answer, stamps) = futures::future::join(client.instant(&q.query), client.instant(&stamped)).await;
            let sampled_at =
                stamps.ok().and_then(|s| s.iter().map(|p| p.value).filter(|v| v.is_finite()).reduce(f64::max));
            Some(match answer {
                Err(e) => Err(e.to_string()),
                Ok(points) => {
                    let points: Vec<_> = points
                        .into_iter()
                        .map(|p| Point { at: sampled_at.map_or(p.at, |t| t.min(p.at)), value: p.value })
                        .collect();
                    // Several series: take the dearest, so a price is never underestimated.
                    let best = points
                        .iter()
                        .filter(|p| p.value.is_finite())
                        .max_by(|a, b| a.value.total_cmp(&b.value))
                        .copied();
                    match best {
                        None => Err("query returned no data".to_string()),
                        Some(p) if p.value < 0.0 => Err(format!("query returned a negative price {}", p.value)),
                        Some(p) if now - p.at > q.max_age_s => {
                            Err(format!("query result is {:.0}s old (maxAgeSeconds {})", now - p.at, q.max_age_s))
                        }
                        Some(p) => Ok(p),
                    }
                }
            })
        }))
        .await;
        for (c, answer) in Class::ALL.into_iter().zip(answers) {
            match answer {
                None => {}
                Some(Ok(p)) => {
                    reading.prices.gpu_hour[c] = p.value;
                    reading.gpu_origin[c] = PriceOrigin::Query { at: p.at };
                }
                Some(Err(reason)) => reading.gpu_origin[c] = PriceOrigin::Fallback { reason },
            }
        }
        reading
    }
}

impl PriceSource for PrometheusPrices {
    fn prices(&self, now: f64) -> BoxFuture<'_, PriceReading> {
        Box::pin(self.read(now))
    }
}

/// The price source for a pool under a policy: static prices, or Prometheus-read GPU prices when any
/// class of the policy has a `query`.
pub fn price_source_for(
    policy: &PolicyPrices,
    providers: &[ExternalProvider],
    table: Option<&PriceTable>,
    client: Option<PrometheusClient>,
) -> Box<dyn PriceSource> {
    let base = StaticPrices::from_policy(policy, providers, table);
    if policy.per_class().iter().any(|g| g.query.is_some()) {
        Box::new(PrometheusPrices::new(client, base, policy))
    } else {
        Box::new(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy(extra: &str) -> PolicyPrices {
        let yaml = format!(
            "gpuPrices:\n  reserved: {{usdPerGpuHour: 1.0}}\n  spot: {{usdPerGpuHour: 1.5, query: 'spot_price'}}\n  \
             onDemand: {{usdPerGpuHour: 4.0}}\nslo: {{latencySeconds: 2}}\n{extra}"
        );
        PolicyPrices::of(&crate::input::parse_yaml::<CostPolicySpec>(Path::new("policy.yaml"), &yaml).unwrap())
    }

    fn provider(yaml: &str) -> ExternalProvider {
        let api: crate::api::inference_pool::ExternalApi =
            crate::input::parse_yaml(Path::new("ext.yaml"), yaml).unwrap();
        let backend: crate::api::inference_pool::BackendRef =
            crate::input::parse_yaml(Path::new("b.yaml"), "name: egress\n").unwrap();
        ExternalProvider::from_single(&api, &backend)
    }

    #[test]
    fn static_prices_layer_pool_over_file_over_policy() {
        let p = policy("externalPrices: {inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 2}\n");
        let table = PriceTable::parse(
            Path::new("t.json"),
            r#"{"gpt-4o": {"input_cost_per_token": 2.5e-6, "output_cost_per_token": 1e-5, "litellm_provider": "openai"}}"#,
        )
        .unwrap();

        let r = StaticPrices::from_policy(&p, &[provider("model: m\n")], None).reading().clone();
        assert_eq!(r.prices.gpu_hour, [1.0, 1.5, 4.0].into());
        assert_eq!(r.prices.external[0].input_token, 1e-6);
        assert_eq!(r.external_origin[0].1, PriceOrigin::Policy);

        let ext = provider("model: gpt-4o\noutputUsdPerMillionTokens: 8\n");
        let cheap = provider("model: no-such-model\n");
        let r = StaticPrices::from_policy(&p, &[ext, cheap], Some(&table)).reading().clone();
        assert_eq!(r.prices.external[0].input_token, 2.5e-6);
        assert_eq!(r.external_origin[0].0, PriceOrigin::PriceFile { model: "gpt-4o".into() });
        assert_eq!(r.prices.external[0].output_token, 8e-6);
        assert_eq!(r.external_origin[0].1, PriceOrigin::Pool);
        // Each provider is priced on its own: the second falls back to the policy, and says so.
        assert_eq!(r.prices.external[1].input_token, 1e-6);
        assert!(r.fell_back());
        assert!(r.notes()[0].starts_with("no-such-model input token price"), "{:?}", r.notes());
        assert!(r.notes()[0].contains("\"no-such-model\" is not in the price file"), "{:?}", r.notes());

        let r = StaticPrices::from_policy(&policy(""), &[], None).reading().clone();
        assert!(r.prices.external.is_empty() && r.external_origin.is_empty());
    }

    #[tokio::test]
    async fn a_query_without_prometheus_falls_back_and_says_so() {
        let p = policy("");
        let source = price_source_for(&p, &[], None, None);
        let r = source.prices(1.0e9).await;
        assert_eq!(r.prices.gpu_hour[Class::Spot], 1.5);
        assert_eq!(r.gpu_origin[Class::Reserved], PriceOrigin::Policy);
        assert!(r.fell_back());
        assert_eq!(
            r.notes(),
            vec!["spot GPU-hour price: no Prometheus URL is configured; using the CostPolicy's $1.5000/GPU-hour"]
        );
    }
}
