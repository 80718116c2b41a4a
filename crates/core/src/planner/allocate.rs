//! Raw replica targets per class from the forecast and the economics, before scale-down damping.
//!
//! Fill order is the design's: reserved (free at the margin) for all forecast demand; then, for the
//! persisting base level above it, one replica at a time on spot (within the spot fraction) or else
//! on-demand, each only while the load it would carry keeps it at or above its break-even
//! utilisation (judged on the persisting levels, or, where a lull keeps those below it, on the rent
//! its band of the load has paid, `forecast::Rent`); then whatever the external API cannot take (max
//! share, rate limit, SLO) is added regardless of price; then spares, replacements for interrupted
//! replicas and the limits.

use super::economics::Economics;
use super::forecast::{Forecast, Rent};
use super::scale_down;
use super::{Class, PoolConfig};
use crate::status::PerClass;

const EPS: f64 = 1e-9;

/// What bounds the allocation this tick beyond the static configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Effective spot fraction (halved under frequent interruptions, lifted under budget Degrade).
    pub spot_fraction: f64,
    /// Most on-demand replicas allowed (budget Degrade caps it at what runs).
    pub on_demand_max: u32,
    /// Replicas on nodes with an interruption notice, per class; replaced on top of the target.
    pub interrupted: PerClass<u32>,
    /// Most spot replicas (interrupted included) while spot capacity is unavailable: what is ready.
    pub spot_max: u32,
    /// Spot replicas ready while the spot asked for does not arrive and the external API carries its
    /// share (`None` otherwise): on-demand is then also bought for what it pays by its own rule with
    /// spot capped at these, while the spot stays asked for.
    pub scarce_spot_ready: Option<u32>,
}

/// The demand a fill is for: the forecast, what renting it has cost, and the replicas asked for now
/// (what runs and may be kept).
#[derive(Clone, Copy, Debug)]
pub struct Demand<'a> {
    pub fc: &'a Forecast,
    pub rent: Option<&'a Rent<'a>>,
    pub desired: PerClass<u32>,
}

/// Raw targets and the figures behind them, for reasons.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Allocation {
    /// Replicas per class, within class and pool limits.
    pub replicas: PerClass<u32>,
    /// Demand the external API cannot take (share, rate limit, SLO), so replicas must, rps.
    pub must_rps: f64,
    /// Spot replicas forced past the spot fraction because no other class had room for load the
    /// external API cannot take.
    pub spot_over_fraction: bool,
    /// The last replica bought on the rent its load has paid rather than on a level that lasted.
    pub rented: Option<RentBuy>,
}

/// A replica bought on ski rental's rent so far: the load of its band, clipped to the band, kept it
/// `busy` (a fraction of its capacity) over the last `over_s` seconds, which repays its start-up and
/// window, though short lulls kept the least rate over that time below the band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RentBuy {
    pub class: Class,
    pub from_rps: f64,
    pub to_rps: f64,
    pub busy: f64,
    pub over_s: f64,
}

/// Largest replica count of a class (0 when the pool cannot use it).
pub fn class_max(config: &PoolConfig, c: Class) -> u32 {
    config.class(c).map_or(0, |cc| cc.max_replicas)
}

/// Smallest replica count of a class.
pub fn class_min(config: &PoolConfig, c: Class) -> u32 {
    config.class(c).map_or(0, |cc| cc.min_replicas)
}

/// How much of `demand` the external API may take.
pub fn external_capacity(config: &PoolConfig, econ: &Economics, demand: f64) -> f64 {
    match config.external_path() {
        Some(e) if econ.external_substitutes() => {
            let by_share = e.max_share.clamp(0.0, 1.0) * demand;
            e.max_rps.map_or(by_share, |r| by_share.min(r.max(0.0)))
        }
        _ => 0.0,
    }
}

/// Most spot replicas this tick: the class maximum, or what is ready while spot is unavailable.
fn spot_limit(config: &PoolConfig, b: &Bounds) -> u32 {
    class_max(config, Class::Spot).min(b.spot_max)
}

/// Whether one more healthy spot replica fits (interrupted ones hold slots until they go).
fn spot_fits(config: &PoolConfig, r: &PerClass<u32>, b: &Bounds) -> bool {
    let spot = r[Class::Spot];
    let total = r.iter().sum::<u32>();
    let room = spot_limit(config, b).saturating_sub(b.interrupted[Class::Spot]);
    spot < room && f64::from(spot + 1) <= b.spot_fraction * f64::from(total + 1) + EPS
}

