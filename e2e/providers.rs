//! Three external providers (in-process operator), as in config/samples/providers: gemini cheapest but
//! limited to 6 requests/s, claude next with at most half the pool's traffic, openai dearest without a
//! limit, each behind its own backend of the route. One reserved replica serves 5 of 20 requests/s and
//! may not grow, so most of the load is overflow. The scenario checks that the overflow is split
//! cheapest first within the limits, that a provider whose gateway series show errors loses its share to
//! the others within a few ticks, that it gets it back once it has looked well for
//! `providerHealth.recoverAfterSeconds`, and that one whose latency goes bad is taken out too.
//!
//! Takes about 50 s on the sandbox (alone on two cores): ~10 s to the first split, ~5 s to react to the
//! failure (one tick), then ~35 s out: the failures' 20 s rate window and the 15 s hold before the
//! provider returns; ~5 s more for the slow one.
//!
//! Needs no power of the sandbox: the providers' series come from the local gateway simulation on every
//! target, only the route and the pool's status are the cluster's.

use std::time::{Duration, Instant};

use hybridscale::api::InferencePoolStatus;
use hybridscale::demo::providers::{PROVIDERS, RECOVER_AFTER_SECONDS, by_name};
use hybridscale::modelserver::Behaviour;
use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::{SELF_BACKEND, Setup};
use crate::support::operator::Operator;

/// Requests per second offered: one 5 rps replica, 15 rps of overflow.
const DEMAND: f64 = 20.0;

/// Route weights: (self-hosted, [gemini, claude, openai]).
type Split = (u32, [u32; 3]);

async fn route_split(env: &Env) -> Option<Split> {
    let refs = env.backend_weights().await?;
    let of = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, w)| *w);
    let mut ext = [0; 3];
    for (w, p) in ext.iter_mut().zip(PROVIDERS) {
        *w = of(p.backend)?;
    }
    Some((of(SELF_BACKEND)?, ext))
}

/// Status weights by provider, in the pool's order.
fn status_split(s: &InferencePoolStatus) -> Option<[u32; 3]> {
    let mut out = [0; 3];
    for (w, p) in out.iter_mut().zip(PROVIDERS) {
        *w = s.providers.iter().find(|x| x.name == p.name)?.weight;
    }
    Some(out)
}

/// The split the pool's limits call for at `DEMAND` with `ext` percent external: gemini up to its rate
/// limit (when in), claude up to its share, openai the rest.
fn expected(ext: u32, gemini_in: bool) -> [u32; 3] {
    let limit = |name: &str| {
        let p = by_name(name).expect("a demo provider");
        let by_rps = p.max_rps.map_or(100.0, |r| r / DEMAND * 100.0);
        by_rps.min(p.max_share.unwrap_or(1.0) * 100.0).floor() as u32
    };
    let gemini = if gemini_in { ext.min(limit("gemini")) } else { 0 };
    let claude = (ext - gemini).min(limit("claude"));
    [gemini, claude, ext - gemini - claude]
}

