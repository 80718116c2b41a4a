//! Tenant attribution: a pool's spend of one accrual split by each tenant's share of its traffic (a
//! gateway-level series by a tenant label, `spec.metrics.attribution`), self-hosted and external parts
//! each by the same share.
//!
//! Bounded: status keeps the [`KEPT_TENANTS`] tenants with the most spend this month; the rest, and
//! intervals when the query gave no usable share, add up under [`OTHER`]. A tenant that falls out of the
//! kept list takes its spend into `other` with it and starts again at 0 if it comes back: the sum of
//! all tenants always equals the pool's spend, which is what chargeback needs. Metrics are bounded
//! further to the policy's top N ([`metric_label`]).

use crate::status::CostStatus;
use crate::status::finops::TenantCost;

/// Tenants kept by name in `status.cost.topTenants`.
pub const KEPT_TENANTS: usize = 20;
/// The tenant everything else adds up under.
pub const OTHER: &str = "other";
/// Longest tenant label value kept (longer ones are cut at a character boundary).
pub const MAX_TENANT_CHARS: usize = 256;

/// One tenant's traffic rate (tokens or requests per second) from the attribution query.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantShare {
    /// The tenant label's value.
    pub tenant: String,
    /// Its rate; only the ratio to the other tenants' rates matters.
    pub rate: f64,
}

/// Split `self_usd` and `external_usd` by `shares` into `s.top_tenants` / `s.other_tenants`; returns
/// each tenant's added spend.
pub fn attribute(s: &mut CostStatus, shares: &[TenantShare], self_usd: f64, external_usd: f64) -> Vec<(String, f64)> {
    let usable: Vec<(String, f64)> = shares
        .iter()
        .filter(|t| t.rate.is_finite() && t.rate > 0.0 && !t.tenant.is_empty())
        .map(|t| (t.tenant.chars().take(MAX_TENANT_CHARS).collect(), t.rate))
        .collect();
    let sum: f64 = usable.iter().map(|(_, r)| r).sum();
    let parts: Vec<(String, f64)> = if sum > 0.0 && sum.is_finite() {
        usable.into_iter().map(|(t, r)| (t, r / sum)).collect()
    } else {
        vec![(OTHER.to_string(), 1.0)]
    };
    let mut added = Vec::with_capacity(parts.len());
    for (tenant, share) in parts {
        let (sh, ex) = (self_usd * share, external_usd * share);
        let entry = if tenant == OTHER {
            s.other_tenants.get_or_insert_with(|| TenantCost { tenant: OTHER.into(), ..Default::default() })
        } else {
            match s.top_tenants.iter().position(|t| t.tenant == tenant) {
                Some(i) => &mut s.top_tenants[i],
                None => {
                    s.top_tenants.push(TenantCost { tenant: tenant.clone(), ..Default::default() });
                    let last = s.top_tenants.len() - 1;
                    &mut s.top_tenants[last]
                }
            }
        };
        entry.self_hosted_usd += sh;
        entry.external_usd += ex;
        added.push((tenant, sh + ex));
    }
    s.top_tenants.sort_by(|a, b| b.total().total_cmp(&a.total()).then_with(|| a.tenant.cmp(&b.tenant)));
    if s.top_tenants.len() > KEPT_TENANTS {
        let other = s.other_tenants.get_or_insert_with(|| TenantCost { tenant: OTHER.into(), ..Default::default() });
        for t in s.top_tenants.drain(KEPT_TENANTS..) {
            other.self_hosted_usd += t.self_hosted_usd;
            other.external_usd += t.external_usd;
        }
    }
    added
}

/// The metric label of `tenant`: itself when it is among the first `top_n` kept tenants of `s`, else
/// [`OTHER`]. Bounds a pool's tenant series to `top_n + 1`.
pub fn metric_label<'a>(s: &CostStatus, tenant: &'a str, top_n: usize) -> &'a str {
    if s.top_tenants.iter().take(top_n.min(KEPT_TENANTS)).any(|t| t.tenant == tenant) { tenant } else { OTHER }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(t: &str, rate: f64) -> TenantShare {
        TenantShare { tenant: t.into(), rate }
    }

    fn total(s: &CostStatus) -> f64 {
        s.top_tenants.iter().map(TenantCost::total).sum::<f64>() + s.other_tenants.as_ref().map_or(0.0, |o| o.total())
    }

    #[test]
    fn spend_is_split_by_share_and_adds_up() {
        let mut s = CostStatus::default();
        let added = attribute(&mut s, &[share("search", 3.0), share("chat", 1.0)], 8.0, 4.0);
        assert_eq!(added, vec![("search".into(), 9.0), ("chat".into(), 3.0)]);
        assert_eq!(s.top_tenants[0], TenantCost { tenant: "search".into(), self_hosted_usd: 6.0, external_usd: 3.0 });
        assert_eq!(s.top_tenants[1].total(), 3.0);
        // The next tick the order changes with the spend.
        attribute(&mut s, &[share("chat", 1.0)], 10.0, 0.0);
        assert_eq!(s.top_tenants[0].tenant, "chat");
        assert_eq!(total(&s), 22.0);
    }

    #[test]
    fn no_usable_share_goes_to_other() {
        let mut s = CostStatus::default();
        let added = attribute(&mut s, &[share("a", 0.0), share("b", f64::NAN), share("", 5.0)], 1.0, 2.0);
        assert_eq!(added, vec![(OTHER.into(), 3.0)]);
        assert!(s.top_tenants.is_empty());
        assert_eq!(s.other_tenants.as_ref().map(|o| o.total()), Some(3.0));
    }

    #[test]
    fn the_list_is_bounded_and_nothing_is_lost() {
        let mut s = CostStatus::default();
        let many: Vec<TenantShare> = (0..50).map(|i| share(&format!("t{i:02}"), f64::from(i + 1))).collect();
        attribute(&mut s, &many, 1275.0, 0.0);
        assert_eq!(s.top_tenants.len(), KEPT_TENANTS);
        assert_eq!(s.top_tenants[0].tenant, "t49");
        assert!((total(&s) - 1275.0).abs() < 1e-9);
        // Metrics: the top 10 by name, the rest "other".
        assert_eq!(metric_label(&s, "t49", 10), "t49");
        assert_eq!(metric_label(&s, "t39", 10), OTHER);
        assert_eq!(metric_label(&s, "t00", 10), OTHER);
    }

    #[test]
    fn long_labels_are_cut() {
        let mut s = CostStatus::default();
        attribute(&mut s, &[share(&"é".repeat(1000), 1.0)], 1.0, 0.0);
        assert_eq!(s.top_tenants[0].tenant.chars().count(), MAX_TENANT_CHARS);
    }
}
