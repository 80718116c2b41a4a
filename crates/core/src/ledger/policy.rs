//! Summing the pools that follow one CostPolicy, and the budget state that follows from the sum.

use jiff::Timestamp;

use super::LedgerError;
use super::month::{month_key, seconds_left_in_month};
use crate::planner::{BudgetConfig, Spend};
use crate::status::CostPolicyStatus;
use crate::status::CostStatus;
use crate::status::conditions::{Condition, ConditionStatus, types};

/// The summed spend of the pools following one policy, for the month `now` falls in.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyTotals {
    /// Pools summed.
    pub pools: u32,
    /// Current burn of all pools, USD/hour.
    pub usd_per_hour: f64,
    /// Month-to-date spend of all pools, USD.
    pub month_to_date_usd: f64,
    /// Month-to-date plus the current burn for the rest of the month, USD.
    pub projected_month_usd: f64,
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Seconds left in the month at `now`.
    pub seconds_left_in_month: f64,
}

/// Sum pool ledgers. A pool whose ledger still belongs to an earlier month (not accrued since the month
/// changed) adds its burn rate but no month-to-date spend: that spend belongs to the old month. The
/// projection is recomputed from the sums at `now` so pools accrued at slightly different instants add up
/// consistently.
pub fn sum_pools<'a>(
    pools: impl IntoIterator<Item = &'a CostStatus>,
    now: Timestamp,
) -> Result<PolicyTotals, LedgerError> {
    let key = month_key(now);
    let left = seconds_left_in_month(now)?;
    let (mut n, mut rate, mut mtd) = (0u32, 0.0, 0.0);
    for p in pools {
        n += 1;
        rate += p.usd_per_hour;
        if p.month.as_deref() == Some(key.as_str()) {
            mtd += p.month_to_date_usd;
        }
    }
    Ok(PolicyTotals {
        pools: n,
        usd_per_hour: rate,
        month_to_date_usd: mtd,
        projected_month_usd: mtd + rate * left / 3600.0,
        month: key,
        seconds_left_in_month: left,
    })
}

/// Write the totals into a CostPolicy's status (conditions are set separately).
pub fn apply_totals(status: &mut CostPolicyStatus, totals: &PolicyTotals) {
    status.pools = totals.pools;
    status.usd_per_hour = totals.usd_per_hour;
    status.month_to_date_usd = totals.month_to_date_usd;
    status.projected_month_usd = totals.projected_month_usd;
    status.month = Some(totals.month.clone());
}

/// The planner's view of the policy's spend, seen from one pool: the other pools' burn excludes this one
/// so the planner can add its own planned burn without counting it twice.
pub fn planner_spend(totals: &PolicyTotals, this_pool: &CostStatus) -> Spend {
    Spend {
        policy_month_to_date_usd: totals.month_to_date_usd,
        other_pools_usd_per_hour: (totals.usd_per_hour - this_pool.usd_per_hour).max(0.0),
        seconds_left_in_month: totals.seconds_left_in_month,
    }
}

/// Which budget limits are passed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetState {
    /// The projected month exceeds `budget.monthlyUsd`.
    pub monthly_exceeded: bool,
    /// Month-to-date spend alone already exceeds `budget.monthlyUsd`.
    pub month_to_date_exceeded: bool,
    /// The current burn exceeds `budget.hourlyUsd`.
    pub hourly_exceeded: bool,
    /// One line for the condition message and the Event.
    pub message: String,
}

impl BudgetState {
    /// Any limit passed.
    pub fn exceeded(&self) -> bool {
        self.monthly_exceeded || self.hourly_exceeded
    }

    /// The CamelCase reason of the BudgetExceeded condition.
    pub fn reason(&self) -> &'static str {
        match (self.monthly_exceeded, self.hourly_exceeded) {
            (true, true) => "MonthlyAndHourlyBudgetExceeded",
            (_, true) => "HourlyBudgetExceeded",
            _ if self.month_to_date_exceeded => "MonthlyBudgetSpent",
            (true, _) => "ProjectedOverMonthlyBudget",
            _ => "WithinBudget",
        }
    }

    /// The BudgetExceeded condition for a pool or policy status.
    pub fn condition(&self, generation: Option<i64>, now: &str) -> Condition {
        let status = if self.exceeded() { ConditionStatus::True } else { ConditionStatus::False };
        Condition::new(types::BUDGET_EXCEEDED, status, self.reason(), self.message.clone(), generation, now)
    }
}

