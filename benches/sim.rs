//! `make bench` (cargo bench --bench sim): every public trace × three price scenarios × every
//! strategy, with cost, SLO attainment and the ratio to the oracle, plus replay and planner speed.
//! Prints Markdown for BENCHMARKS.md and writes one SVG per trace × scenario to benchmarks/sim/.
//! Then the external-providers matrix (issue 18): the same pool with two providers, or with each
//! alone, under an error burst; `cargo bench --bench sim -- providers` runs that part only, and
//! `-- capacity` the capacity matrix only. `-- hybridscale [WORD...]` replays hybridscale alone on every
//! cell of the main and the capacity matrix whose matrix, trace and scenario names contain every WORD
//! (no baselines, no oracle, no plots), with its cost, attainment, the bill by class, the idle share of the
//! paid GPU-hours and the replay time: the quick check of a
//! planner change (the figures are the full run's) and the timing of two builds against each other.
//!
//! Prices are read from ../shared/data at run time (sources named in the output):
//! - GPUs: SkyPilot catalog excerpt `gpu_prices_skypilot_catalog/aws_gpu_us_ondemand_spot.csv`,
//!   us-east-1: p5.48xlarge (8x H100) and g6.xlarge (1x L4), on-demand price and the median spot
//!   price over the region's zones, per GPU.
//! - Reserved: no public data; 60% of on-demand (an assumed 40% one-year commitment discount).
//! - External APIs: LiteLLM `llm_api_prices_litellm/chat_model_prices_per_mtok.csv`:
//!   claude-sonnet-4-5 (premium) and gpt-4o-mini (cheap).

use std::path::Path;
use std::time::Instant;

use hybridscale::planner::{self, ClassObservation, LoadSignals, Memory, Sample, Snapshot, Spend};
use hybridscale::sim::{self, Scenario, SpotMarket};

#[path = "common/scenarios.rs"]
mod scenarios;
use scenarios::{
    GEMINI_OUTAGE, PROVIDERS_MEAN_RPS, SPOT_TRACE, TRACES, capacity_beliefs, capacity_traces, conv_tokens, data, load,
    provider_scenarios, scenarios, with_gemini_outage,
};

