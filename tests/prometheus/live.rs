//! Live load through the real Prometheus: scoping, unknowns, prices and an outage; history from a
//! backfilled range.

use super::*;

/// Rates, token mix, quantiles, utilisation under changing load; per-pool scoping; empty and NaN
/// answers are unknown; a broken override only fails its own signal; prices by query with fallback;
/// then Prometheus is killed and the source reports unavailable with the age of its last good value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_load_scoping_unknowns_prices_and_outage() {
    let (bin, _) = binaries();
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = exporter().await;
    let fixed = |l: f64| Profile { capacity_rps: 10.0, base_latency_s: 0.5, gpus_per_pod: 1, fixed_latency_s: Some(l) };
    ex.set_profile("ml", "llama", fixed(1.2));
    ex.set_replicas("ml", "llama", 2);
    ex.set_load("ml", "llama", Load { rps: 6.0, mean_input_tokens: 200.0, mean_output_tokens: 50.0 });
    ex.set_replicas("ml", "mistral", 1);
    ex.set_load("ml", "mistral", Load::rps(2.0));
    let t0 = now_unix();
    ex.set_gauge("gpu_price_usd_per_hour", &[("class", "spot")], 1.23, None).expect("gauge");
    ex.set_gauge("gpu_price_usd_per_hour", &[("class", "reserved")], 0.9, Some(t0 - 60.0)).expect("gauge");

    let mut prom = Prom::start(&bin, dir.path(), &dir.path().join("tsdb"), &[ex.addr().to_string()], None).await;
    let client = prom.client();
    let source = |spec: &InferencePoolSpec| {
        PrometheusLoadSource::for_pool(
            client.clone(),
            spec,
            0.9,
            "5s",
            Some(HistoryWindow { lookback_s: 60.0, step_s: 5.0 }),
        )
        .expect("source")
    };
    let llama = source(&pool("llama", ""));
    let mistral = source(&pool("mistral", ""));
    // Selector given explicitly: same series as the default, but scoped by pod name too.
    let one_pod = source(&pool("llama", "metrics: {selector: {model_name: llama, pod: vllm-llama-0}}"));
    let absent = source(&pool("no-such-model", ""));
    let overridden = source(&pool(
        "llama",
        "metrics: {queries: {running: 'vector(0) / 0', waiting: 'sum(', kvCacheUsage: 'vllm:gpu_cache_usage_perc{pod=\"vllm-llama-1\"}'}}",
    ));

    // Phase 1: 6 rps over 2 pods (3 each on 10 rps pods), 200/50 tokens, latency spread over [0.6, 1.8] s.
    let r = eventually(
        Duration::from_secs(40),
        "6 rps",
        || llama.read(now_unix()),
        |r| {
            near(r.signals.request_rate, 6.0, 0.05)
                && near(r.signals.latency_s, 1.8, 0.05)
                && near(r.prompt_token_rate, 1200.0, 0.05)
        },
    )
    .await;
    assert_eq!(r.availability, Availability::Available);
    let s = &r.signals;
    assert!(near(s.mean_input_tokens, 200.0, 0.05), "{s:?}");
    assert!(near(s.mean_output_tokens, 50.0, 0.05), "{s:?}");
    assert!(near(r.prompt_token_rate, 1200.0, 0.05), "{r:?}");
    assert!(near(s.running, 6.0 * 1.2, 0.02), "{s:?}");
    assert_eq!(s.waiting.map(|w| w.value), Some(0.0));
    assert!(near(s.gpu_utilization, 0.3, 0.02), "{s:?}");
    assert!(near(r.kv_cache_usage, 0.3, 0.02), "{r:?}");
    let now = now_unix();
    assert!(s.request_rate.is_some_and(|x| (now - x.at).abs() < 10.0), "sample time is Prometheus' evaluation time");
    assert!(!s.history.is_empty(), "range query fills the history");

    // Scoping: the other model and a single pod see only their own series.
    let m = eventually(
        Duration::from_secs(20),
        "mistral 2 rps",
        || mistral.read(now_unix()),
        |r| near(r.signals.request_rate, 2.0, 0.05),
    )
    .await;
    assert!(near(m.signals.gpu_utilization, 0.4, 0.02), "default profile: 5 rps per pod: {m:?}");
    let p = one_pod.read(now_unix()).await;
    assert!(near(p.signals.request_rate, 3.0, 0.08), "{p:?}");

    // Nothing matches: every signal unknown, not zero, and the source is still available.
    let a = absent.read(now_unix()).await;
    assert_eq!(a.availability, Availability::Available);
    let z = &a.signals;
    for v in [z.request_rate, z.mean_input_tokens, z.running, z.waiting, z.latency_s, z.gpu_utilization] {
        assert_eq!(v, None, "{a:?}");
    }
    assert_eq!(a.kv_cache_usage, None);
    assert!(z.history.is_empty());

    // Overrides: NaN is unknown, bad PromQL fails only its own signal, a working override is used.
    let o = overridden.read(now_unix()).await;
    assert_eq!(o.signals.running, None, "NaN must read as unknown: {o:?}");
    match &o.availability {
        Availability::Partial { failures } => {
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert_eq!(failures[0].0, "waiting");
            assert!(matches!(failures[0].1, QueryError::Rejected(_)), "{failures:?}");
        }
        other => panic!("expected a partial reading, got {other:?}"),
    }
    assert!(near(o.kv_cache_usage, 0.3, 0.02) && near(o.signals.request_rate, 6.0, 0.1), "{o:?}");
    assert!(o.summary().contains("waiting"), "{}", o.summary());

    // Phase 2: load and token mix change, latency rises to [1.5, 4.5] s; histogram_quantile
    // interpolates in the (2.5, 5] bucket: 2.5 + 2.5 * (0.9 - 1/3) / (2/3) = 4.625.
    ex.set_profile("ml", "llama", fixed(3.0));
    ex.set_load("ml", "llama", Load { rps: 16.0, mean_input_tokens: 400.0, mean_output_tokens: 100.0 });
    eventually(
        Duration::from_secs(30),
        "16 rps",
        || llama.read(now_unix()),
        |r| {
            // Every rate settles on its own scrape; wait for all of them rather than sampling the
            // slower ones the moment the first one is right.
            near(r.signals.request_rate, 16.0, 0.05)
                && near(r.signals.latency_s, 4.625, 0.05)
                && near(r.signals.mean_input_tokens, 400.0, 0.05)
                && near(r.signals.gpu_utilization, 0.8, 0.03)
                && near(r.generation_token_rate, 1600.0, 0.05)
        },
    )
    .await;
    let mistral_now = mistral.read(now_unix()).await;
    assert!(near(mistral_now.signals.request_rate, 2.0, 0.05), "other pool unaffected: {mistral_now:?}");

    // Prices: the exporter serves a fresh spot price and a reserved price stamped 60 s ago (both
    // scraped since phase 1); on-demand's query finds nothing.
    let pr_query = r#"gpu_price_usd_per_hour{class="CLASS"}"#;
    let pr = |c: &str| pr_query.replace("CLASS", c);
    let policy: CostPolicySpec = hybridscale::input::parse_yaml(
        Path::new("policy.yaml"),
        &format!(
            "gpuPrices:\n  reserved: {{usdPerGpuHour: 1.0, maxAgeSeconds: 30, query: '{}'}}\n  \
             spot: {{usdPerGpuHour: 1.5, query: '{}'}}\n  \
             onDemand: {{usdPerGpuHour: 4.0, query: 'sum(no_such_price_metric)'}}\nslo: {{latencySeconds: 2}}\n",
            pr("reserved"),
            pr("spot")
        ),
    )
    .expect("policy");
    let prices = price_source_for(&PolicyPrices::of(&policy), &[], None, Some(client.clone()));
    let now = now_unix();
    let pr = prices.prices(now).await;
    assert_eq!(pr.prices.gpu_hour, [1.0, 1.23, 4.0].into(), "{pr:?}");
    assert!(matches!(pr.gpu_origin[Class::Spot], PriceOrigin::Query { .. }), "{pr:?}");
    let notes = pr.notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let age: f64 = notes[0]
        .strip_prefix("reserved GPU-hour price: query result is ")
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!((60.0..60.0 + 60.0).contains(&age), "the stored sample's age, not the evaluation time: {age}");
    assert!(notes[0].ends_with("s old (maxAgeSeconds 30); using the CostPolicy's $1.0000/GPU-hour"), "{notes:?}");
    assert_eq!(notes[1], "onDemand GPU-hour price: query returned no data; using the CostPolicy's $4.0000/GPU-hour");
    // Older than maxAgeSeconds (default 900) counts as failed too.
    let late = prices.prices(now + 2000.0).await;
    assert_eq!(late.prices.gpu_hour[Class::Spot], 1.5);
    assert!(
        late.notes().iter().any(|n| n.starts_with("spot GPU-hour price: query result is") && n.contains("old")),
        "{late:?}"
    );

    // Outage: Prometheus dies. The source says unavailable, how old its last good reading is, and
    // keeps the last values with their original sample times so the planner sees them age.
    let last_good = llama.read(now_unix()).await;
    assert_eq!(last_good.availability, Availability::Available);
    prom.stop();
    let later = now_unix() + 1.0;
    let down = llama.read(later).await;
    match &down.availability {
        Availability::Unavailable { error, last_good_at } => {
            assert!(error.is_unreachable(), "{error:?}");
            assert_eq!(*last_good_at, Some(last_good.read_at));
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    let age = down.last_good_age().expect("age");
    assert!((age - (later - last_good.read_at)).abs() < 1e-9 && age >= 1.0, "{age}");
    let summary = down.summary();
    let url = format!("Prometheus {} unreachable: connection refused; set spec.metrics.prometheusUrl", prom.url);
    assert!(summary.starts_with(&url) && summary.ends_with("s ago"), "{summary}");
    assert!(!summary.contains("query"), "one line a person reads, not the PromQL: {summary}");
    assert_eq!(down.signals.request_rate, last_good.signals.request_rate, "last value kept with its own time");
    // Past the pool's maxAgeSeconds every value the planner gets is visibly stale by its own time.
    let max_age = 120.0;
    let much_later = llama.read(later + max_age + 1.0).await;
    let s = &much_later.signals;
    for v in [s.request_rate, s.mean_input_tokens, s.running, s.latency_s, s.gpu_utilization].into_iter().flatten() {
        assert!(later + max_age + 1.0 - v.at > max_age, "{v:?} should be stale");
    }
    let down_prices = prices.prices(now_unix()).await;
    assert_eq!(down_prices.prices.gpu_hour, [1.0, 1.5, 4.0].into());
    assert!(down_prices.notes()[0].contains(&url), "{:?}", down_prices.notes());

    // And the planner, fed exactly that reading, holds: nothing scales down, and it says why.
    planner_holds_on(&much_later.signals, &down_prices.prices, later + max_age + 1.0);
}

/// The sample pool under its sample policy, planned on `load` at `now`, keeps every running replica and
/// reports stale signals.
fn planner_holds_on(load: &hybridscale::planner::LoadSignals, prices: &hybridscale::planner::Prices, now: f64) {
    use hybridscale::api::{CostPolicy, FromResources, InferencePool};
    use hybridscale::planner::{self, ClassObservation, Memory, PerClass, PoolConfig, Snapshot, Spend, TrafficWeights};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let policy: CostPolicy =
        hybridscale::input::load_yaml_documents(&root.join("costpolicy.yaml")).expect("policy").remove(0);
    let pool: InferencePool =
        hybridscale::input::load_yaml_documents(&root.join("inferencepool.yaml")).expect("pool").remove(0);
    let config = PoolConfig::from_resources(&policy, &pool).expect("config");
    let running = [2, 3, 1];
    let snapshot = Snapshot {
        load: load.clone(),
        prices: prices.clone(),
        classes: PerClass::from(running).map(|n| ClassObservation { desired: n, ready: n, interrupted: 0 }),
        traffic: TrafficWeights::default(),
        provider_weights: Vec::new(),
        provider_signals: Vec::new(),
        spend: Spend::default(),
    };
    let plan = planner::plan(&config, &snapshot, &Memory::default(), now);
    assert!(plan.signals_stale, "{plan:?}");
    for c in Class::ALL {
        assert!(plan.replicas[c] >= PerClass::from(running)[c], "{c} scaled down on stale signals: {plan:?}");
    }
}

/// History for the forecast from a range query over backfilled data (promtool), while the instant
/// value is unknown because nothing recent exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_from_a_backfilled_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_unix().floor();
    let start = now - 7200.0;
    let end = now - 1800.0;
    // Two pods: p0 at 5 rps for the first hour then 20 rps; p1 at 1 rps throughout.
    let mut om = String::from("# HELP vllm:request_success Requests.\n# TYPE vllm:request_success counter\n");
    for (pod, rate) in [("p0", None), ("p1", Some(1.0))] {
        let mut total = 0.0;
        let mut t = start;
        while t < end {
            total += 15.0 * rate.unwrap_or(if t < start + 3600.0 { 5.0 } else { 20.0 });
            om.push_str(&format!(
                "vllm:request_success_total{{model_name=\"hist\",namespace=\"ml\",pod=\"{pod}\"}} {total} {t}\n"
            ));
            t += 15.0;
        }
    }
    om.push_str("# EOF\n");

    let prom = start_backfilled(dir.path(), &om).await;
    // Two hours at one point a minute.
    let history_source = || {
        PrometheusLoadSource::for_pool(
            prom.client(),
            &pool("hist", ""),
            0.99,
            "1m",
            Some(HistoryWindow { lookback_s: 7200.0, step_s: 60.0 }),
        )
        .expect("source")
    };
    let source = history_source();
    let r = source.read(now).await;
    assert_eq!(r.availability, Availability::Available);
    assert_eq!(r.signals.request_rate, None, "no recent data: unknown, not zero");
    let h = &r.signals.history;
    assert!(h.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");
    let mean = |from: f64, to: f64| {
        let v: Vec<f64> = h.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, v)| *v).collect();
        assert!(v.len() > 10, "{} points in [{from}, {to}]: {h:?}", v.len());
        v.iter().sum::<f64>() / v.len() as f64
    };
    let first = mean(start + 300.0, start + 3300.0);
    let second = mean(start + 3900.0, end - 300.0);
    assert!((first - 6.0).abs() < 0.1, "first hour {first}");
    assert!((second - 21.0).abs() < 0.2, "second hour {second}");
    assert!(h.iter().all(|(t, _)| *t <= end + 120.0), "nothing invented after the data ends");

    // Ten minutes later the same source asks only for the last minutes again and keeps the rest: its
    // history is what a fresh source reading the whole window sees.
    let later = source.read(now + 600.0).await;
    let whole = history_source().read(now + 600.0).await;
    let times = |h: &[(f64, f64)]| h.iter().map(|(t, _)| *t).collect::<Vec<_>>();
    assert_eq!(times(&later.signals.history), times(&whole.signals.history));
    for ((_, a), (_, b)) in later.signals.history.iter().zip(&whole.signals.history) {
        assert!((a - b).abs() < 1e-9, "{a} against {b}");
    }
    assert!(later.signals.history.first().is_some_and(|(t, _)| *t >= now + 600.0 - 7200.0));
}