/// Compare the totals with the policy's budget (none means no limit). Limits are exceeded strictly: a
/// spend equal to the budget is within it. The monthly limit is judged on the projection, as the
/// CostPolicy API documents, so the policy can act before the money is spent.
pub fn budget_state(budget: Option<&BudgetConfig>, totals: &PolicyTotals) -> BudgetState {
    let Some(b) = budget else {
        return BudgetState { message: "no budget set".into(), ..Default::default() };
    };
    let mut state = BudgetState::default();
    let mut parts = Vec::new();
    if let Some(m) = b.monthly_usd {
        state.monthly_exceeded = totals.projected_month_usd > m;
        state.month_to_date_exceeded = totals.month_to_date_usd > m;
        parts.push(format!(
            "month-to-date ${:.2}, projected ${:.2} of monthly ${:.2}",
            totals.month_to_date_usd, totals.projected_month_usd, m
        ));
    }
    if let Some(h) = b.hourly_usd {
        state.hourly_exceeded = totals.usd_per_hour > h;
        parts.push(format!("burn ${:.2}/h of hourly ${:.2}/h", totals.usd_per_hour, h));
    }
    let verdict =
        if state.exceeded() { format!("budget exceeded ({:?})", b.on_exceeded) } else { "within budget".into() };
    state.message = format!("{verdict}: {}", parts.join("; "));
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::BudgetAction;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pool(rate: f64, mtd: f64, month: &str) -> CostStatus {
        CostStatus { usd_per_hour: rate, month_to_date_usd: mtd, month: Some(month.into()), ..Default::default() }
    }

    #[test]
    fn sums_pools_and_skips_last_months_spend() {
        let now = t("2026-11-30T23:00:00Z");
        let pools = [pool(10.0, 100.0, "2026-11"), pool(5.0, 50.0, "2026-11"), pool(1.0, 999.0, "2026-10")];
        let s = sum_pools(&pools, now).unwrap();
        assert_eq!(s.pools, 3);
        assert_eq!(s.usd_per_hour, 16.0);
        assert_eq!(s.month_to_date_usd, 150.0);
        assert_eq!(s.projected_month_usd, 166.0);
        let mut st = CostPolicyStatus::default();
        apply_totals(&mut st, &s);
        assert_eq!((st.pools, st.month.as_deref()), (3, Some("2026-11")));
        let spend = planner_spend(&s, &pools[0]);
        assert_eq!(spend.other_pools_usd_per_hour, 6.0);
        assert_eq!(spend.seconds_left_in_month, 3600.0);
    }

    #[test]
    fn budget_states() {
        let now = t("2026-11-30T22:00:00Z");
        let s = sum_pools(&[pool(100.0, 900.0, "2026-11")], now).unwrap();
        assert_eq!(s.projected_month_usd, 1100.0);
        let b = |m: Option<f64>, h: Option<f64>| BudgetConfig {
            monthly_usd: m,
            hourly_usd: h,
            on_exceeded: BudgetAction::Hold,
        };

        let within = budget_state(Some(&b(Some(1100.0), Some(100.0))), &s);
        assert!(!within.exceeded(), "equal to the budget is within it: {within:?}");
        assert_eq!(within.reason(), "WithinBudget");

        let projected = budget_state(Some(&b(Some(1000.0), None)), &s);
        assert!(projected.monthly_exceeded && !projected.month_to_date_exceeded);
        assert_eq!(projected.reason(), "ProjectedOverMonthlyBudget");

        let spent = budget_state(Some(&b(Some(800.0), None)), &s);
        assert_eq!(spent.reason(), "MonthlyBudgetSpent");

        let hourly = budget_state(Some(&b(None, Some(50.0))), &s);
        assert_eq!(hourly.reason(), "HourlyBudgetExceeded");
        let c = hourly.condition(Some(3), "2026-11-30T22:00:00Z");
        assert_eq!((c.type_.as_str(), c.status), ("BudgetExceeded", ConditionStatus::True));
        assert!(c.message.contains("$100.00/h of hourly $50.00/h"), "{}", c.message);

        let none = budget_state(None, &s);
        assert!(!none.exceeded());
        assert_eq!(none.condition(None, "x").status, ConditionStatus::False);
    }
}
