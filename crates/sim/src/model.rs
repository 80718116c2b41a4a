//! The cluster model, advanced in fixed steps: replicas per capacity class with node-provisioning
//! and model-load delays, spot interruptions, a fluid queue with an M/M/c tail for latency
//! (`queueing.rs`), the external providers with their latency, rate limits and error bursts
//! (`providers.rs`), and the bill.
//!
//! Simplifications, each chosen so that no strategy is favoured:
//! - A new spot or on-demand replica always gets a new node (Karpenter consolidates empty nodes
//!   away quickly), so it is ready after the class's node provisioning plus the model start-up.
//!   Reserved nodes are held all the time: a reserved replica needs only the start-up.
//! - Billing is per second per replica's GPUs from the moment it is asked for (the node boots on our
//!   bill) until it is released; node packing of several replicas per node is not modelled.
//!   Reserved GPUs are committed: the commitment is paid every second, used or not.
//! - A request counts as within the SLO only when its step's capacity serves it and its M/M/c wait
//!   is within the slack. A replica saturates at `h` times its rated capacity, `h` chosen so that
//!   Poisson load at the rated capacity meets the SLO target exactly (`queueing::saturation_factor`). Requests the
//!   step cannot serve wait in a backlog that is served first in the next steps (they are late
//!   already); the backlog is capped at four SLOs of capacity (clients give up).
//! - The route splits by weight, as an HTTPRoute does: `external_weight`% of every step's requests
//!   go to the external providers (each its own route weight, or all to the cheapest when the
//!   strategy names none), whatever the replicas could have taken. Requests above a provider's limits
//!   are rejected, and an error burst fails its share (missed, not billed).

use hybridscale_core::status::PerClass;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::providers::{self, ProviderResult, Served};
use super::queueing;
use super::spec::SimSpec;
use super::spot::{NOTICE_S, SpotMarket};
use hybridscale_api::inference_pool::CapacityClassName as Class;

/// One replica.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Replica {
    /// When it serves (seconds from the start).
    ready_at: f64,
    /// When its node goes away after an interruption notice.
    gone_at: Option<f64>,
}

/// Spend so far, USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Bill {
    /// Reserved GPUs (the commitment).
    pub reserved: f64,
    /// Spot GPUs.
    pub spot: f64,
    /// On-demand GPUs.
    pub on_demand: f64,
    /// External API tokens.
    pub external: f64,
}

impl Bill {
    /// Sum of all parts.
    pub fn total(&self) -> f64 {
        self.reserved + self.spot + self.on_demand + self.external
    }
}

/// What happened in one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepOutcome {
    /// Requests arriving.
    pub arrivals: f64,
    /// Requests within the SLO.
    pub within: f64,
    /// Requests sent to the external API.
    pub external: f64,
    /// Requests per second one replica completes at saturation for this step's token mix.
    pub replica_rps: f64,
    /// Utilisation of the ready replicas (0..1).
    pub utilization: f64,
    /// Latency at the SLO's quantile of self-hosted requests, seconds (infinite when none serve).
    pub latency_s: f64,
    /// Requests being served (Little's law).
    pub running: f64,
    /// Requests queued at the end of the step.
    pub waiting: f64,
}

/// Totals over a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Requests.
    pub requests: f64,
    /// Requests within the SLO.
    pub within: f64,
    /// Requests sent to the external API.
    pub external: f64,
    /// GPU-seconds paid for.
    pub gpu_s: f64,
    /// GPU-seconds paid for but not serving.
    pub idle_gpu_s: f64,
}

/// The simulated cluster of one pool.
pub struct Cluster<'a> {
    spec: &'a SimSpec,
    market: &'a SpotMarket,
    rng: ChaCha8Rng,
    replicas: PerClass<Vec<Replica>>,
    desired: PerClass<u32>,
    max: PerClass<u32>,
    reserved_commitment: u32,
    external_weight: u32,
    /// Route weight per provider as the strategy set it; empty: the whole external weight to the cheapest.
    provider_weights: Vec<u32>,
    /// Per provider, what the last step sent and what came of it, and the weights it was routed by.
    last: Vec<(u32, Served)>,
    backlog: f64,
    interruptions: u64,
    /// Spend so far.
    pub bill: Bill,
    /// Totals so far.
    pub totals: Totals,
    /// Totals so far per provider, in the pool's order.
    pub provider_totals: Vec<ProviderResult>,
}

