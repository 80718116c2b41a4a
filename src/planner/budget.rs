//! Budget: month-to-date spend plus the burn of this pool and the other pools under the policy gives a
//! projection. The allowance is the burn rate this pool may have without passing either limit.

use super::{BudgetConfig, Spend};

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

/// Remove replicas added over `floor` (dearest class first) while the burn passes the allowance.
/// `burn_of` prices a replica count. Never goes below `floor` per class nor `total_floor` in all (the
/// configured minimums outrank the budget).
pub fn trim_additions(
    r: &mut [u32; 3],
    floor: [u32; 3],
    total_floor: u32,
    replica_hour: [f64; 3],
    allowance: f64,
    burn_of: impl Fn(&[u32; 3]) -> f64,
) -> u32 {
    let mut order = [0usize, 1, 2];
    order.sort_by(|a, b| replica_hour[*b].total_cmp(&replica_hour[*a]));
    let mut removed = 0;
    for i in order {
        while r[i] > floor[i] && r.iter().sum::<u32>() > total_floor && burn_of(r) > allowance + 1e-9 {
            r[i] -= 1;
            removed += 1;
        }
    }
    removed
}