fn planner_micros(scenario: &Scenario) -> f64 {
    let now = 1_767_225_600.0 + 86400.0;
    let history: planner::History = (0..180).map(|i| (now - 1800.0 + 10.0 * i as f64, 18.0 + (i % 7) as f64)).collect();
    let at = |value| Some(Sample { value, at: now });
    let snapshot = Snapshot {
        load: LoadSignals {
            request_rate: at(21.0),
            mean_input_tokens: at(1155.0),
            mean_output_tokens: at(211.0),
            running: at(100.0),
            waiting: at(2.0),
            latency_s: at(12.0),
            gpu_utilization: at(0.8),
            history,
            recent_rates: Vec::new(),
        },
        prices: scenario.prices.clone(),
        classes: [
            ClassObservation::default(),
            ClassObservation { desired: 4, ready: 4, interrupted: 1 },
            ClassObservation { desired: 3, ready: 2, interrupted: 0 },
        ]
        .into(),
        traffic: Default::default(),
        provider_weights: Vec::new(),
        provider_signals: Vec::new(),
        spend: Spend {
            policy_month_to_date_usd: 1000.0,
            other_pools_usd_per_hour: 0.0,
            seconds_left_in_month: 20.0 * 86400.0,
        },
    };
    let memory = Memory::default();
    let n = 20_000;
    let start = Instant::now();
    let mut sink = 0u32;
    for i in 0..n {
        let plan = planner::plan(&scenario.config, &snapshot, &memory, now + i as f64);
        sink = sink.wrapping_add(plan.replicas.total());
    }
    std::hint::black_box(sink);
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    // Rate series draw token sizes from the Azure conversation trace (chat-like, like ServeGen's language models).
    let conv_tokens = conv_tokens();
    let market = SpotMarket::load(&data(SPOT_TRACE)).expect("spot trace");
    let plots = Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmarks/sim");
    std::fs::create_dir_all(&plots).expect("plot dir");
    // `hybridscale` first: its filter words may name a matrix (`-- hybridscale capacity`).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "hybridscale") {
        hybridscale_only(&conv_tokens, &market, &args[i + 1..]);
        return;
    }
    if args.iter().any(|a| a == "providers") {
        providers_matrix(&conv_tokens, &market, &plots);
        return;
    }
    if args.iter().any(|a| a == "capacity") {
        capacity_matrix(&conv_tokens, &market, &plots);
        return;
    }

    let (defs, prices) = scenarios();
    println!("{prices}\n");
    println!(
        "Spot market: {} (AWS V100, 16-node availability, 300 s ticks, repeated when shorter than the trace).\n",
        market.describe()
    );
    println!(
        "| trace | scenario | strategy | cost $ | SLO attained | vs oracle | vs bound at pool's reservation | external | replay s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut speed: Vec<(String, &str, String, usize, f64)> = Vec::new();
    let mut planner_us = Vec::new();
    for s in defs {
        let scenario = Scenario::parse(Path::new(s.name), &s.yaml).expect("bench policy");
        planner_us.push((s.name, planner_micros(&scenario)));
        for t in &TRACES {
            let trace = load(t, s.mean_rps, &conv_tokens);
            let mut results = Vec::new();
            for name in sim::strategy_names(&scenario.spec) {
                let start = Instant::now();
                let r = sim::run_one(name, &trace, &scenario, &market, 42, None).expect("strategy");
                let secs = start.elapsed().as_secs_f64();
                if trace.len() >= 100_000 {
                    speed.push((t.name.to_string(), s.name, name.to_string(), trace.len(), secs));
                }
                results.push((r, secs));
            }
            let oracle = results.iter().find(|(r, _)| r.strategy == "oracle").map_or(f64::NAN, |(r, _)| r.cost_usd);
            // Only a bound for strategies holding the pool's own reservation (not static-peak).
            let own = sim::oracle::at_commitment(&trace, &scenario.spec, &market).cost_usd;
            for (r, secs) in &results {
                println!(
                    "| {} | {} | {} | {:.2} | {:.3}% | {:.2}x | {} | {:.1}% | {:.3} |",
                    t.name,
                    s.name,
                    r.strategy,
                    r.cost_usd,
                    r.slo_attainment * 100.0,
                    r.cost_usd / oracle,
                    if r.strategy == "static-peak" || r.strategy == "oracle" {
                        "-".to_string()
                    } else {
                        format!("{:.2}x", r.cost_usd / own)
                    },
                    r.external_share * 100.0,
                    secs
                );
            }
            // The planner again at the commitment `simulate --recommend-reservation` picks on this
            // trace (in-sample): how much of the gap to the oracle is the policy's reservation.
            if let Some(c) = at_recommended_reservation(s.name, &s.yaml, &scenario, &trace, &market) {
                println!(
                    "| {} | {} | hybridscale at {} reserved (recommended) | {:.2} | {:.3}% | {:.2}x | - | - | - |",
                    t.name,
                    s.name,
                    c.reserved,
                    c.cost_usd,
                    c.slo_attainment * 100.0,
                    c.cost_usd / oracle,
                );
            }
            let report = sim::Report::new(
                trace.stats(),
                results.into_iter().map(|(r, _)| r).collect(),
                None,
                scenario.spec.target_attainment,
                scenario.spec.world.name(),
            );
            let svg = sim::svg::render(&report, "hybridscale");
            let file = format!("{}-{}.svg", t.name, s.name.replace(['+', '/'], "-"));
            std::fs::write(plots.join(file), svg).expect("write plot");
        }
    }
    capacity_matrix(&conv_tokens, &market, &plots);
    providers_matrix(&conv_tokens, &market, &plots);
    println!("\nReplay speed (release build, one core, 10 s steps):\n");
    println!("| trace | scenario | strategy | steps | seconds |");
    println!("|---|---|---|---|---|");
    for (t, sc, s, n, secs) in speed {
        println!("| {t} | {sc} | {s} | {n} | {secs:.3} |");
    }
    println!("\nPlanner decision time (one pool, 180-point history, mean of 20,000 calls):\n");
    for (s, us) in planner_us {
        println!("- {s}: {us:.1} µs");
    }
}

