//! Signals: what the planner sees of the world, read through one small trait per kind of source (as
//! KEDA has one scaler per source) and returned as plain snapshots that map straight onto
//! [`crate::planner::LoadSignals`] and [`crate::planner::Prices`].
//!
//! - [`LoadSource`]: a pool's load. [`PrometheusLoadSource`] reads vLLM and DCGM metrics (defaults
//!   overridable per pool); [`StaticLoad`] serves fixed values.
//! - [`PriceSource`]: the prices in force. [`StaticPrices`] from the CostPolicy (refined by the
//!   pool's external prices and a LiteLLM [`PriceTable`]); [`PrometheusPrices`] for GPU prices read
//!   by query with the policy's number as the fallback.
//! - [`providers::ProviderSource`]: each external provider's error ratio and latency from gateway
//!   series ([`providers::PrometheusProviderSource`]).
//! - [`TenantSource`]: tenants' shares of a pool's traffic for cost attribution
//!   ([`PrometheusTenantSource`] runs `spec.metrics.attribution`'s query).
//!
//! Every value carries its sample time; a missing, empty or NaN answer is unknown (`None`), never
//! zero; failures are reported in the reading, never raised, so the caller can hold the last safe
//! plan and say why. Times are Unix seconds as `f64`, passed in by the caller (the planner's clock).
//!
//! Wiring, per pool: [`PrometheusConfig::for_pool`] (URL, timeout, [`Credentials`] from the Secrets
//! in `spec.metrics.auth`) → [`PrometheusClient::new`] → [`PrometheusLoadSource::for_pool`] with the
//! policy's `slo.targetAttainment` as the latency quantile, a rate window spanning several scrape
//! intervals (the operator's: `planner::SIGNAL_WINDOW_S`, a minute) and a [`HistoryWindow`] (the
//! operator's: `controller::observe::history_window`), which also sets the recent rates' window and
//! step. Keep the source across ticks:
//! it remembers the last good values it reports, with their times, while Prometheus is down. Prices:
//! [`price_source_for`] with the policy's [`PolicyPrices`], the pool's `spec.external`, the parsed price
//! file (the ConfigMap key's content, via [`PriceTable::parse`]) and the client. Put
//! [`LoadReading::summary`] and [`PriceReading::notes`] into the status conditions.

pub mod client;
pub mod credentials;
pub mod history;
pub mod litellm;
pub mod load;
pub mod prices;
pub mod promql;
pub mod providers;
pub mod tenants;

use futures::future::BoxFuture;

pub use client::{BearerToken, ClientError, Credentials, PrometheusClient, PrometheusConfig, QueryError};
pub use litellm::{PriceTable, TokenPrices};
pub use load::{Availability, HistoryWindow, LoadReading, PrometheusLoadSource, StaticLoad};
pub use prices::{
    GpuPriceQuery, PolicyPrices, PriceOrigin, PriceReading, PriceSource, PrometheusPrices, StaticPrices,
    price_source_for,
};
pub use promql::{PoolQueries, QueryConfigError, QueryParams, Signal};
pub use tenants::{PrometheusTenantSource, TenantReading, TenantSource};

/// Something that reads a pool's load. Never fails: problems are in [`LoadReading::availability`].
pub trait LoadSource: Send + Sync {
    /// Read the load at `now` (Unix seconds).
    fn load(&self, now: f64) -> BoxFuture<'_, LoadReading>;
}

/// The wall clock as Unix seconds, for callers that have no clock of their own.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