/// The class the next paid replica goes to, if any has room: spot within its fraction, else on-demand.
pub(crate) fn next_paid(config: &PoolConfig, r: &PerClass<u32>, b: &Bounds) -> Option<Class> {
    if r.iter().sum::<u32>() >= config.max_replicas {
        return None;
    }
    if spot_fits(config, r, b) {
        Some(Class::Spot)
    } else if r[Class::OnDemand] < class_max(config, Class::OnDemand).min(b.on_demand_max) {
        Some(Class::OnDemand)
    } else {
        None
    }
}

/// Spot replicas the spot fraction lets follow a replica of class `c` that only it holds back: after an
/// on-demand replica, those that then fit (none after a spot replica, or where spot has no room).
fn spot_after(config: &PoolConfig, r: &PerClass<u32>, b: &Bounds, c: Class) -> u32 {
    if c != Class::OnDemand || spot_fits(config, r, b) {
        return 0;
    }
    let mut next = *r;
    next[c] += 1;
    let mut n = 0;
    while spot_fits(config, &next, b) && next.iter().sum::<u32>() < config.max_replicas {
        next[Class::Spot] += 1;
        n += 1;
    }
    n
}

/// Whether an on-demand replica pays as the head of a bundle with the `spot` replicas it makes room
/// for: the bundle's mean break-even against the load it would carry, over the same persistence rule.
/// Judged alone, an on-demand replica held back the whole spot fleet wherever on-demand barely pays
/// (70B on H100s against a premium API: u* 0.74 on-demand, 0.17 on spot); judged at the blend without
/// the load to fill the spot replicas, it bought lone on-demand replicas that did not pay.
fn bundle_pays(econ: &Economics, windows: PerClass<f64>, c: Class, spot: u32, w: f64, load: f64) -> bool {
    if spot == 0 {
        return false;
    }
    let m = f64::from(spot + 1);
    let u = (econ.break_even(c) + f64::from(spot) * econ.break_even(Class::Spot)) / m;
    let f = load.min(m * econ.mu) / (m * econ.mu);
    let i = Class::Spot;
    let window = windows[c].max(windows[i]);
    let lead_extra = (econ.lead_s[i] - econ.lead_s[c]).max(0.0);
    lasted(w, econ.buy_after_load_at(u, c, window + lead_extra, f))
}

/// Whether load that has lasted `w` seconds has lasted the buy time `need` (infinite: never pays, even
/// over a window taken as lasting for ever).
fn lasted(w: f64, need: f64) -> bool {
    need.is_finite() && w + 1e-6 >= need
}

/// Raw targets: replicas worth buying for the persisting base, and at least as many of those already
/// running as are worth keeping for the current demand. Buying needs persistence (a new replica costs
/// its lead time and a whole window before it can go); keeping does not (a running replica costs only
/// its hour), so a replica stays while the demand keeps it at or above break-even. That demand is the
/// recent mean (capped by the current rate), not the current rate: the scale-down window keeps the
/// highest recommendation it saw, so keeping for the rate of the moment kept a replica for as long as
/// any short burst came back within the window, while the load it carried on average was below
/// break-even (Azure Functions counts, 8B against a cheap API: $272 became $250).
pub fn targets(config: &PoolConfig, econ: &Economics, d: &Demand, b: &Bounds) -> Allocation {
    let mut buy = targets_within(config, econ, d, b);
    if let Some(ready) = b.scarce_spot_ready {
        // Scarce spot bridged by the API: on-demand for what pays on-demand without the pending spot,
        // the spot still asked for (it costs nothing until it comes); pending spot gives way at the
        // pool's maximum.
        let without = Bounds { spot_max: ready.min(b.spot_max), scarce_spot_ready: None, ..*b };
        let alt = targets_within(config, econ, d, &without);
        let (s, od) = (Class::Spot, Class::OnDemand);
        buy.replicas[od] = buy.replicas[od].max(alt.replicas[od]);
        let excess = buy.replicas.iter().sum::<u32>().saturating_sub(config.max_replicas);
        let pending = buy.replicas[s].saturating_sub(ready);
        buy.replicas[s] -= excess.min(pending);
    }
    buy
}