impl<'a> Cluster<'a> {
    /// A cluster with nothing running. `reserved_commitment` is the number of reserved replicas
    /// paid for all the time (the pool's reservation, or more for a baseline that buys its own).
    pub fn new(spec: &'a SimSpec, market: &'a SpotMarket, reserved_commitment: u32, seed: u64) -> Self {
        let class_max = |c: Class| spec.class(c).map_or(0, |s| s.max);
        Cluster {
            spec,
            market,
            rng: ChaCha8Rng::seed_from_u64(seed),
            replicas: Default::default(),
            desired: PerClass::default(),
            max: [
                class_max(Class::Reserved).max(reserved_commitment),
                class_max(Class::Spot),
                class_max(Class::OnDemand),
            ]
            .into(),
            reserved_commitment,
            external_weight: 0,
            provider_weights: Vec::new(),
            last: Vec::new(),
            backlog: 0.0,
            interruptions: 0,
            bill: Bill::default(),
            totals: Totals::default(),
            provider_totals: Self::no_provider_totals(spec),
        }
    }

    /// Ask for `replicas` per class (clamped to each class's maximum; a class the pool lacks gets
    /// none) and set the external weight (0 when the pool has no external API).
    pub fn set_targets(&mut self, replicas: PerClass<u32>, external_weight: u32) {
        for c in Class::ALL {
            self.desired[c] = replicas[c].min(self.max[c]);
        }
        self.external_weight = if self.spec.external.is_some() { external_weight.min(100) } else { 0 };
    }

    /// Route the external weight across the providers by these weights (percent of all requests, in
    /// the pool's order; their sum becomes the external weight). Empty: all of it to the cheapest.
    pub fn set_provider_weights(&mut self, weights: &[u32]) {
        if self.spec.external.is_none() || weights.is_empty() {
            self.provider_weights.clear();
            return;
        }
        let mut left = 100u32;
        self.provider_weights = (0..self.spec.providers.len())
            .map(|i| {
                let w = weights.get(i).copied().unwrap_or(0).min(left);
                left -= w;
                w
            })
            .collect();
        self.external_weight = 100 - left;
    }

    /// Zeroed per-provider totals, one per provider of the pool.
    pub fn no_provider_totals(spec: &SimSpec) -> Vec<ProviderResult> {
        spec.providers.iter().map(|p| ProviderResult { name: p.name.clone(), ..Default::default() }).collect()
    }

    /// Per provider, the route weight of the last step and what came of its requests (empty before the
    /// first step or without providers).
    pub fn last_provider_step(&self) -> &[(u32, Served)] {
        &self.last
    }

    /// Make the current targets ready at `t` (the replay starts warm, as if it had been running).
    pub fn warm_start(&mut self, t: f64) {
        for c in Class::ALL {
            self.replicas[c] = vec![Replica { ready_at: t, gone_at: None }; self.desired[c] as usize];
        }
    }

    /// Replicas asked for, per class.
    pub fn desired(&self) -> PerClass<u32> {
        self.desired
    }

    /// Ready replicas (including those under an interruption notice), per class, at `t`.
    pub fn ready(&self, t: f64) -> PerClass<u32> {
        PerClass::from_fn(|c| self.replicas[c].iter().filter(|r| r.ready_at <= t).count() as u32)
    }

    /// Ready replicas under an interruption notice, per class.
    pub fn interrupted(&self, t: f64) -> PerClass<u32> {
        PerClass::from_fn(|c| self.replicas[c].iter().filter(|r| r.ready_at <= t && r.gone_at.is_some()).count() as u32)
    }

    /// External weight in force.
    pub fn external_weight(&self) -> u32 {
        self.external_weight
    }

    /// Spot interruptions so far.
    pub fn interruptions(&self) -> u64 {
        self.interruptions
    }

    fn delay(&self, c: Class) -> f64 {
        let node =
            if c == Class::Reserved { 0.0 } else { self.spec.classes[c].as_ref().map_or(0.0, |s| s.node_provision_s) };
        node + self.spec.startup_s
    }

