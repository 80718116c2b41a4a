//! FinOps against the real Prometheus: tenant shares from a gateway series, commitment advice from
//! backfilled demand (in the CostPolicy's status too), and `recommend` agreeing with `simulate`.

use super::*;

/// Tenant attribution against the real Prometheus: a gateway series by tenant (backfilled with
/// promtool) read back as shares by the pool's attribution query; a query of the wrong shape is an
/// error in the reading, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_shares_from_a_gateway_series() {
    use hybridscale::api::finops::AttributionSpec;
    use hybridscale::signals::{PrometheusTenantSource, TenantSource};
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_unix().floor();
    let (start, end) = (now - 3000.0, now - 1200.0);
    let mut om = String::from("# TYPE gen_ai_client_token_usage_sum unknown\n");
    for (tenant, kind, rate) in
        [("search", "input", 600.0), ("search", "output", 150.0), ("chat", "input", 250.0), ("chat", "total", 1e6)]
    {
        let mut t = start;
        while t < end {
            let total = (t - start) * rate;
            let labels = format!("gen_ai_request_model=\"llama\",gen_ai_token_type=\"{kind}\",tenant=\"{tenant}\"");
            om.push_str(&format!("gen_ai_client_token_usage_sum{{{labels}}} {total} {t}\n"));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");
    let prom = start_backfilled(dir.path(), &om).await;

    // The default query over an hour's window (the backfilled data ended 20 minutes ago).
    let default = AttributionSpec::default().effective_query("llama").replace("[5m]", "[1h]");
    let spec = AttributionSpec { query: Some(default), ..Default::default() };
    let reading = PrometheusTenantSource::new(prom.client(), &spec, "llama").shares().await;
    assert_eq!(reading.error, None);
    let names: Vec<&str> = reading.shares.iter().map(|s| s.tenant.as_str()).collect();
    assert_eq!(names, ["search", "chat"], "largest first; the 'total' token type is not counted");
    let ratio = reading.shares[0].rate / reading.shares[1].rate;
    assert!((ratio - 3.0).abs() < 0.05, "search has 750 of 1000 tokens per second: {ratio}");

    let bad = AttributionSpec { query: Some("gen_ai_client_token_usage_sum[5m]".into()), ..Default::default() };
    let reading = PrometheusTenantSource::new(prom.client(), &bad, "llama").shares().await;
    assert!(reading.shares.is_empty());
    assert!(reading.error.is_some());
}

/// Commitment advice from demand history in the real Prometheus (backfilled with promtool): the
/// pool's own load queries read over the window, replayed at every commitment size, recommend what the
/// simulator's reservation replay recommends for the same steady demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commitment_advice_from_prometheus_history() {
    use hybridscale::controller::advice;
    use hybridscale::sim::{SpotMarket, Trace, policy, reservation};
    let dir = tempfile::tempdir().expect("tempdir");
    let (cost_policy, pool) =
        policy::parse(Path::new(policy::DEFAULT_POLICY_NAME), policy::DEFAULT_POLICY).expect("default policy");
    let model = pool.spec.model.clone();
    let now = now_unix().floor();
    let (start, end) = (now - 6.0 * 3600.0, now - 1200.0);
    let mut om = String::new();
    for (name, per_s) in
        [("vllm:request_success", 10.0), ("vllm:prompt_tokens", 10_000.0), ("vllm:generation_tokens", 2000.0)]
    {
        om.push_str(&format!("# TYPE {name} counter\n"));
        let mut t = start;
        while t < end {
            om.push_str(&format!("{name}_total{{model_name=\"{model}\"}} {} {t}\n", (t - start) * per_s));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");
    let prom = start_backfilled(dir.path(), &om).await;

    let (got, trace) = advice::advise(&prom.client(), &cost_policy, &pool, now, 0.25, 300.0).await.expect("advice");
    assert!(trace.len() >= 60, "about six hours at 5 minutes: {}", trace.len());
    let steady = trace.arrivals.iter().filter(|a| (**a - 3000.0).abs() < 30.0).count();
    assert!(steady >= trace.len() - 2, "10 rps read back: {:?}", trace.arrivals);
    assert!(trace.mean_input.iter().all(|m| (m - 1000.0).abs() < 10.0), "{:?}", trace.mean_input);

    // The simulator's replay of the same demand, stated directly.
    let n = trace.len();
    let flat = Trace {
        name: "flat".into(),
        step_s: 300.0,
        arrivals: vec![3000.0; n],
        mean_input: vec![1000.0; n],
        mean_output: vec![200.0; n],
    };
    let world = hybridscale::sim::Scenario::from_resources(Path::new("p"), &cost_policy, &pool).unwrap().spec.world;
    let market = SpotMarket::Poisson { per_replica_hour: advice::SPOT_INTERRUPTIONS_PER_HOUR };
    let want = reservation::recommend(Path::new("p"), &cost_policy, &pool, &world, &flat, &market, advice::SEED, None)
        .expect("replay");
    assert_eq!(got.recommended_replicas, want.recommended, "{got:?} against {}", want.to_text());
    assert_eq!(got.current_replicas, want.current);
    assert!(got.recommended_gpus == got.recommended_replicas * pool.spec.gpus_per_replica);
    let prices = &cost_policy.spec.gpu_prices;
    let ratio = prices.reserved.usd_per_gpu_hour / prices.on_demand.usd_per_gpu_hour;
    assert!((got.break_even_utilization - ratio).abs() < 1e-9);

    // No history: a clear error, not a panic or an invented recommendation.
    let err = advice::advise(&prom.client(), &cost_policy, &pool, start - 86_400.0, 0.25, 300.0).await.unwrap_err();
    assert!(err.contains("no request-rate history"), "{err}");

    // The operator's CostPolicy reconcile on the sandbox, reading the same Prometheus: its status shows
    // the commitment the simulator's replay recommends.
    let shown = policy_status_advice(&prom.url, &cost_policy, &pool).await;
    assert_eq!(shown.recommended_replicas, want.recommended, "{shown:?} against {}", want.to_text());
    assert_eq!(shown.recommended_gpus, want.recommended * pool.spec.gpus_per_replica);
    assert!(!shown.reason.starts_with(advice::NO_ADVICE), "{shown:?}");
}

/// Create the policy and its pool on a fresh sandbox, reconcile the CostPolicy once with `prometheus_url`
/// as the operator's Prometheus, and return the pool's entry of `status.reservationAdvice`.
async fn policy_status_advice(
    prometheus_url: &str,
    cost_policy: &hybridscale::api::CostPolicy,
    pool: &hybridscale::api::InferencePool,
) -> hybridscale::api::finops::ReservationAdvice {
    use hybridscale::api::{CostPolicy, InferencePool};
    use hybridscale::controller::{Context, Options, context::system_clock, policy};
    use hybridscale::sandbox::{Sandbox, SandboxOptions};
    use kube::api::{Api, PostParams};
    hybridscale::tls::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SandboxOptions { kubeconfig_path: Some(dir.path().join("kubeconfig")), ..SandboxOptions::default() };
    let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
    let client = sandbox.client().expect("client");
    hybridscale::demo::world::install_crds(&client, "test").await.expect("CRDs");
    let ns = cost_policy.metadata.namespace.clone().unwrap_or_default();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("namespace");
    namespaces.create(&PostParams::default(), &namespace).await.expect("namespace");
    let mut pool = pool.clone();
    pool.spec.metrics.prometheus_url = None;
    let strip = |m: &mut kube::core::ObjectMeta| {
        m.resource_version = None;
        m.uid = None;
    };
    strip(&mut pool.metadata);
    let mut cost_policy = cost_policy.clone();
    strip(&mut cost_policy.metadata);
    Api::<InferencePool>::namespaced(client.clone(), &ns).create(&PostParams::default(), &pool).await.expect("pool");
    let policies = Api::<CostPolicy>::namespaced(client.clone(), &ns);
    let created = policies.create(&PostParams::default(), &cost_policy).await.expect("policy");
    let options = Options {
        prometheus_url: Some(prometheus_url.to_string()),
        prometheus_token: None,
        price_file: None,
        namespace: None,
        identity: "t".into(),
    };
    let metrics = std::sync::Arc::new(hybridscale::telemetry::Metrics::new());
    let ctx = std::sync::Arc::new(Context::new(client.clone(), metrics, options, system_clock()));
    policy::reconcile(std::sync::Arc::new(created), ctx).await.expect("policy reconcile");
    let name = cost_policy.metadata.name.clone().unwrap_or_default();
    let status = policies.get(&name).await.expect("policy").status.expect("status");
    let entry = status.reservation_advice.into_iter().find(|a| Some(&a.pool) == pool.metadata.name.as_ref());
    entry.expect("an advice entry for the pool")
}

/// `hybridscale recommend` on a pool's history in the real Prometheus, and `hybridscale simulate
/// --recommend-reservation` on the history it saved: the same commitment (a pool sized by requests per
/// second, so the simulator's drawn token sizes do not matter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommend_and_simulate_agree_on_the_same_history() {
    use hybridscale::sim::policy;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = policy::DEFAULT_POLICY
        .lines()
        .filter(|l| !l.contains("promptTokensPerSecond") && !l.contains("outputTokensPerSecond"))
        .collect::<Vec<_>>()
        .join("\n");
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, &text).expect("policy");
    let (_, pool) = policy::parse(&policy_file, &text).expect("policy parses");
    let now = now_unix().floor();
    let (start, end) = (now - 6.0 * 3600.0, now - 1200.0);
    let mut om = String::from("# TYPE vllm:request_success counter\n");
    let mut t = start;
    while t < end {
        // 12 rps for the first three hours, 4 rps after.
        let total = if t < start + 10_800.0 { (t - start) * 12.0 } else { 129_600.0 + (t - start - 10_800.0) * 4.0 };
        om.push_str(&format!("vllm:request_success_total{{model_name=\"{}\"}} {total} {t}\n", pool.spec.model));
        t += 15.0;
    }
    om.push_str("# EOF\n");
    let prom = start_backfilled(dir.path(), &om).await;

    let hs = env!("CARGO_BIN_EXE_hybridscale");
    let trace = dir.path().join("history.csv");
    let out = Command::new(hs)
        .args(["recommend", "--days", "0.25", "--step", "300", "--format", "json"])
        .arg("--policy")
        .arg(&policy_file)
        .args(["--prometheus-url", &prom.url])
        .arg("--save-trace")
        .arg(&trace)
        .output()
        .expect("recommend");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let advice: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let out = Command::new(hs)
        .args([
            "simulate",
            "--trace-format",
            "rate-csv",
            "--step",
            "300",
            "--recommend-reservation",
            "--format",
            "json",
        ])
        .arg("--policy")
        .arg(&policy_file)
        .arg("--trace")
        .arg(&trace)
        .output()
        .expect("simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sim: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        advice["recommendedReplicas"], sim["reservation"]["recommended"],
        "recommend: {advice}\nsimulate: {}",
        sim["reservation"]
    );
    assert!(advice["recommendedReplicas"].as_u64().is_some_and(|n| n > 0), "{advice}");
}
