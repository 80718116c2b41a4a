//! Table test for the overload safety net (`overload.rs`): observed latency or queueing beyond what
//! the SLO allows moves load to the external API at once, even though the model thinks the ready
//! replicas enough, and adds a replica when the API cannot take that load. With learnFromMetrics on, it
//! also buys for what the replicas were seen to serve (`learn::overload_bound`), where the API cannot
//! take the excess or replicas are the cheaper way.

use super::tests::{T0, config, reason, snapshot};
use super::*;

#[test]
fn observed_overload_sheds_load_and_adds_capacity() {
    // 10 rps on 2 reserved + 1 spot replicas, all ready: 15 rps by the model, so no shortfall is seen
    // without the observations. SLO 10 s; the replicas clear 150 requests within it.
    struct Case {
        what: &'static str,
        latency: Option<(f64, f64)>,
        waiting: Option<f64>,
        /// External API: None = no path; Some(rate limit).
        external: Option<Option<f64>>,
        spot: (u32, u32),
        external_weight: u32,
        replicas: u32,
        /// (external weight, replicas) with learnFromMetrics on: what the overload shows a replica to
        /// serve caps μ for the tick (`learn::overload_bound`). Given 3.33 rps each at 14 s against a
        /// 10 s SLO, the replicas are believed at 2.5 rps (3.33 x 10 / 14, at most halved); at that
        /// rate a spot replica costs more than the API would (u* > 1), so the API takes the excess
        /// where it can. In the queue case, 3 rps (0.9 x 3.33): 65.8% external and a fourth replica.
        learned: (u32, u32),
        reason: &'static str,
    }
    let cases = [
        Case {
            what: "latency above the SLO",
            latency: Some((14.0, T0)),
            waiting: None,
            external: Some(None),
            spot: (1, 1),
            external_weight: 25,
            replicas: 3,
            learned: (44, 3),
            reason: "observed latency 14 s exceeds the 10 s SLO",
        },
        Case {
            what: "queue longer than the SLO clears",
            latency: Some((6.0, T0)),
            waiting: Some(200.0),
            external: Some(None),
            spot: (1, 1),
            // The replicas keep a quarter less of the 10 rps (7.5) less what drains the 50 requests over
            // the 150 they clear in time within the 15 s tick (3.3): 4.2 rps, 58.3% external, rounded up.
            external_weight: 59,
            replicas: 3,
            learned: (66, 4),
            reason: "200 requests waiting, more than the ready replicas clear within the 10 s SLO (150)",
        },
        Case {
            what: "within the SLO: nothing changes",
            latency: Some((8.0, T0)),
            waiting: Some(20.0),
            external: Some(None),
            spot: (1, 1),
            external_weight: 0,
            replicas: 3,
            learned: (0, 3),
            reason: "",
        },
        Case {
            what: "at the SLO, within the margin: the edge the rating was set for",
            latency: Some((10.5, T0)),
            waiting: None,
            external: Some(None),
            spot: (1, 1),
            external_weight: 0,
            replicas: 3,
            learned: (0, 3),
            reason: "",
        },
        Case {
            what: "a stale latency says nothing about now",
            latency: Some((14.0, T0 - 600.0)),
            waiting: None,
            external: Some(None),
            spot: (1, 1),
            external_weight: 0,
            replicas: 3,
            learned: (0, 3),
            reason: "",
        },
        Case {
            what: "no external path: capacity only",
            latency: Some((14.0, T0)),
            waiting: None,
            external: None,
            spot: (1, 1),
            external_weight: 0,
            replicas: 4,
            learned: (0, 5),
            reason: "observed latency 14 s exceeds the 10 s SLO",
        },
        Case {
            what: "external API at its rate limit: capacity too",
            latency: Some((14.0, T0)),
            waiting: None,
            external: Some(Some(1.0)),
            spot: (1, 1),
            external_weight: 10,
            replicas: 4,
            learned: (10, 5),
            reason: "observed latency 14 s exceeds the 10 s SLO",
        },
        Case {
            what: "a replica already starting is the added capacity",
            latency: Some((14.0, T0)),
            waiting: None,
            external: Some(None),
            spot: (2, 1),
            external_weight: 25,
            replicas: 4,
            learned: (44, 4),
            reason: "",
        },
    ];
    for (c, learn) in cases.iter().flat_map(|c| [(c, false), (c, true)]) {
        let mut cfg = config();
        cfg.learn_from_metrics = learn;
        match c.external {
            None => cfg.external = None,
            Some(limit) => {
                if let Some(e) = cfg.external.as_mut() {
                    e.max_rps = limit;
                }
            }
        }
        let mut s = snapshot(|_| 10.0, [(2, 2), c.spot, (0, 0)]);
        s.load.latency_s = c.latency.map(|(value, at)| Sample { value, at });
        s.load.waiting = c.waiting.map(|value| Sample { value, at: T0 });
        let p = plan(&cfg, &s, &Memory::default(), T0);
        let (ext, replicas) = if learn { c.learned } else { (c.external_weight, c.replicas) };
        assert_eq!(p.traffic.external_weight, ext, "{} (learning {learn}): {}", c.what, p.summary);
        assert_eq!(p.replicas.total(), replicas, "{} (learning {learn}): {}", c.what, p.summary);
        if !c.reason.is_empty() {
            assert!(p.summary.contains(c.reason), "{}: {}", c.what, p.summary);
            // The reason sits on what changed: the added replica, else the route.
            let changed = [Class::Reserved, Class::Spot, Class::OnDemand]
                .into_iter()
                .map(|k| reason(&p, k))
                .find(|r| !r.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| p.changes.iter().map(|c| c.reason.clone()).collect::<Vec<_>>().join(" | "));
            assert!(changed.contains(c.reason), "{}: {changed}", c.what);
        } else {
            assert!(!p.summary.contains("overload") || c.what.starts_with("a replica"), "{}: {}", c.what, p.summary);
        }
    }
}

#[test]
fn a_backlog_beyond_the_slo_is_drained_by_routing_past_the_replicas() {
    // 10 rps on 3 ready replicas (15 rps by the model), 200 requests queued where 150 clear within the
    // 10 s SLO. Requests sent behind the other 50 are late anyway and keep the backlog longer; the
    // external API takes them instead until the backlog drains.
    let cfg = config();
    let mut s = snapshot(|_| 10.0, [(2, 2), (1, 1), (0, 0)]);
    s.load.waiting = Some(Sample { value: 200.0, at: T0 });
    let p = plan(&cfg, &s, &Memory::default(), T0);
    let route = p.changes.iter().map(|c| c.reason.as_str()).find(|r| r.starts_with("external ")).unwrap_or_default();
    assert!(
        route.contains("shedding a quarter of the self-hosted load and what lets the 50 requests queued beyond that drain within a tick"),
        "{route}"
    );
    // A backlog that a whole tick at the kept rate cannot drain sends everything the API may take.
    s.load.waiting = Some(Sample { value: 400.0, at: T0 });
    let p = plan(&cfg, &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 100, "{}", p.summary);
    // Within what the replicas clear in time: no overload, no shedding.
    s.load.waiting = Some(Sample { value: 100.0, at: T0 });
    let p = plan(&cfg, &s, &Memory::default(), T0);
    assert_eq!(p.traffic.external_weight, 0, "{}", p.summary);
}
