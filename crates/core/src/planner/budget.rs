//! Budget: month-to-date spend plus the burn of this pool and the other pools under the policy gives a
//! projection. The allowance is the burn rate this pool may have without passing either limit.

use super::{BudgetConfig, Class, Spend};
use crate::status::PerClass;

/// The budget as it stands this tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Allowance {
    /// Most USD/hour this pool may burn without passing the hourly limit or the month's budget.
    pub usd_per_hour: f64,
}

/// The allowance for this pool, `None` when the policy has no budget.
pub fn allowance(budget: Option<&BudgetConfig>, spend: &Spend) -> Option<Allowance> {
    let b = budget?;
    let others = spend.other_pools_usd_per_hour.max(0.0);
    let mut allow = f64::INFINITY;
    if let Some(h) = b.hourly_usd {
        allow = allow.min(h - others);
    }
    if let Some(m) = b.monthly_usd {
        let left_h = spend.seconds_left_in_month.max(0.0) / 3600.0;
        let remaining = m - spend.policy_month_to_date_usd;
        allow = allow.min(if left_h > 0.0 {
            remaining / left_h - others
        } else if remaining >= 0.0 {
            f64::INFINITY
        } else {
            -1.0
        });
    }
    Some(Allowance { usd_per_hour: allow })
}

/// Month-to-date plus the burn of all pools (this one at `burn`) until the end of the month.
pub fn projected_month(spend: &Spend, burn: f64) -> f64 {
    spend.policy_month_to_date_usd
        + (burn + spend.other_pools_usd_per_hour.max(0.0)) * spend.seconds_left_in_month.max(0.0) / 3600.0
}

/// Whether a burn rate passes the allowance.
pub fn exceeds(a: Option<Allowance>, burn: f64) -> bool {
    a.is_some_and(|a| burn > a.usd_per_hour + 1e-9)
}

/// Cut replicas added over `floor` so that additions never push the burn past the allowance unless
/// they lower it (a replica that takes load off a dearer external API stays). Class by class, dearest
/// first, keep the most additions that fit the allowance, else the count with the lowest burn; if the
/// result still burns more than `floor` itself, fall back to `floor`. The burn is not monotone in the
/// count (the external share is capped, so dropping a whole class can be cheaper than dropping one
/// replica), hence the scan rather than a greedy step. `burn_of` prices counts; `total_floor` is the
/// pool minimum, which outranks the budget. Returns the number of replicas cut.
pub fn trim_additions(
    r: &mut PerClass<u32>,
    floor: PerClass<u32>,
    total_floor: u32,
    replica_hour: PerClass<f64>,
    allowance: f64,
    burn_of: impl Fn(&PerClass<u32>) -> f64,
) -> u32 {
    let fits = |b: f64| b <= allowance + 1e-9;
    let before: u32 = r.iter().sum();
    if fits(burn_of(r)) {
        return 0;
    }
    let mut order = Class::ALL;
    order.sort_by(|a, b| replica_hour[*b].total_cmp(&replica_hour[*a]));
    for c in order {
        let mut best = (*r, burn_of(r));
        let mut candidate = *r;
        while candidate[c] > floor[c] && candidate.iter().sum::<u32>() > total_floor {
            candidate[c] -= 1;
            let b = burn_of(&candidate);
            if fits(b) {
                best = (candidate, b);
                break;
            }
            if b < best.1 - 1e-9 {
                best = (candidate, b);
            }
        }
        *r = best.0;
        if fits(best.1) {
            return before - r.iter().sum::<u32>();
        }
    }
    let base: PerClass<u32> = PerClass::from_fn(|c| r[c].min(floor[c]));
    if base.iter().sum::<u32>() >= total_floor && burn_of(&base) < burn_of(r) {
        *r = base;
    }
    before - r.iter().sum::<u32>()
}