fn reason<'a>(s: &'a InferencePoolStatus, name: &str) -> &'a str {
    s.providers.iter().find(|p| p.name == name).map_or("", |p| p.reason.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_goes_cheapest_first_within_limits_and_away_from_a_failing_provider() {
    // The replica completes 6 rps while the pool counts on 5: it serves its share without a queue, so
    // the observed-overload safety net never sheds part of it and the external share holds at 75%.
    let setup = Setup {
        providers: true,
        class_bounds: [(1, 1), (0, 0), (0, 0)],
        pod_capacity_rps: Some(6.0),
        ..Setup::default()
    };
    let env = Env::start("e2e-providers", &setup, FaultConfig::default()).await;
    env.set_demand(DEMAND);
    let mut op = Operator::in_process(&env, env.client.clone(), "providers", None);

    // (a) The overflow, cheapest first: gemini at its 6 rps limit (30% of 20 rps), claude the rest up to
    // half the traffic, openai nothing; status says why, with the same weights.
    let ((own, ext), status) = env
        .wait_for("the overflow split across the providers by price within their limits", wait(), || async {
            let (own, ext) = route_split(&env).await?;
            let s = env.status().await?;
            let total: u32 = ext.iter().sum();
            let settled = total > 0 && own + total == 100 && ext == expected(total, true);
            (settled && status_split(&s) == Some(ext)).then_some(((own, ext), s))
        })
        .await;
    assert_eq!(ext, [30, ext[1], 0], "gemini at its limit, openai unused: own={own} ext={ext:?}");
    assert!(ext[1] > 0 && ext[1] <= 50, "claude takes the rest within its half: {ext:?}");
    assert!(
        reason(&status, "gemini").contains("cheapest") && reason(&status, "gemini").contains("at its limit of 6 rps")
    );
    assert!(reason(&status, "claude").contains("next cheapest"), "{:?}", status.providers);
    assert!(reason(&status, "openai").contains("none needed"), "{:?}", status.providers);
    assert!(status.providers.iter().all(|p| p.healthy), "{:?}", status.providers);

    // (b) Gemini fails a third of its requests: the operator takes it out and gives its share to claude
    // (up to half the traffic) and openai.
    let gemini = by_name("gemini").expect("gemini");
    env.exporter.set_provider(gemini.name, gemini.model, Behaviour { error_ratio: 0.33, ..gemini.healthy() });
    let failed_at = Instant::now();
    let (after, status) = env
        .wait_for("gemini's share moved to the others", wait(), || async {
            let (_, ext) = route_split(&env).await?;
            let s = env.status().await?;
            let moved = ext == expected(ext.iter().sum(), false) && status_split(&s) == Some(ext);
            (moved && s.providers.iter().any(|p| p.name == "gemini" && !p.healthy)).then_some((ext, s))
        })
        .await;
    let reacted = failed_at.elapsed();
    let out_seen = Instant::now();
    assert!(reacted < Duration::from_secs(30), "within a few 5 s ticks, took {reacted:?}");
    assert_eq!(after[0], 0, "{after:?}");
    assert!(after[2] > 0, "openai takes what claude has no room for: {after:?}");
    let why = reason(&status, "gemini");
    assert!(why.contains("unhealthy (error ratio") && why.contains("> 5.0%"), "{why}");
    let held = &status.planner_state.provider_health;
    assert!(held.iter().any(|h| h.name == "gemini" && h.out_since.is_some()), "remembered: {held:?}");
    env.wait_for("the gateway sends gemini nothing", wait(), || async {
        let gw = env.gateway();
        gw.provider_rps.iter().any(|(n, rps)| n == "gemini" && *rps == 0.0).then_some(())
    })
    .await;
    // No Event is asserted here: kube's Recorder folds every TrafficShifted of the pool within 6 minutes
    // into a series of the first one, which keeps the first one's note.

    // (c) Gemini recovers: once its failures have left the rate window and it has looked well for
    // recoverAfterSeconds, it gets its share back.
    env.exporter.set_provider(gemini.name, gemini.model, gemini.healthy());
    env.wait_for("gemini back at its limit", 2 * wait(), || async {
        let (_, ext) = route_split(&env).await?;
        let s = env.status().await?;
        let back = ext == expected(ext.iter().sum(), true) && status_split(&s) == Some(ext);
        (back && s.providers.iter().all(|p| p.healthy)).then_some(())
    })
    .await;
    let out_for = out_seen.elapsed();
    assert!(
        out_for + Duration::from_secs(2) >= Duration::from_secs(u64::from(RECOVER_AFTER_SECONDS)),
        "held out for recoverAfterSeconds, was back after {out_for:?}"
    );

    // (d) Claude slows down to 20 s, over twice its typical 7 s: out for its latency (read from the
    // histogram's buckets), its share to openai; gemini keeps its limit.
    let claude = by_name("claude").expect("claude");
    env.exporter.set_provider(claude.name, claude.model, Behaviour { latency_s: 20.0, ..claude.healthy() });
    let (slow, status) = env
        .wait_for("claude's share moved to openai for its latency", wait(), || async {
            let (_, ext) = route_split(&env).await?;
            let s = env.status().await?;
            let total: u32 = ext.iter().sum();
            let moved = total > 0 && ext == [30.min(total), 0, total - 30.min(total)] && status_split(&s) == Some(ext);
            (moved && s.providers.iter().any(|p| p.name == "claude" && !p.healthy)).then_some((ext, s))
        })
        .await;
    let why = reason(&status, "claude");
    assert!(why.contains("unhealthy (latency") && why.contains("> 14.0 s"), "{why} {slow:?}");
    crate::support::say!(
        "e2e providers: split {ext:?}, gemini out after {reacted:?} ({after:?} meanwhile), back after {out_for:?}; \
         claude slow: {slow:?} ({why})"
    );

    // The ledger splits the external spend by provider: every provider that took traffic has a row.
    let cost = env
        .wait_for("external cost by provider in status", wait(), || async {
            let c = env.status().await?.cost;
            let spent = |name: &str| c.external_by_provider.iter().any(|p| p.name == name && p.month_to_date_usd > 0.0);
            PROVIDERS.iter().all(|p| spent(p.name)).then_some(c)
        })
        .await;
    let by: Vec<&str> = cost.external_by_provider.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(by, ["gemini", "claude", "openai"], "{cost:?}");

    op.stop().await;
    env.stop().await;
}
