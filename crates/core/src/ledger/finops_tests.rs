use jiff::Timestamp;

use super::*;
use crate::ledger::{LedgerConfig, accrue};
use crate::status::PerClass;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// $/GPU-hour: reserved 2, spot 1, on-demand 4; $2 / $8 per million prompt / output tokens.
fn prices() -> Prices {
    Prices::single([2.0, 1.0, 4.0].into(), "gpt-4o", 2e-6, 8e-6)
}

/// 1 reserved + 1 spot replica of 1 GPU; 10 rps, 20 % external; 1000 prompt and 100 output tokens each.
fn usage() -> Usage {
    Usage {
        replicas: PerClass { reserved: 1, spot: 1, on_demand: 0 },
        gpus_per_replica: 1,
        external_input_tokens_per_s: 2000.0,
        external_output_tokens_per_s: 200.0,
        self_hosted_input_tokens_per_s: 8000.0,
        self_hosted_output_tokens_per_s: 800.0,
        requests_per_s: 10.0,
        external_requests_per_s: 2.0,
        provider_weights: vec![20],
    }
}

fn input() -> FinopsInput {
    FinopsInput { replica_rps: 4.0, latency_s: Some(1.0), slo_latency_s: 2.0, ..Default::default() }
}

/// One hour accrued from `prev` (a fresh ledger when `None`) at `from`.
fn hour(prev: Option<&CostStatus>, from: &str, to: &str, input: &FinopsInput) -> (CostStatus, FinopsTick) {
    let cfg = LedgerConfig::default();
    let start = match prev {
        Some(p) => p.clone(),
        None => accrue(&CostStatus::default(), &usage(), &prices(), t(from), &cfg).unwrap().status,
    };
    let mut a = accrue(&start, &usage(), &prices(), t(to), &cfg).unwrap();
    let tick = accrue_finops(&start, &mut a, &usage(), &prices(), input).unwrap();
    (a.status, tick)
}

#[test]
fn an_hour_of_tokens_unit_costs_and_counterfactuals() {
    let (s, tick) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &input());
    // Tokens: 8800 self-hosted and 2200 external per second for 3600 s.
    assert!(close(s.tokens.self_hosted_prompt, 8000.0 * 3600.0));
    assert!(close(s.tokens.external_output, 200.0 * 3600.0));
    assert!(close(s.tokens.requests, 36_000.0));
    assert!(close(tick.requests_within_slo, 36_000.0));
    // The two self-hosted replicas each served half of the self-hosted tokens.
    let half = 8800.0 * 3600.0 / 2.0;
    assert!(close(s.tokens.self_hosted_by_class.reserved, half) && close(s.tokens.self_hosted_by_class.spot, half));
    // Reserved: $2 for 15.84 M tokens; spot $1 for the same; external $0.0144 + $0.00576 per second.
    let u = s.cost_per_million_tokens;
    assert!(close(u.reserved.unwrap(), 2.0 / (half / 1e6)));
    assert!(close(u.spot.unwrap(), 1.0 / (half / 1e6)));
    assert!(u.on_demand.is_none(), "no on-demand token was served");
    assert!(close(u.self_hosted.unwrap(), 3.0 / (2.0 * half / 1e6)));
    let ext_usd = 3600.0 * (2000.0 * 2e-6 + 200.0 * 8e-6);
    assert!(close(u.external.unwrap(), ext_usd / (2200.0 * 3600.0 / 1e6)));
    // All external: all 10 000 prompt and 1000 output tokens per second at API prices.
    assert!(close(s.counterfactual.all_external_usd, 3600.0 * (10_000.0 * 2e-6 + 1000.0 * 8e-6)));
    // On-demand only: the two GPUs held plus 2 rps / 4 rps = half a replica, all at $4 per GPU-hour.
    assert!(close(s.counterfactual.on_demand_only_usd, 2.5 * 4.0));
    assert!(close(tick.cost.reserved, 2.0) && close(tick.cost.external, ext_usd));
    assert!(tick.tenants.is_empty(), "no attribution configured");
}