/// The capacity matrix: the 70B pool in the world of the measured Llama-3.1-70B / 4x H100 profile, on
/// long-context and chat traces, under a belief as measured, three times too high and three times too
/// low (learnFromMetrics on). Every strategy replays the same world; the oracle knows it, so its cost
/// does not move with the belief.
fn capacity_matrix(conv_tokens: &sim::TokenSample, market: &SpotMarket, plots: &Path) {
    let world = sim::profile::World::Profile(sim::profile::llama_70b_4xh100());
    println!("\nCapacity matrix: the replica world is the {} profile.\n", world.name());
    println!("| trace | belief | strategy | cost $ | SLO attained | vs oracle | external |");
    println!("|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for t in capacity_traces() {
        let trace = load(&t.trace, t.mean_rps, conv_tokens).with_prompts_scaled(t.prompt_scale);
        for (belief, yaml) in capacity_beliefs() {
            let scenario =
                Scenario::parse(Path::new(belief), &yaml).expect("capacity policy").with_world(world.clone());
            let report = replay_all(&trace, &scenario, market);
            let oracle = report.oracle().map_or(f64::NAN, |o| o.cost_usd);
            let own = sim::oracle::at_commitment(&trace, &scenario.spec, market).cost_usd;
            let recommended =
                at_recommended_reservation(belief, &yaml, &scenario, &trace, market).map_or("-".to_string(), |c| {
                    format!(
                        "{} reserved: ${:.2} ({:.3}%, {:.2}x)",
                        c.reserved,
                        c.cost_usd,
                        c.slo_attainment * 100.0,
                        c.cost_usd / oracle
                    )
                });
            for r in &report.results {
                println!(
                    "| {} | {belief} | {} | {:.2} | {:.3}%{} | {:.2}x | {:.1}% |",
                    t.name,
                    r.strategy,
                    r.cost_usd,
                    r.slo_attainment * 100.0,
                    if r.meets_slo_target { "" } else { " MISS" },
                    r.cost_usd / oracle,
                    r.external_share * 100.0
                );
            }
            let hs = &report.results[0];
            let cheapest = report
                .results
                .iter()
                .filter(|r| r.strategy != "hybridscale" && r.strategy != "oracle")
                .filter(|r| r.slo_attainment + 1e-12 >= hs.slo_attainment)
                .min_by(|a, b| a.cost_usd.total_cmp(&b.cost_usd))
                .map_or("none".to_string(), |r| {
                    format!("{} ${:.2} ({:.3}%)", r.strategy, r.cost_usd, r.slo_attainment * 100.0)
                });
            summary.push(format!(
                "| {} | {belief} | {:.2} | {:.3}%{} | {:.2}x | {:.2}x | {} | {recommended} |",
                t.name,
                hs.cost_usd,
                hs.slo_attainment * 100.0,
                if hs.meets_slo_target { "" } else { " MISS" },
                hs.cost_usd / oracle,
                hs.cost_usd / own,
                cheapest
            ));
            let file = format!("capacity-{}-{}.svg", slug(t.name), slug(belief));
            std::fs::write(plots.join(file), sim::svg::render(&report, "hybridscale")).expect("write plot");
        }
    }
    println!(
        "\n| trace | belief | hybridscale $ | attained | vs oracle | vs bound at pool's reservation | cheapest baseline at \
         >= hybridscale's attainment | at the recommended reservation: $ (attained, vs oracle) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for line in summary {
        println!("{line}");
    }
}

/// The planner replayed at the commitment `simulate --recommend-reservation` picks on this trace (in
/// sample, with hindsight): how much of the gap to the oracle and to static-peak (whose reservation is
/// sized with hindsight) is the policy's commitment.
fn at_recommended_reservation(
    name: &str,
    yaml: &str,
    scenario: &Scenario,
    trace: &sim::Trace,
    market: &SpotMarket,
) -> Option<sim::reservation::Candidate> {
    let (cost_policy, pool) = sim::policy::parse(Path::new(name), yaml).expect("bench policy");
    let rec = sim::reservation::recommend(
        Path::new(name),
        &cost_policy,
        &pool,
        &scenario.spec.world,
        trace,
        market,
        42,
        None,
    )
    .expect("reservation");
    rec.candidate(rec.recommended).cloned()
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// The external-providers matrix (issue 18): the 8B pool on L4s with gemini ($0.04/M, 40 rps quota)
/// and claude ($0.05/M), with only claude, and with only gemini, every strategy, gemini failing half of
/// its requests for two hours ([`GEMINI_OUTAGE`]). One row per strategy with each provider's figures.
fn providers_matrix(conv_tokens: &sim::TokenSample, market: &SpotMarket, plots: &Path) {
    let (name, start, duration, ratio) = GEMINI_OUTAGE;
    println!(
        "\nExternal providers: {name} fails {:.0}% of its requests from {start} s for {duration} s; traces at {PROVIDERS_MEAN_RPS} rps mean.\n",
        ratio * 100.0
    );
    println!(
        "| trace | pool | strategy | cost $ | SLO attained | vs oracle | GPUs $ | external | per provider: sent / rate-limited / errors / $ |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for t in [&TRACES[2], &TRACES[1]] {
        let trace = load(t, PROVIDERS_MEAN_RPS, conv_tokens);
        for def in provider_scenarios() {
            let scenario =
                with_gemini_outage(Scenario::parse(Path::new(def.name), &def.yaml).expect("provider policy"));
            let report = replay_all(&trace, &scenario, market);
            let oracle = report.oracle().map_or(f64::NAN, |o| o.cost_usd);
            for r in &report.results {
                let b = &r.cost_breakdown_usd;
                let per: Vec<String> = r
                    .providers
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {:.0} / {:.0} / {:.0} / {:.2}",
                            p.name, p.requests, p.rate_limited, p.errors, p.cost_usd
                        )
                    })
                    .collect();
                println!(
                    "| {} | {} | {} | {:.2} | {:.3}%{} | {:.2}x | {:.2} | {:.1}% | {} |",
                    t.name,
                    def.name,
                    r.strategy,
                    r.cost_usd,
                    r.slo_attainment * 100.0,
                    if r.meets_slo_target { "" } else { " MISS" },
                    r.cost_usd / oracle,
                    b.reserved + b.spot + b.on_demand,
                    r.external_share * 100.0,
                    if per.is_empty() { "-".to_string() } else { per.join("; ") },
                );
            }
            let file = format!("providers-{}-{}.svg", t.name, slug(def.name));
            std::fs::write(plots.join(file), sim::svg::render(&report, "hybridscale")).expect("write plot");
        }
    }
}