/// [`targets`] within the bounds as given: what is bought, and what runs and is still worth keeping.
fn targets_within(config: &PoolConfig, econ: &Economics, d: &Demand, b: &Bounds) -> Allocation {
    let (fc, desired) = (d.fc, d.desired);
    let mut buy = allocate(config, econ, fc, d.rent, b);
    let keep_level = keep_level(fc);
    if keep_level > fc.base_rps {
        let keep_fc = fc.with_level(keep_level);
        let keep = allocate(config, econ, &keep_fc, None, b);
        for (b, (k, d)) in buy.replicas.iter_mut().zip(keep.replicas.iter().zip(desired.iter())) {
            *b = (*b).max((*k).min(*d));
        }
        fit_limits(config, &mut buy.replicas, b);
    }
    buy
}

/// The demand a running replica is kept for: the recent mean, capped by the current rate.
fn keep_level(fc: &Forecast) -> f64 {
    fc.recent_mean_rps.min(fc.now_rps)
}

/// Replicas worth buying for the forecast's persisting base, plus what the external API cannot take.
pub fn allocate(config: &PoolConfig, econ: &Economics, fc: &Forecast, rent: Option<&Rent>, b: &Bounds) -> Allocation {
    let mu = econ.mu;
    let mut r = PerClass::<u32>::default();
    // What the external API cannot take (its share, its rate limit) must be on replicas. Where it can
    // bridge, that is judged on the demand that has lasted a lead time: a replica started for a burst
    // the API cannot take arrives after the burst. On the Azure Functions counts (70B against a
    // premium API limited to 50 rps, minute bursts above it 4.5% of the time, none lasting ten
    // minutes) buying for the peak kept 84% of the GPU-hours idle, at $199k against all-external's
    // $110k, and served fewer requests in time than all-external. With no API to bridge, the replicas
    // are the only path and follow the peak.
    let bridged = config.external_path().is_some() && econ.external_substitutes();
    let must_of = if bridged { fc.lasting_rps } else { fc.peak_rps };
    let must_rps = (must_of - external_capacity(config, econ, must_of)).max(0.0);

    // Reserved: free at the margin, so it takes all the forecast demand it can.
    let res_max = class_max(config, Class::Reserved).min(config.max_replicas);
    r[Class::Reserved] = ((fc.peak_rps / mu - EPS).ceil().max(0.0) as u32).min(res_max);
    let res_rps = f64::from(r[Class::Reserved]) * mu;

    // Paid classes for the persisting base, one replica at a time while it pays for itself. The
    // sequence of classes depends only on the counts so far, so more demand only ever extends it.
    //
    // Ski rental with the saving proportional to the load above break-even: a replica that would
    // carry a fraction f of its capacity saves (f − u*) of a full replica's external bill per second,
    // so its load must have lasted u*·(lead + window)/(f − u*) before buying it beats renting
    // (`Economics::buy_after_load_s`). A replica near break-even waits hours; one at or below it is
    // never bought. (Waiting u*·(lead + window)/f, as before, bought replicas for load just above
    // break-even, and the keep rule released them a few minutes after they were ready: on ServeGen
    // m-mid, 8B against a cheap API, an on-demand replica every hour or two all day.) Every level comes
    // from the forecast's persisting levels, so more demand still only ever buys more.
    let windows = scale_down::windows(config, econ);
    let mut used = res_rps;
    let mut rented = None;
    while let Some(c) = next_paid(config, &r, b) {
        let bundle = spot_after(config, &r, b, c);
        let carried = fc
            .levels
            .iter()
            .map(|&(w, level)| {
                let load = (level - used).max(0.0);
                let alone = load.min(mu);
                let pays_alone = lasted(w, econ.buy_after_load_s(c, windows[c], alone / mu));
                if alone > EPS && (pays_alone || bundle_pays(econ, windows, c, bundle, w, load)) { alone } else { 0.0 }
            })
            .fold(0.0, f64::max);
        // Where the levels found nothing, the rent its load has paid may still buy it.
        let by_rent =
            if carried <= EPS { rent.and_then(|rent| rent_buy(econ, fc, rent, windows, c, res_rps, &r)) } else { None };
        if carried <= EPS && by_rent.is_none() {
            break;
        }
        r[c] += 1;
        used = match by_rent {
            Some(rb) => {
                rented = Some(rb);
                used.max(rb.to_rps)
            }
            None => used + carried,
        };
    }

    // What the external API cannot take must be on replicas whatever it costs.
    let must_total = ((must_rps - res_rps) / mu - EPS).ceil().max(0.0) as u32;
    let mut spot_over_fraction = false;
    while r[Class::Spot] + r[Class::OnDemand] < must_total {
        if let Some(c) = next_paid(config, &r, b) {
            r[c] += 1;
        } else if r[Class::Spot] + b.interrupted[Class::Spot] < spot_limit(config, b)
            && r.iter().sum::<u32>() < config.max_replicas
        {
            // No other class has room: the SLO outranks the spot fraction.
            r[Class::Spot] += 1;
            spot_over_fraction = true;
        } else {
            break;
        }
    }

    // Spares hedge the spot replicas against interruptions.
    if r[Class::Spot] > 0 {
        r[Class::Spot] = (r[Class::Spot] + config.spare_spot_replicas).min(spot_limit(config, b));
    }
    // Replacements: interrupted replicas are still counted in their workload until their node goes,
    // so the target carries them on top to start the replacements now.
    for c in Class::ALL {
        let max = if c == Class::Spot { spot_limit(config, b) } else { class_max(config, c) };
        r[c] = (r[c] + b.interrupted[c]).min(max.max(r[c]));
    }
    fit_limits(config, &mut r, b);
    Allocation { replicas: r, must_rps, spot_over_fraction, rented }
}

