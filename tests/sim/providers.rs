//! Several external providers in the simulator: how the external share is split across them, an error
//! burst moving it away and back, `simulate --provider-outage` as a user runs it, and the oracle still
//! bounding every strategy with several providers.

use std::path::Path;

use hybridscale::sim::{self, Scenario, SpotMarket};

use super::{AZURE_CONV, assert_oracle_is_a_lower_bound, cli, data, scenarios};

/// The two-provider policy of the benchmark (gemini $0.04/M with a 40 rps quota, claude $0.05/M), with
/// GPUs too dear to buy so that only the providers serve: what is left is how the external share is
/// split.
fn two_providers() -> Scenario {
    data(scenarios::SPOT_TRACE);
    let yaml = scenarios::providers_policy(&[&scenarios::GEMINI, &scenarios::CLAUDE])
        .replace("usdPerGpuHour: 0.8048", "usdPerGpuHour: 80")
        .replace("usdPerGpuHour: 0.4128", "usdPerGpuHour: 40");
    Scenario::parse(Path::new("two.yaml"), &yaml).expect("two-provider policy")
}

/// A constant load: `rps` for `seconds` at 10 s steps, 1,000 prompt and 250 generated tokens a request.
fn flat(rps: f64, seconds: f64) -> sim::Trace {
    let steps = (seconds / 10.0) as usize;
    sim::Trace {
        name: "flat".into(),
        step_s: 10.0,
        arrivals: vec![rps * 10.0; steps],
        mean_input: vec![1000.0; steps],
        mean_output: vec![250.0; steps],
    }
}

fn provider<'a>(r: &'a sim::StrategyResult, name: &str) -> &'a sim::providers::ProviderResult {
    r.providers.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} in {r:?}"))
}

#[test]
fn the_cheap_provider_is_filled_to_its_quota_and_the_dearer_takes_the_rest() {
    let s = two_providers();
    let trace = flat(60.0, 3600.0);
    let r = sim::run_one("hybridscale", &trace, &s, &SpotMarket::Steady, 1, None).unwrap();
    let (gemini, claude) = (provider(&r, "gemini"), provider(&r, "claude"));
    // 40 of 60 rps is 66% (whole percent): 39.6 rps to gemini, within its quota; the rest to claude.
    assert!((gemini.requests - 39.6 * 3600.0).abs() < 1e-6 * gemini.requests, "{r:?}");
    assert!((claude.requests - 20.4 * 3600.0).abs() < 1e-6 * claude.requests, "{r:?}");
    assert_eq!((gemini.rate_limited, claude.rate_limited, gemini.errors), (0.0, 0.0, 0.0));
    assert_eq!(r.slo_attainment, 1.0);
    assert_eq!(r.cost_breakdown_usd.spot + r.cost_breakdown_usd.on_demand, 0.0, "{r:?}");
    // Billed at each one's own price: 1,250 tokens at $0.04 and $0.05 per million.
    let usd = 1250.0e-6 * (0.04 * gemini.requests + 0.05 * claude.requests);
    assert!((r.cost_breakdown_usd.external - usd).abs() < 1e-9, "{r:?}");
    assert!((gemini.cost_usd + claude.cost_usd - usd).abs() < 1e-9);
    // All-external sends everything to the cheapest: a third over gemini's quota is rejected, unbilled.
    let all = sim::run_one("all-external", &trace, &s, &SpotMarket::Steady, 1, None).unwrap();
    let g = provider(&all, "gemini");
    assert_eq!(provider(&all, "claude").requests, 0.0);
    assert!((g.rate_limited - 20.0 * 3600.0).abs() < 1e-6 * g.requests, "{all:?}");
    assert!((all.slo_attainment - 2.0 / 3.0).abs() < 1e-9, "{all:?}");
    assert!((g.cost_usd - 40.0 * 3600.0 * 1250.0e-6 * 0.04).abs() < 1e-9);
}