    /// Bring the replicas to the targets at time `t`: nodes under notice go away, interruptions
    /// happen, extra replicas are released (the least useful first) and missing ones are started.
    fn reconcile(&mut self, t: f64, dt: f64) {
        for list in &mut self.replicas {
            list.retain(|r| r.gone_at.is_none_or(|g| g > t));
        }
        let spot = Class::Spot;
        // Interruptions: Poisson per replica, or the availability trace taking capacity away.
        let p = self.market.interruption_probability(dt);
        if p > 0.0 {
            for r in self.replicas[spot].iter_mut().filter(|r| r.gone_at.is_none()) {
                if self.rng.random::<f64>() < p {
                    r.gone_at = Some(t + NOTICE_S);
                    self.interruptions += 1;
                }
            }
        }
        let cap = self.market.cap(t, self.max[spot]) as usize;
        let healthy = self.replicas[spot].iter().filter(|r| r.gone_at.is_none()).count();
        if healthy > cap {
            let mut excess = healthy - cap;
            for r in self.replicas[spot].iter_mut().rev().filter(|r| r.gone_at.is_none()) {
                if excess == 0 {
                    break;
                }
                r.gone_at = Some(t + NOTICE_S);
                self.interruptions += 1;
                excess -= 1;
            }
        }
        for c in Class::ALL {
            let want = self.desired[c] as usize;
            let healthy = self.replicas[c].iter().filter(|r| r.gone_at.is_none()).count();
            if healthy > want {
                // Release the ones that would serve last: not-ready before ready, newest first.
                let mut idx: Vec<usize> =
                    (0..self.replicas[c].len()).filter(|&i| self.replicas[c][i].gone_at.is_none()).collect();
                idx.sort_by(|&a, &b| self.replicas[c][b].ready_at.total_cmp(&self.replicas[c][a].ready_at));
                let drop: Vec<usize> = idx.into_iter().take(healthy - want).collect();
                let mut i = 0;
                self.replicas[c].retain(|_| {
                    let keep = !drop.contains(&i);
                    i += 1;
                    keep
                });
            } else if healthy < want {
                let limit = if c == spot { cap.min(want) } else { want };
                let add = limit.saturating_sub(healthy);
                let ready_at = t + self.delay(c);
                self.replicas[c].extend(std::iter::repeat_n(Replica { ready_at, gone_at: None }, add));
            }
        }
    }

    /// The external part of a step: each provider's requests by its weight, its limits and bursts.
    /// Returns the requests sent external, those within the SLO and their bill.
    fn external_step(&mut self, t: f64, dt: f64, arrivals: f64, mean_input: f64, mean_output: f64) -> (f64, f64, f64) {
        let spec = self.spec;
        let Some(e) = spec.external.as_ref().filter(|_| !spec.providers.is_empty()) else {
            self.last.clear();
            return (arrivals * self.external_weight as f64 / 100.0, 0.0, 0.0);
        };
        let weights: Vec<u32> = if self.provider_weights.is_empty() {
            let cheapest = providers::cheapest(&spec.providers, mean_input, mean_output);
            (0..spec.providers.len()).map(|i| if i == cheapest { self.external_weight } else { 0 }).collect()
        } else {
            self.provider_weights.clone()
        };
        let to: Vec<f64> = weights.iter().map(|&w| arrivals * w as f64 / 100.0).collect();
        let served =
            providers::serve(&spec.providers, &to, e.policy_max_rps, t, dt, mean_input, mean_output, spec.slo_s);
        for (total, s) in self.provider_totals.iter_mut().zip(&served) {
            total.add(s);
        }
        let within = served.iter().map(|s| s.within).sum();
        let usd = served.iter().map(|s| s.usd).sum();
        self.last = weights.into_iter().zip(served).collect();
        (to.iter().sum(), within, usd)
    }