/// Ski rental's rent so far, for the next paid replica of class `c` (after `r`) where the persisting
/// levels found nothing to buy: the load of its band (from what the replicas before it carry to one
/// replica more), clipped to the band and averaged over each window ([`Rent::fraction`]), has lasted the
/// buy time at that mean. A level is a window's least rate, and one quiet step caps it: on the one-hour
/// traces of the simulator's capacity matrix a 10-second lull every twenty minutes kept every level
/// longer than that below the band. Only for a band the keep rule would keep ([`keep_level`]), so what
/// is bought stays: without that condition ServeGen m-mid was 0.1-0.7% dearer, with it 0.5% cheaper;
/// Azure conv 12-24%, Mooncake 6%, x8 prompts 8% cheaper; the main matrix within 0.7% either way.
fn rent_buy(
    econ: &Economics,
    fc: &Forecast,
    rent: &Rent,
    windows: PerClass<f64>,
    c: Class,
    res_rps: f64,
    r: &PerClass<u32>,
) -> Option<RentBuy> {
    let mu = econ.mu;
    let lo = res_rps + f64::from(r[Class::Spot] + r[Class::OnDemand]) * mu;
    if (keep_level(fc) - lo) / mu <= econ.break_even(c) {
        return None;
    }
    let f = rent.fraction(lo, mu, fc.levels.map(|(w, _)| w));
    let (&(over_s, _), busy) =
        fc.levels.iter().zip(f).find(|&(&(w, _), fr)| lasted(w, econ.buy_after_load_s(c, windows[c], fr)))?;
    Some(RentBuy { class: c, from_rps: lo, to_rps: lo + mu, busy, over_s })
}

/// Fewest replicas the pool may have: its minimum, and at least one when there is no external API
/// (the replicas are then the only path for traffic).
pub fn pool_floor(config: &PoolConfig) -> u32 {
    let floor = if config.external_path().is_none() { config.min_replicas.max(1) } else { config.min_replicas };
    floor.min(config.max_replicas)
}

/// Bring counts within per-class and pool minimum and maximum. Minimums are filled cheapest first;
/// excess over the pool maximum is removed dearest first. Without an external API the pool keeps at
/// least one replica: it is the only path for traffic.
pub fn fit_limits(config: &PoolConfig, r: &mut PerClass<u32>, b: &Bounds) {
    for c in Class::ALL {
        r[c] = r[c].clamp(class_min(config, c), class_max(config, c).max(class_min(config, c)));
    }
    let floor = pool_floor(config);
    while r.iter().sum::<u32>() < floor {
        let c = if r[Class::Reserved] < class_max(config, Class::Reserved) {
            Class::Reserved
        } else if let Some(c) = next_paid(config, r, b) {
            c
        } else if let Some(c) = [Class::Spot, Class::OnDemand].into_iter().find(|c| r[*c] < class_max(config, *c)) {
            c
        } else {
            break;
        };
        r[c] += 1;
    }
    for c in [Class::OnDemand, Class::Spot, Class::Reserved] {
        let excess = r.iter().sum::<u32>().saturating_sub(config.max_replicas);
        r[c] -= excess.min(r[c].saturating_sub(class_min(config, c)));
    }
}
