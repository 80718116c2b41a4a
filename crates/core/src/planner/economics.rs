//! Prices turned into decisions: cost of a replica-hour, of an external request, the break-even
//! utilisation and the two ski-rental horizons (when to buy a replica for new load, how long to keep
//! an idle one).

use super::capacity::Capacity;
use super::providers::Mix;
use super::{Class, Memory, PoolConfig, Snapshot};
use crate::status::PerClass;

/// The numbers every other step works with, computed once per tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Economics {
    /// Requests per second one replica serves within the SLO (μ) for the current token mix.
    pub mu: f64,
    /// Where μ comes from, for the reasons and status.
    pub capacity: Capacity,
    /// USD per external request at the recent token mix weighted by requests (`priced_mix.rs`);
    /// `None` when this tick's token mix is unknown.
    pub ext_cost_per_request: Option<f64>,
    /// Whether the external API can take load at all (configured, and data may leave).
    pub external: bool,
    /// Whether the external API answers within the SLO; if not, it only takes overflow that the
    /// replicas could not serve anyway and never replaces capacity.
    pub external_meets_slo: bool,
    /// USD per replica-hour per class (P_c = g × $/GPU-hour).
    pub replica_hour: PerClass<f64>,
    /// Seconds from asking for a replica of a class to it serving: node provisioning plus start-up.
    pub lead_s: PerClass<f64>,
}

impl Economics {
    /// Derive the tick's economics from the capacity believed this tick (`capacity.rs`: the
    /// configuration, the live token mix and what was learned).
    pub fn new(config: &PoolConfig, snapshot: &Snapshot, memory: &Memory) -> Economics {
        let load = &snapshot.load;
        let capacity = Capacity::believe(config, load, memory);
        let mu =
            if capacity.rps.is_finite() && capacity.rps > 0.0 { capacity.rps } else { config.replica_rps.max(1e-9) };
        let mean_out = load.mean_output_tokens.map(|s| s.value).filter(|v| v.is_finite() && *v > 0.0);
        let mean_in = load.mean_input_tokens.map(|s| s.value).filter(|v| v.is_finite() && *v >= 0.0);
        // The external path is priced at the provider filled first (`PoolConfig::for_tick`).
        let price = config.external_path().and_then(|e| snapshot.prices.external.get(e.priced_by));
        // Priced at the recent mix weighted by requests (`priced_mix.rs`), not this tick's few requests.
        let ext_cost_per_request = match (mean_in, mean_out) {
            (Some(i), Some(o)) => {
                let mix = memory.priced_mix.map_or(Mix { prompt_tokens: i, output_tokens: o }, |m| m.mix());
                Some(price.map_or(0.0, |p| p.usd_per_request(mix)))
            }
            _ => None,
        };
        let g = f64::from(config.gpus_per_replica);
        let replica_hour = snapshot.prices.gpu_hour.map(|p| if p.is_finite() { g * p.max(0.0) } else { 0.0 });
        let lead_s = PerClass::from_fn(|c| config.class(c).map_or(0.0, |cc| cc.node_provision_s) + config.startup_s);
        Economics {
            mu,
            capacity,
            ext_cost_per_request,
            external: config.external_path().is_some(),
            external_meets_slo: config.external_path().is_some_and(|e| e.latency_s <= config.slo_latency_s),
            replica_hour,
            lead_s,
        }
    }

    /// The same economics with μ lowered to what an observed overload shows (`learn::overload_bound`).
    pub fn capped(&self, rps: f64, evidence: String) -> Economics {
        Economics { mu: rps, capacity: self.capacity.capped(rps, evidence), ..self.clone() }
    }

    /// Whether the external API may replace self-hosted capacity (not only take overflow).
    pub fn external_substitutes(&self) -> bool {
        self.external && self.external_meets_slo
    }

    /// Break-even utilisation u* = P_c / (3600 · μ · c_ext) of a class: a replica that would run below it
    /// costs more per request than the external API. Reserved capacity is already paid for, so its
    /// marginal u* is 0. Without a usable external API, or with an unknown token mix, u* is 0 too:
    /// replicas are then the only (or the only priced) way to serve, and the external API only bridges
    /// start-up gaps.
    pub fn break_even(&self, c: Class) -> f64 {
        if c == Class::Reserved || !self.external_substitutes() {
            return 0.0;
        }
        match self.ext_cost_per_request {
            Some(ce) if ce > 0.0 => self.replica_hour[c] / (3600.0 * self.mu * ce),
            Some(_) => f64::INFINITY,
            None => 0.0,
        }
    }

    /// Ski-rental buy time for a fully loaded replica: [`Economics::buy_after_load_s`] at `f = 1`.
    pub fn buy_after_s(&self, c: Class, window_s: f64) -> f64 {
        self.buy_after_load_s(c, window_s, 1.0)
    }

    /// Ski-rental buy time for load that would keep a replica of a class at a fraction `f` of its
    /// capacity: how long that load must have lasted before the replica is bought for it.
    ///
    /// Buying has an overhead and a running cost. The overhead is the lead time plus the scale-down
    /// window, billed while the replica serves nothing: u* × (lead + window) replica-hours' worth of
    /// a full replica's external bill. The running cost is its hour, which serving the load externally
    /// would replace at f / u* of it: while the load lasts, the replica saves (f − u*) of a full
    /// replica's external bill per unit of time, so the overhead is repaid after
    /// u* × (lead + window) / (f − u*). Renting until the load has lasted that long, then buying, is the
    /// deterministic ski-rental rule (2-competitive with hindsight). Load at or below break-even
    /// (f ≤ u*) never pays for a replica: infinite. (Dividing by f instead of f − u*, as before, left
    /// out the running cost and bought near-break-even replicas after minutes: on ServeGen m-mid, 8B
    /// against a cheap API, the on-demand replicas bought for each day's hump cost $156 and saved $124
    /// of external spend.)
    pub fn buy_after_load_s(&self, c: Class, window_s: f64, f: f64) -> f64 {
        self.buy_after_load_at(self.break_even(c), c, window_s, f)
    }

    /// [`Economics::buy_after_load_s`] for a replica judged at break-even `u` rather than its class's
    /// own (`allocate` judges an on-demand replica that makes room for spot at the pair's blend).
    pub fn buy_after_load_at(&self, u: f64, c: Class, window_s: f64, f: f64) -> f64 {
        if !u.is_finite() || f <= u {
            return f64::INFINITY;
        }
        u * (self.lead_s[c] + window_s) / (f - u)
    }

    /// Ski-rental keep time: how long an unneeded replica of a class is kept before it is removed. Having
    /// to start it again costs its lead time in GPU-hours plus a replica's worth of load served
    /// externally meanwhile: keep = lead × (1 + 1/u*). Without a priced external API the restart cost
    /// is a latency risk rather than money, so the window is left at its configured bounds.
    pub fn keep_s(&self, c: Class) -> f64 {
        let u = self.break_even(c);
        if u > 0.0 && u.is_finite() { self.lead_s[c] * (1.0 + 1.0 / u) } else { f64::INFINITY }
    }

    /// USD per hour of a replica count per class.
    pub fn gpu_usd_per_hour(&self, replicas: PerClass<u32>) -> f64 {
        replicas.zip(&self.replica_hour, |r, usd| f64::from(r) * usd).total()
    }
}
