//! Sizing a fresh tick: the stages that turn the forecast into replica targets, named and in their
//! order, which is the policy ([`super::decide`] runs them, and runs them again when a Degrade budget
//! asks for the cheapest tier):
//!
//! 1. **fill** — [`allocate::targets`]: reserved for all demand, then spot and on-demand one replica at
//!    a time while each pays back by the buy rule; what the external API cannot take regardless;
//! 2. **overload guard** — observed overload: nothing below what runs, and one more replica where the
//!    external API cannot take what the replicas shed;
//! 3. **idle release** — idle for the whole idle period: down to the minimums;
//! 4. **stabilisation** — scale down only to the highest recommendation of the window, a few per tick;
//!    spot that was never granted is no scale-down; replacements bridge interrupted replicas;
//! 5. **limits** — class and pool minimums and maximums.
//!
//! The budget (stage 6) and the route (stage 7) follow in `tick.rs`. Pure.

use super::Class;
use super::PoolConfig;
use super::allocate::{self, Allocation, Bounds};
use super::economics::Economics;
use super::forecast::{Forecast, Rent};
use super::scale_down::{self, Damping};
use super::spot;
use super::tick::ClassCounts;
use crate::status::PerClass;

/// What the sizing stages need from the tick.
#[derive(Clone, Copy)]
pub(crate) struct Sizing<'a> {
    pub config: &'a PoolConfig,
    pub econ: &'a Economics,
    pub fc: &'a Forecast,
    /// What renting the load has cost, for the buy rule.
    pub rent: Rent<'a>,
    pub obs: &'a ClassCounts,
    /// The replicas are overloaded now.
    pub overloaded: bool,
    /// ... and the external API cannot take what they shed: add a replica.
    pub overload_add: bool,
    /// Idle for the whole idle period: release to the minimums.
    pub idle_release: bool,
    /// What replaces spot capacity that counts as unavailable.
    pub shortage: spot::Shortage,
    /// The highest recommendation per class within its stabilisation window.
    pub wmax: PerClass<u32>,
}

impl Sizing<'_> {
    /// Stages 1-3: fill, overload guard, idle release.
    pub fn fill(&self, bounds: &Bounds) -> Allocation {
        let (config, obs) = (self.config, self.obs);
        let mut alloc = allocate::targets(
            config,
            self.econ,
            &allocate::Demand { fc: self.fc, rent: Some(&self.rent), desired: obs.desired },
            bounds,
        );
        if self.overloaded {
            raise_for_overload(config, bounds, obs, self.overload_add, &mut alloc.replicas);
        }
        // The policy asked for idle GPUs back, whatever the economics would keep; the external API
        // carries the trickle while cold.
        if self.idle_release {
            alloc.replicas = PerClass::from_fn(|c| allocate::class_min(config, c));
            allocate::fit_limits(config, &mut alloc.replicas, bounds);
        }
        alloc
    }

    /// Stages 4-5: stabilisation and limits. Returns the targets and, per class, what the
    /// stabilisation did to them (for the reasons).
    pub fn settle(&self, alloc: &Allocation, bounds: &Bounds) -> (PerClass<u32>, PerClass<Damping>) {
        let obs = self.obs;
        let (mut target, mut damping) =
            scale_down::damp(self.config, alloc.replicas, obs.desired, self.wmax, self.idle_release);
        if self.shortage == spot::Shortage::Replaced {
            // Spot replicas that never got capacity are not running: cancelling them is no scale-down.
            let s = Class::Spot;
            target[s] = target[s].min(obs.ready[s].max(alloc.replicas[s]));
        }
        if !self.idle_release {
            let healthy_ready: PerClass<u32> = PerClass::from_fn(|c| obs.ready[c] - obs.interrupted[c]);
            scale_down::bridge(&mut target, &mut damping, alloc.replicas, obs.desired, healthy_ready, obs.interrupted);
        }
        allocate::fit_limits(self.config, &mut target, bounds);
        (target, damping)
    }
}

/// Overloaded: nothing below what runs and, when `add` (the external API cannot take the shed load),
/// one more replica (reserved first, then the next paid class) unless replicas are already starting.
fn raise_for_overload(config: &PoolConfig, bounds: &Bounds, obs: &ClassCounts, add: bool, r: &mut PerClass<u32>) {
    for c in Class::ALL {
        r[c] = r[c].max(obs.desired[c]);
    }
    let starting = Class::ALL.into_iter().any(|c| obs.desired[c] > obs.ready[c]);
    if !add || starting || r.iter().sum::<u32>() >= config.max_replicas {
        return;
    }
    let next = if r[Class::Reserved] < allocate::class_max(config, Class::Reserved) {
        Some(Class::Reserved)
    } else {
        allocate::next_paid(config, r, bounds)
    };
    if let Some(c) = next {
        r[c] += 1;
    }
}