    /// Run one step `[t, t + dt)` with `arrivals` requests of the given mean sizes.
    pub fn step(&mut self, t: f64, dt: f64, arrivals: f64, mean_input: f64, mean_output: f64) -> StepOutcome {
        self.reconcile(t, dt);
        let spec = self.spec;
        let ready = self.ready(t);
        let n: u32 = ready.iter().sum();
        let mu = spec.replica_saturation_rps(mean_input, mean_output);

        let (to_external, ext_within, ext_cost) = self.external_step(t, dt, arrivals, mean_input, mean_output);

        // Self-hosted: fluid backlog plus the M/M/c tail.
        let to_self = arrivals - to_external;
        let capacity_rps = n as f64 * mu;
        let service_s = spec.service_s();
        let servers = (capacity_rps * service_s).round().max(if n > 0 { 1.0 } else { 0.0 }) as u32;
        let (self_within, served, utilization, latency_s) = if n == 0 {
            self.backlog = 0.0;
            (0.0, 0.0, 0.0, f64::INFINITY)
        } else {
            let k = capacity_rps * dt;
            let served = (self.backlog + to_self).min(k);
            let room = (k - self.backlog).max(0.0);
            let rate = (to_self / dt).min(capacity_rps * 0.999);
            let late = queueing::late_share(servers, rate, capacity_rps, spec.slo_s - service_s);
            let within = to_self.min(room) * (1.0 - late);
            let backlog_wait = self.backlog / capacity_rps;
            self.backlog = (self.backlog + to_self - served).min(capacity_rps * 4.0 * spec.slo_s);
            let wait = queueing::wait_quantile(servers, rate, capacity_rps, spec.target_attainment);
            (within, served, served / k, service_s + backlog_wait + wait)
        };

        // Bill this step.
        let running = PerClass::from_fn(|c| self.replicas[c].len() as f64);
        let g = spec.gpus_per_replica as f64;
        let reserved_paid = (self.reserved_commitment as f64).max(running.reserved);
        self.bill.reserved += reserved_paid * spec.replica_usd_per_s(Class::Reserved) * dt;
        self.bill.spot += running.spot * spec.replica_usd_per_s(Class::Spot) * dt;
        self.bill.on_demand += running.on_demand * spec.replica_usd_per_s(Class::OnDemand) * dt;
        self.bill.external += ext_cost;
        let paid_replicas = reserved_paid + running.spot + running.on_demand;
        self.totals.requests += arrivals;
        self.totals.within += self_within + ext_within;
        self.totals.external += to_external;
        self.totals.gpu_s += paid_replicas * g * dt;
        self.totals.idle_gpu_s += (paid_replicas - n as f64 * utilization) * g * dt;

        StepOutcome {
            arrivals,
            within: self_within + ext_within,
            external: to_external,
            replica_rps: mu,
            utilization,
            latency_s,
            running: served / dt * service_s,
            waiting: self.backlog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SimSpec {
        let mut s = crate::spec::default_spec();
        s.token_rates = Default::default();
        s
    }

    #[test]
    fn replicas_become_ready_after_node_and_startup() {
        let s = spec();
        let m = SpotMarket::Steady;
        let mut c = Cluster::new(&s, &m, 1, 1);
        c.set_targets([1, 0, 2].into(), 0);
        c.step(0.0, 10.0, 0.0, 100.0, 10.0);
        assert_eq!(c.ready(0.0), [0, 0, 0].into());
        assert_eq!(c.ready(240.0), [1, 0, 0].into());
        assert_eq!(c.ready(480.0), [1, 0, 2].into());
        // Starting replicas are billed: 2 on-demand replicas x 4 GPUs x 12.29 $/h for 10 s.
        assert!((c.bill.on_demand - 2.0 * 4.0 * 12.29 / 360.0).abs() < 1e-9);
        // The reserved commitment is paid whether used or not.
        assert!((c.bill.reserved - 4.0 * 7.37 / 360.0).abs() < 1e-9);
    }

    #[test]
    fn overload_misses_and_external_rate_limit_rejects() {
        let s = spec();
        let m = SpotMarket::Steady;
        let mut c = Cluster::new(&s, &m, 1, 1);
        c.set_targets([1, 0, 0].into(), 0);
        c.warm_start(0.0);
        // 1 replica at 2.5 rps: 10 rps for 10 s is 100 requests, at most 25 served.
        let o = c.step(0.0, 10.0, 100.0, 100.0, 10.0);
        assert!(o.within <= 25.0 && o.within > 0.0, "{o:?}");
        // Light load meets the SLO.
        let mut c = Cluster::new(&s, &m, 1, 1);
        c.set_targets([1, 0, 0].into(), 0);
        c.warm_start(0.0);
        let o = c.step(0.0, 10.0, 10.0, 100.0, 10.0);
        assert!((o.within - 10.0).abs() < 1e-6, "{o:?}");
        // All external at 100 rps against a 50 rps limit: half rejected.
        let mut c = Cluster::new(&s, &m, 0, 1);
        c.set_targets([0, 0, 0].into(), 100);
        let o = c.step(0.0, 10.0, 1000.0, 1000.0, 100.0);
        assert!((o.within - 500.0).abs() < 1e-6, "{o:?}");
        assert!((c.bill.external - 500.0 * (1000.0 * 2.68e-6 + 100.0 * 3.54e-6)).abs() < 1e-9);
    }

    #[test]
    fn spot_capacity_loss_gives_notice_then_removes() {
        let s = spec();
        let m = SpotMarket::Availability { name: "x".into(), gap_s: 100.0, share: vec![1.0, 0.0] };
        let mut c = Cluster::new(&s, &m, 0, 1);
        c.set_targets([0, 4, 0].into(), 0);
        c.warm_start(0.0);
        c.step(0.0, 10.0, 0.0, 1.0, 1.0);
        assert_eq!(c.interrupted(0.0)[Class::Spot], 0);
        c.step(100.0, 10.0, 0.0, 1.0, 1.0);
        assert_eq!(c.interrupted(100.0)[Class::Spot], 4);
        c.step(230.0, 10.0, 0.0, 1.0, 1.0);
        assert_eq!(c.ready(230.0)[Class::Spot], 0);
        assert_eq!(c.interruptions(), 4);
    }
}