#[test]
fn an_error_burst_moves_the_share_away_and_back_after_recovery() {
    let mut s = two_providers();
    // 30 rps: gemini's quota holds it all. From 30 to 60 minutes gemini fails half of its requests.
    s.spec.providers[0].bursts.push(sim::providers::ErrorBurst { start_s: 1800.0, end_s: 3600.0, error_ratio: 0.5 });
    // Replays are deterministic, so the same replay cut at the burst's start and end gives each
    // period's figures as differences.
    let run =
        |name: &str, seconds: f64| sim::run_one(name, &flat(30.0, seconds), &s, &SpotMarket::Steady, 1, None).unwrap();
    let [before, through, after] = [1800.0, 3600.0, 7200.0].map(|t| run("hybridscale", t));
    let sent = |r: &sim::StrategyResult, name: &str| provider(r, name).requests;
    assert_eq!(sent(&before, "gemini"), 30.0 * 1800.0, "all on the cheapest before: {before:?}");
    let during = sent(&through, "gemini") - sent(&before, "gemini");
    assert!(during < 0.1 * 30.0 * 1800.0, "gemini kept {during} requests during its burst: {through:?}");
    let during_claude = sent(&through, "claude") - sent(&before, "claude");
    assert!(during_claude > 0.9 * 30.0 * 1800.0, "{through:?}");
    let back = sent(&after, "gemini") - sent(&through, "gemini");
    assert!(back > 0.85 * 30.0 * 3600.0, "gemini got {back} requests in the hour after its recovery: {after:?}");
    // Its errors are the probes: each try after the recovery wait is one step at half errors.
    let errors = provider(&after, "gemini").errors;
    assert!(errors > 0.0 && errors < 0.05 * 30.0 * 1800.0, "{after:?}");
    // A strategy that keeps sending to the cheap provider misses a quarter of the burst's hour.
    let all = run("all-external", 7200.0);
    assert!((provider(&all, "gemini").errors - 0.5 * 30.0 * 1800.0).abs() < 1e-6, "{all:?}");
    assert!(after.slo_attainment > all.slo_attainment + 0.1, "{} vs {}", after.slo_attainment, all.slo_attainment);
    assert!(after.slo_attainment > 0.99, "{after:?}");
}

/// `benchmarks/sim/8b-two-providers-policy.yaml` is the benchmark's two-provider scenario.
#[test]
fn the_two_provider_policy_file_is_the_benchmarks() {
    data(scenarios::SPOT_TRACE);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/sim/8b-two-providers-policy.yaml");
    let file = Scenario::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    let bench = &scenarios::provider_scenarios()[0];
    let bench = Scenario::parse(Path::new(bench.name), &bench.yaml).unwrap();
    assert_eq!((file.spec, file.config, file.prices), (bench.spec, bench.config, bench.prices));
}

#[test]
fn simulate_reports_each_provider_and_takes_error_bursts() {
    data(scenarios::SPOT_TRACE);
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/sim/8b-two-providers-policy.yaml");
    let p = policy.to_str().unwrap();
    let trace = data(AZURE_CONV);
    let args = ["--policy", p, "--trace", trace.to_str().unwrap(), "--rate-scale", "14"];
    let out = cli(&[&args[..], &["--format", "json", "--provider-outage", "gemini:600:600:0.5"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let all = v["results"].as_array().unwrap().iter().find(|r| r["strategy"] == "all-external").unwrap();
    let names: Vec<&str> = all["providers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["gemini", "claude"]);
    let gemini = &all["providers"][0];
    for k in ["requests", "rate_limited", "errors", "slo_attainment", "cost_usd"] {
        assert!(gemini[k].as_f64().is_some_and(|x| x > 0.0), "{k} in {gemini}");
    }
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("p.svg");
    assert!(cli(&[&args[..], &["--plot", plot.to_str().unwrap()]].concat()).status.success());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains(">gemini $") && svg.contains(">claude $"), "per-provider legend: {svg}");
    let table = String::from_utf8_lossy(&cli(&args).stdout).to_string();
    assert!(table.contains("external providers:") && table.contains("all-external    gemini"), "{table}");
    for (flag, needle) in [
        ("claude:1:2:2", "error ratio must be > 0 and <= 1"),
        ("openai:1:2", "no provider \"openai\"; the pool's providers are gemini, claude"),
        ("gemini:1e300:2", "start must be"),
        ("gemini:1:inf", "duration must be"),
        ("gemini", "wrong number of fields"),
    ] {
        let out = cli(&["--policy", p, "--provider-outage", flag]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{flag}: {err}");
    }
}

/// With several providers the oracle relaxes them into one (cheapest prices, fastest latency, quotas
/// added up) and ignores error bursts: it still bounds every strategy, on the benchmark's two-provider
/// scenario with gemini's burst.
#[test]
fn the_oracle_bounds_every_strategy_with_several_providers() {
    data(scenarios::SPOT_TRACE);
    let tokens = scenarios::conv_tokens();
    let market = SpotMarket::load(&data(scenarios::SPOT_TRACE)).unwrap();
    // The two-provider pool (each provider alone is the single-provider case the other tests cover).
    for def in scenarios::provider_scenarios().into_iter().take(1) {
        let scenario = scenarios::with_gemini_outage(Scenario::parse(Path::new(def.name), &def.yaml).unwrap());
        for (t, step) in [(&scenarios::TRACES[1], 10.0), (&scenarios::TRACES[3], 60.0)] {
            let trace = scenarios::load_with_step(t, def.mean_rps, &tokens, step);
            let report = sim::run_all(&trace, &scenario, &market, 42, None);
            assert_oracle_is_a_lower_bound(&report, &format!("{} / {}", t.name, def.name));
        }
    }
}