/// hybridscale alone on every cell of the main and the capacity matrix whose names contain every word
/// of `filter` (arguments starting with '-' are cargo's and ignored): one line per cell.
fn hybridscale_only(conv_tokens: &sim::TokenSample, market: &SpotMarket, filter: &[String]) {
    let wanted = |names: String| filter.iter().filter(|w| !w.starts_with('-')).all(|w| names.contains(w.as_str()));
    println!(
        "| matrix | trace | scenario or belief | cost $ | SLO attained | external | reserved $ | spot $ | on-demand $ | \
         API $ | idle GPU-h share | replay s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let row = |matrix: &str, trace: &str, cell: &str, t: &sim::Trace, scenario: &Scenario| {
        let start = Instant::now();
        let r = sim::run_one("hybridscale", t, scenario, market, 42, None).expect("hybridscale");
        println!(
            "| {matrix} | {trace} | {cell} | {:.2} | {:.3}% | {:.1}% | {:.0} | {:.0} | {:.0} | {:.0} | {:.0}% | {:.3} |",
            r.cost_usd,
            r.slo_attainment * 100.0,
            r.external_share * 100.0,
            r.cost_breakdown_usd.reserved,
            r.cost_breakdown_usd.spot,
            r.cost_breakdown_usd.on_demand,
            r.cost_breakdown_usd.external,
            100.0 * r.idle_gpu_hours / r.gpu_hours.max(1e-9),
            start.elapsed().as_secs_f64()
        );
    };
    let (defs, _) = scenarios();
    for s in defs {
        let scenario = Scenario::parse(Path::new(s.name), &s.yaml).expect("bench policy");
        for t in TRACES.iter().filter(|t| wanted(format!("main {} {}", t.name, s.name))) {
            row("main", t.name, s.name, &load(t, s.mean_rps, conv_tokens), &scenario);
        }
    }
    let world = sim::profile::World::Profile(sim::profile::llama_70b_4xh100());
    for t in capacity_traces() {
        let beliefs: Vec<_> =
            capacity_beliefs().into_iter().filter(|(b, _)| wanted(format!("capacity {} {b}", t.name))).collect();
        if beliefs.is_empty() {
            continue;
        }
        let trace = load(&t.trace, t.mean_rps, conv_tokens).with_prompts_scaled(t.prompt_scale);
        for (belief, yaml) in beliefs {
            let scenario =
                Scenario::parse(Path::new(belief), &yaml).expect("capacity policy").with_world(world.clone());
            row("capacity", t.name, belief, &trace, &scenario);
        }
    }
}

/// Every strategy of the scenario replayed over the trace (seed 42), as one report.
fn replay_all(trace: &sim::Trace, scenario: &Scenario, market: &SpotMarket) -> sim::Report {
    let results: Vec<_> = sim::strategy_names(&scenario.spec)
        .into_iter()
        .map(|n| sim::run_one(n, trace, scenario, market, 42, None).expect("strategy"))
        .collect();
    sim::Report::new(trace.stats(), results, None, scenario.spec.target_attainment, scenario.spec.world.name())
}