/// The recent rates (for the route's recent peak) come from the request-rate query over about one
/// history step, not the minute the history reads: a 15 s burst at six times the base is spread to
/// under twice the base in the history and seen whole in the recent rates, which cover only the last
/// five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_rates_see_a_burst_the_minute_rates_spread() {
    let dir = tempfile::tempdir().expect("tempdir");
    // In the past, as the backfill needs; the source reads as of `end`.
    let end = now_unix().floor() - 1800.0;
    let burst = end - 120.0;
    let mut om = String::from("# HELP vllm:request_success Requests.\n# TYPE vllm:request_success counter\n");
    let (mut total, mut t) = (0.0, end - 3600.0);
    while t <= end {
        total += 15.0 * if t == burst { 30.0 } else { 5.0 };
        om.push_str(&format!(
            "vllm:request_success_total{{model_name=\"burst\",namespace=\"ml\",pod=\"p0\"}} {total} {t}\n"
        ));
        t += 15.0;
    }
    om.push_str("# EOF\n");
    let prom = start_backfilled(dir.path(), &om).await;
    let source = PrometheusLoadSource::for_pool(
        prom.client(),
        &pool("burst", ""),
        0.99,
        "1m",
        Some(HistoryWindow { lookback_s: 3600.0, step_s: 15.0 }),
    )
    .expect("source");
    let r = source.read(end).await;
    assert_eq!(r.availability, Availability::Available);
    let peak = |points: &[(f64, f64)]| points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (history, recent) = (&r.signals.history, &r.signals.recent_rates);
    assert!(peak(history) < 12.0, "the minute rates spread the burst: {history:?}");
    assert!(peak(recent) > 25.0, "the recent rates see it: {recent:?}");
    assert!(recent.iter().all(|(t, _)| *t > end - 301.0 && *t <= end), "the last five minutes only: {recent:?}");
    let now_rps = 5.0;
    assert!(hybridscale::planner::forecast::recent_peak_of(&r.signals, end, now_rps, 300.0) > 25.0);
}
