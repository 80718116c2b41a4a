//! How long the planner takes to decide one pool: `cargo bench --bench planner`.
//!
//! The pool and policy are the bundled samples (config/samples: Llama-3.1-70B on 4×H100, reserved,
//! spot and on-demand classes, external overflow, a budget). Each scenario replays a rate curve for
//! an hour to warm the planner's memory the way a running controller has it, then times many
//! decisions on that state with a one-hour history at 15-second steps (240 points). Target: under 50 µs
//! per decision.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use hybridscale::api::{CostPolicy, FromResources, InferencePool};
use hybridscale::planner::{
    ClassObservation, LoadSignals, Memory, PerClass, PoolConfig, Prices, Sample, Snapshot, Spend, TrafficWeights, plan,
};

const T0: f64 = 1_800_000_000.0;
const TICK: f64 = 15.0;

fn load<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn snapshot(
    now: f64,
    rate: &dyn Fn(f64) -> f64,
    prices: &Prices,
    plan_counts: [u32; 3],
    traffic: TrafficWeights,
) -> Snapshot {
    let history = (1..=240).rev().map(|k| now - TICK * f64::from(k)).map(|t| (t, rate(t))).collect();
    Snapshot {
        load: LoadSignals {
            request_rate: Some(Sample { value: rate(now), at: now }),
            mean_input_tokens: Some(Sample { value: 1000.0, at: now }),
            mean_output_tokens: Some(Sample { value: 250.0, at: now }),
            history,
            ..Default::default()
        },
        prices: prices.clone(),
        classes: PerClass::from(plan_counts).map(|n| ClassObservation { desired: n, ready: n, interrupted: 0 }),
        traffic,
        provider_weights: Vec::new(),
        provider_signals: Vec::new(),
        spend: Spend {
            policy_month_to_date_usd: 20_000.0,
            other_pools_usd_per_hour: 20.0,
            seconds_left_in_month: 1.2e6,
        },
    }
}

fn scenario(name: &str, config: &PoolConfig, prices: &Prices, rate: &dyn Fn(f64) -> f64) {
    // Warm up: an hour of ticks with instant readiness, so memory holds a realistic window.
    let mut memory = Memory::default();
    let mut counts = [2, 0, 0];
    let mut traffic = TrafficWeights::default();
    let mut now = T0;
    for _ in 0..240 {
        let p = plan(config, &snapshot(now, rate, prices, counts, traffic), &memory, now);
        counts = [p.replicas.reserved, p.replicas.spot, p.replicas.on_demand];
        traffic = p.traffic;
        memory = p.memory;
        now += TICK;
    }
    let snap = snapshot(now, rate, prices, counts, traffic);
    let iterations = 200_000u32;
    let start = Instant::now();
    let mut changes = 0usize;
    for _ in 0..iterations {
        let p = plan(black_box(config), black_box(&snap), black_box(&memory), black_box(now));
        changes += p.changes.len();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    let last = plan(config, &snap, &memory, now);
    println!(
        "planner/{name:<10} {ns:>9.0} ns per decision ({iterations} decisions, {} recommendations in memory, {} changes each)",
        memory.recommendations.len(),
        changes / iterations as usize
    );
    println!("    {}", last.summary);
}

fn main() {
    let policy: CostPolicy = load("costpolicy.yaml");
    let pool: InferencePool = load("inferencepool.yaml");
    let config = PoolConfig::from_resources(&policy, &pool).unwrap_or_else(|e| panic!("{e}"));
    let prices = Prices::from_resources(&policy, &pool).unwrap_or_else(|e| panic!("{e}"));
    scenario("steady", &config, &prices, &|_| 12.0);
    scenario("ramp", &config, &prices, &|t| 4.0 + (t - T0) / 300.0);
    scenario("spiky", &config, &prices, &|t| if (t - T0) % 900.0 < 120.0 { 30.0 } else { 10.0 });
    scenario("falling", &config, &prices, &|t| (30.0 - (t - T0) / 150.0).max(3.0));
}
