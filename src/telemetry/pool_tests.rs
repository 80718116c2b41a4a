use super::*;
use crate::api::finops::Counterfactuals;
use crate::telemetry::Metrics;

fn info(team: &str) -> PoolInfoLabels {
    PoolInfoLabels {
        namespace: "ml".into(),
        pool: "llm".into(),
        policy: "default".into(),
        model: "llama".into(),
        team: team.into(),
        cost_center: String::new(),
    }
}

fn record_once(m: &Metrics, team: &str) {
    let cost = CostStatus {
        projected_month_usd: 99.5,
        month_to_date_by_class: ClassCost { reserved: 1.0, spot: 2.0, on_demand: 0.0, external: 4.25 },
        counterfactual: Counterfactuals { all_external_usd: 30.0, on_demand_only_usd: 12.0 },
        cost_per_million_tokens: UnitCosts { spot: Some(0.5), external: Some(3.0), ..Default::default() },
        ..Default::default()
    };
    let r = PoolRecord {
        info: info(team),
        ready: PerClass { reserved: 1, spot: 2, on_demand: 0 },
        cost,
        cost_added: ClassCost { reserved: 0.25, spot: 0.5, on_demand: 0.0, external: 0.125 },
        tokens_added: [1000.0, 100.0, 10.0, 1.0],
        requests_added: 20.0,
        requests_within_slo_added: 19.0,
        tenants_added: vec![("search".into(), 0.5), ("other".into(), 0.375)],
        idle_gpus: 2,
        idle_gpu_seconds_added: 30.0,
        spot_interruptions_added: 1,
        slo_latency_s: 2.0,
        slo_target_attainment: 0.999,
        signals_stale: true,
        providers: vec![
            ProviderRecord { name: "gemini".into(), weight: 12, healthy: true, cost_added: 0.1, month_to_date: 3.0 },
            ProviderRecord { name: "claude".into(), weight: 0, healthy: false, cost_added: 0.025, month_to_date: 1.25 },
        ],
    };
    record(&m.pool, &r);
}

/// Every series of the contract, with its exact name and labels, as Prometheus scrapes it.
#[test]
fn exposition_follows_the_metrics_contract() {
    let m = Metrics::new();
    record_once(&m, "search-team");
    record_once(&m, "search-team");
    record_policy(&m.pool, "ml", "default", [Some(1000.0), None], 7.25, 99.5);
    let text = m.encode();
    let p = "namespace=\"ml\",pool=\"llm\"";
    for want in [
        format!("hybridscale_pool_cost_usd_total{{{p},class=\"spot\"}} 1.0"),
        format!("hybridscale_pool_cost_usd_total{{{p},class=\"external\"}} 0.25"),
        format!("hybridscale_pool_tenant_cost_usd_total{{{p},tenant=\"search\"}} 1.0"),
        format!("hybridscale_pool_tenant_cost_usd_total{{{p},tenant=\"other\"}} 0.75"),
        format!("hybridscale_pool_provider_cost_usd_total{{{p},provider=\"gemini\"}} 0.2"),
        format!("hybridscale_pool_provider_month_to_date_usd{{{p},provider=\"claude\"}} 1.25"),
        format!("hybridscale_pool_provider_weight_percent{{{p},provider=\"gemini\"}} 12"),
        format!("hybridscale_pool_provider_healthy{{{p},provider=\"claude\"}} 0"),
        format!("hybridscale_pool_tokens_total{{{p},route=\"self_hosted\",kind=\"prompt\"}} 2000.0"),
        format!("hybridscale_pool_tokens_total{{{p},route=\"external\",kind=\"output\"}} 2.0"),
        format!("hybridscale_pool_requests_total{{{p}}} 40.0"),
        format!("hybridscale_pool_requests_within_slo_total{{{p}}} 38.0"),
        format!("hybridscale_pool_idle_gpu_seconds_total{{{p}}} 60.0"),
        format!("hybridscale_pool_spot_interruptions_total{{{p}}} 2"),
        format!(
            "hybridscale_pool_info{{{p},policy=\"default\",model=\"llama\",team=\"search-team\",cost_center=\"\"}} 1"
        ),
        format!("hybridscale_pool_month_to_date_usd{{{p},class=\"on_demand\"}} 0.0"),
        format!("hybridscale_pool_month_to_date_usd{{{p},class=\"external\"}} 4.25"),
        format!("hybridscale_pool_projected_month_usd{{{p}}} 99.5"),
        format!("hybridscale_pool_counterfactual_month_to_date_usd{{{p},scenario=\"all_external\"}} 30.0"),
        format!("hybridscale_pool_counterfactual_month_to_date_usd{{{p},scenario=\"on_demand_only\"}} 12.0"),
        format!("hybridscale_pool_cost_per_million_tokens_usd{{{p},class=\"spot\"}} 0.5"),
        format!("hybridscale_pool_cost_per_million_tokens_usd{{{p},class=\"external\"}} 3.0"),
        format!("hybridscale_pool_ready_replicas{{{p},class=\"spot\"}} 2"),
        format!("hybridscale_pool_slo_latency_seconds{{{p}}} 2.0"),
        format!("hybridscale_pool_slo_target_attainment_ratio{{{p}}} 0.999"),
        format!("hybridscale_pool_idle_gpus{{{p}}} 2"),
        format!("hybridscale_pool_signals_stale{{{p}}} 1"),
        "hybridscale_policy_budget_usd{namespace=\"ml\",policy=\"default\",period=\"month\"} 1000.0".into(),
        "hybridscale_policy_month_to_date_usd{namespace=\"ml\",policy=\"default\"} 7.25".into(),
        "hybridscale_policy_projected_month_usd{namespace=\"ml\",policy=\"default\"} 99.5".into(),
        "# TYPE hybridscale_pool_cost_usd counter".into(),
        "# TYPE hybridscale_pool_month_to_date_usd gauge".into(),
    ] {
        assert!(text.contains(&want), "missing {want}\n{text}");
    }
    assert!(text.contains("hybridscale_build_info{version=\""), "{text}");
    // A class without tokens has no unit cost (not 0), and an unset budget period has no series.
    assert!(!text.contains("cost_per_million_tokens_usd{namespace=\"ml\",pool=\"llm\",class=\"reserved\"}"), "{text}");
    assert!(!text.contains("period=\"hour\""), "{text}");
}

#[test]
fn changed_info_labels_replace_the_old_series() {
    let m = Metrics::new();
    record_once(&m, "a");
    record_once(&m, "b");
    let text = m.encode();
    assert!(text.contains("team=\"b\""), "{text}");
    assert!(!text.contains("team=\"a\""), "{text}");
}

#[test]
fn counters_never_go_down_on_bad_amounts() {
    let m = PoolMetrics::default();
    let c = m.requests.get_or_create(&PoolLabels { namespace: "n".into(), pool: "p".into() });
    inc(&c, 2.0);
    inc(&c, -1.0);
    inc(&c, f64::NAN);
    assert_eq!(c.get(), 2.0);
}