#[test]
fn unknown_capacity_keeps_the_external_share_at_its_api_price() {
    let i = FinopsInput { replica_rps: 0.0, ..input() };
    let (s, tick) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &i);
    assert!(close(s.counterfactual.on_demand_only_usd, 2.0 * 4.0 + tick.cost.external));
}

#[test]
fn requests_over_the_slo_count_as_missed() {
    let slow = FinopsInput { latency_s: Some(3.0), ..input() };
    let (_, tick) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &slow);
    assert!(close(tick.requests_within_slo, 2.0 * 3600.0), "only the external requests were within");
    let slow_api = FinopsInput { external_latency_s: Some(5.0), ..input() };
    let (_, tick) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &slow_api);
    assert!(close(tick.requests_within_slo, 8.0 * 3600.0));
}

#[test]
fn tenants_share_both_routes_and_add_up_to_the_spend() {
    let shares =
        vec![TenantShare { tenant: "search".into(), rate: 3.0 }, TenantShare { tenant: "chat".into(), rate: 1.0 }];
    let i = FinopsInput { shares: Some(shares), ..input() };
    let (s, tick) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &i);
    let search = &s.top_tenants[0];
    assert_eq!(search.tenant, "search");
    assert!(close(search.self_hosted_usd, 0.75 * 3.0));
    assert!(close(search.external_usd, 0.75 * tick.cost.external));
    let sum: f64 = s.top_tenants.iter().map(|t| t.total()).sum();
    assert!(close(sum, s.month_to_date_usd));
}

#[test]
fn restarts_and_month_rollover_behave_as_spend_does() {
    // Two hours in two accruals, the status read back from JSON in between, equal one accrual.
    let (one, _) = hour(None, "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z", &input());
    let one: CostStatus = serde_json::from_str(&serde_json::to_string(&one).unwrap()).unwrap();
    let (two, _) = hour(Some(&one), "", "2026-11-10T12:00:00Z", &input());
    assert!(close(two.tokens.requests, 72_000.0));
    assert!(close(two.counterfactual.on_demand_only_usd, 20.0));
    // The same instant again adds nothing.
    let (again, tick) = hour(Some(&two), "", "2026-11-10T12:00:00Z", &input());
    assert_eq!(again.tokens, two.tokens);
    assert_eq!(tick.requests, 0.0);
    // Into December: only the minute after midnight counts, November's totals are gone.
    let (late, _) = hour(None, "2026-11-30T23:59:00Z", "2026-11-30T23:59:00Z", &input());
    let (dec, _) = hour(Some(&late), "", "2026-12-01T00:01:00Z", &input());
    assert_eq!(dec.month.as_deref(), Some("2026-12"));
    assert!(close(dec.tokens.requests, 600.0));
}

#[test]
fn bad_rates_are_errors() {
    let cfg = LedgerConfig::default();
    let mut a = accrue(&CostStatus::default(), &usage(), &prices(), t("2026-11-10T10:00:00Z"), &cfg).unwrap();
    let bad = FinopsInput { replica_rps: f64::NAN, ..input() };
    let e = accrue_finops(&CostStatus::default(), &mut a, &usage(), &prices(), &bad).unwrap_err();
    assert!(e.to_string().contains("replica capacity"), "{e}");
}

#[test]
fn idle_gpus_only_after_the_idle_period() {
    let u = Usage { requests_per_s: 3.0, external_requests_per_s: 0.0, gpus_per_replica: 2, ..usage() };
    assert_eq!(idle_gpus(&u, None, 600.0, 4.0), 0);
    assert_eq!(idle_gpus(&u, Some(599.0), 600.0, 4.0), 0);
    // Two replicas held, one needed for 3 rps at 4 rps each: one replica of two GPUs idle.
    assert_eq!(idle_gpus(&u, Some(600.0), 600.0, 4.0), 2);
    assert_eq!(idle_gpus(&Usage { requests_per_s: 0.0, ..u }, Some(900.0), 600.0, 4.0), 4);
}
