//! Queueing for latency: each replica is a batch of `μ·S` parallel slots, each serving one request
//! in `S` seconds, so the replica completes μ requests per second at full batch (its rated
//! capacity). `n` replicas form an M/M/c queue with `c = n·μ·S` servers, and a request meets the
//! SLO when its wait is within `SLO − S`.
//!
//! `S` is taken as half the SLO: the rated capacity is measured at the SLO (vLLM's
//! `benchmark_serving` reports the rate at which latency stays within it), so at most the other half
//! is left for queueing. The wait tail of M/M/c is exact: P(W > t) = C(c, a)·e^{−(cμ_s − λ)t}, with
//! C the Erlang-C probability of waiting. It makes the cost of running hot visible: at 98% load a
//! small pool misses its SLO for a tenth of requests even though it has the throughput.

/// How much faster than its rated capacity a replica saturates. The rated capacity (the CRD's
/// `requestsPerSecond`) is the Poisson arrival rate at which one replica still meets the SLO for
/// the target share of requests, as `vllm benchmark_serving` measures it; so the saturation rate
/// `h·μ` is the one at which one replica's M/M/c late share at `λ = μ` is exactly `1 − target`.
/// Solved by bisection (the late share falls as `h` grows).
pub fn saturation_factor(rated_rps: f64, service_s: f64, slack_s: f64, target: f64) -> f64 {
    let allowed = (1.0 - target).max(1e-9);
    let late = |h: f64| {
        let capacity = h * rated_rps;
        let servers = (capacity * service_s).round().max(1.0) as u32;
        late_share(servers, rated_rps, capacity, slack_s)
    };
    let (mut lo, mut hi) = (1.0, 2.0);
    while late(hi) > allowed && hi < 1e3 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if late(mid) > allowed { lo = mid } else { hi = mid }
    }
    hi
}

/// Probability that a request waits at all in M/M/c with `c` servers and offered load `a` Erlangs
/// (a < c). Computed through the Erlang-B recursion, which is stable for thousands of servers.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a >= c as f64 {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    // Far from saturation (Halfin–Whitt β > 7) the probability is below 1e-12: skip the O(c) loop.
    let beta = (c as f64 - a) / a.sqrt();
    if beta > 7.0 {
        return 0.0;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let cf = c as f64;
    (cf * b / (cf - a * (1.0 - b))).clamp(0.0, 1.0)
}

/// Share of requests of an M/M/c queue that wait longer than `slack_s`, where `rate` is the arrival
/// rate and `capacity` the total service rate (both requests per second).
pub fn late_share(servers: u32, rate: f64, capacity: f64, slack_s: f64) -> f64 {
    if rate <= 0.0 {
        return 0.0;
    }
    if servers == 0 || rate >= capacity {
        return 1.0;
    }
    let a = servers as f64 * rate / capacity;
    (erlang_c(servers, a) * (-(capacity - rate) * slack_s).exp()).clamp(0.0, 1.0)
}

/// The wait at quantile `q` (e.g. 0.999) of the same queue, seconds.
pub fn wait_quantile(servers: u32, rate: f64, capacity: f64, q: f64) -> f64 {
    if rate <= 0.0 {
        return 0.0;
    }
    if servers == 0 || rate >= capacity {
        return f64::INFINITY;
    }
    let c = erlang_c(servers, servers as f64 * rate / capacity);
    let tail = 1.0 - q;
    if c <= tail { 0.0 } else { (c / tail).ln() / (capacity - rate) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // c = 2, a = 1: C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(10, 10.0), 1.0);
        assert_eq!(erlang_c(1000, 100.0), 0.0);
    }

    #[test]
    fn saturation_factor_makes_the_rated_rate_meet_the_target() {
        let h = saturation_factor(2.5, 10.0, 10.0, 0.999);
        assert!(h > 1.0 && h < 2.0, "{h}");
        let cap = h * 2.5;
        let late = late_share((cap * 10.0).round() as u32, 2.5, cap, 10.0);
        assert!(late <= 0.001 && late > 0.0005, "{late}");
    }

    #[test]
    fn late_share_grows_with_load() {
        let low = late_share(100, 5.0, 10.0, 10.0);
        let high = late_share(100, 9.9, 10.0, 10.0);
        assert!(low < 1e-9, "{low}");
        assert!(high > 0.1 && high < 1.0, "{high}");
        assert_eq!(late_share(100, 10.0, 10.0, 10.0), 1.0);
        assert!(wait_quantile(100, 9.9, 10.0, 0.999) > 0.0);
        assert_eq!(wait_quantile(100, 5.0, 10.0, 0.999), 0.0);
    }
}
