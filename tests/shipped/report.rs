//! `hybridscale report` against a real Prometheus backfilled (promtool) with known series of the
//! operator's metrics around November 2026: month-to-date gauges that restart with each month, a stale
//! copy from a standby replica, a tenant counter that restarts mid-month. The totals must come out to
//! the cent, for the month and for ranges inside it and across its end.

use crate::backfill;

use backfill::{Backfilled, OpenMetrics, SeriesData};
use hybridscale::cli::report::{Args, Format, build, render};
use indicatif::ProgressBar;

const OCT31_2300: i64 = 1_793_487_600;
const NOV: i64 = 1_793_491_200;
const DEC: i64 = 1_796_083_200;
const STEP: i64 = 600;

/// Sample times every 10 minutes around the instants the report looks at (the month's bounds, the
/// ranges' bounds, a restart), with gaps between them as after a Prometheus outage: promtool writes one
/// block per 2 hours with samples, and a whole month of blocks takes minutes to write.
fn times() -> Vec<i64> {
    let day = 86_400;
    let windows = [(OCT31_2300, NOV + 3600), (NOV + 9 * day - 3600, NOV + 9 * day + 3600)]
        .into_iter()
        .chain([(NOV + 14 * day - 3600, NOV + 14 * day + 3600), (NOV + 19 * day - 3600, NOV + 19 * day + 3600)])
        .chain([(NOV + 29 * day + 11 * 3600, DEC + 3600)]);
    windows.flat_map(|(a, b)| (0..).map(move |i| a + i * STEP).take_while(move |t| *t <= b)).collect()
}

/// Steps of 10 minutes since the start of the month `t` is in (October: a large figure).
fn steps_in_month(t: i64) -> f64 {
    let start = if t >= DEC {
        DEC
    } else if t >= NOV {
        NOV
    } else {
        NOV - 31 * 86_400
    };
    ((t - start) / STEP) as f64
}

/// A month-to-date gauge rising by `per_step` dollars every 10 minutes, restarting each month.
fn mtd(per_step: f64, scale: f64) -> Vec<(i64, f64)> {
    times().into_iter().map(|t| (t, (steps_in_month(t) * per_step * scale * 100.0).round() / 100.0)).collect()
}

/// A counter rising by `per_step` every 10 minutes from `base` at 2026-10-31T23:00Z; a process started
/// at `restart` counts from 0 (its first sample shows one step).
fn counter(base: f64, per_step: f64, restart: Option<i64>) -> Vec<(i64, f64)> {
    let value = |t: i64| match restart {
        Some(r) if t >= r => per_step * ((t - r) / STEP + 1) as f64,
        _ => base + per_step * ((t - OCT31_2300) / STEP) as f64,
    };
    times().into_iter().map(|t| (t, value(t))).collect()
}

fn data() -> String {
    let p1 = |k: &'static str, v: &'static str| vec![("namespace", "a"), ("pool", "p1"), (k, v)];
    let mut om = OpenMetrics::default();
    let mut classes: Vec<SeriesData> = vec![
        ([p1("class", "reserved"), vec![("instance", "leader")]].concat(), mtd(0.61, 1.0)),
        ([p1("class", "reserved"), vec![("instance", "standby")]].concat(), mtd(0.61, 0.5)),
        ([p1("class", "spot"), vec![("instance", "leader")]].concat(), mtd(0.37, 1.0)),
        ([p1("class", "on_demand"), vec![("instance", "leader")]].concat(), mtd(0.05, 1.0)),
        ([p1("class", "external"), vec![("instance", "leader")]].concat(), mtd(0.13, 1.0)),
    ];
    classes.push((vec![("namespace", "b"), ("pool", "p2"), ("class", "external")], mtd(0.02, 1.0)));
    om.family("hybridscale_pool_month_to_date_usd", "gauge", &classes);
    om.family(
        "hybridscale_pool_counterfactual_month_to_date_usd",
        "gauge",
        &[(p1("scenario", "all_external"), mtd(2.0, 1.0)), (p1("scenario", "on_demand_only"), mtd(1.5, 1.0))],
    );
    let restart = NOV + 14 * 86_400;
    om.family(
        "hybridscale_pool_tenant_cost_usd",
        "counter",
        &[(p1("tenant", "t1"), counter(100.0, 0.25, Some(restart))), (p1("tenant", "other"), counter(0.0, 0.1, None))],
    );
    om.family(
        "hybridscale_pool_tokens",
        "counter",
        &[
            ([p1("route", "self_hosted"), vec![("kind", "output")]].concat(), counter(7.0, 1000.0, None)),
            ([p1("route", "external"), vec![("kind", "prompt")]].concat(), counter(0.0, 500.0, None)),
        ],
    );
    om.family(
        "hybridscale_pool_requests",
        "counter",
        &[(vec![("namespace", "a"), ("pool", "p1")], counter(0.0, 10.0, None))],
    );
    om.family(
        "hybridscale_pool_info",
        "gauge",
        &[(
            vec![
                ("namespace", "a"),
                ("pool", "p1"),
                ("policy", "pol"),
                ("model", "m"),
                ("team", "search"),
                ("cost_center", "cc1"),
            ],
            times().into_iter().map(|t| (t, 1.0)).collect(),
        )],
    );
    om.finish()
}

fn args(url: &str, extra: &[&str]) -> Args {
    let argv = ["hybridscale", "report", "--prometheus-url", url].into_iter().chain(extra.iter().copied());
    match hybridscale::cli::parse(argv) {
        Ok(hybridscale::cli::Parsed::Command(cli)) => match cli.command {
            hybridscale::cli::Command::Report(a) => a,
            other => panic!("parsed as {other:?}"),
        },
        _ => panic!("report flags {extra:?} do not parse"),
    }
}

#[tokio::test]
async fn report_adds_up_to_the_cent_for_a_month_and_for_ranges() {
    let prom = Backfilled::start(&data()).await;
    let month = build(&args(&prom.url, &["--month", "2026-11"]), &ProgressBar::hidden()).await.expect("report");
    // Last November sample: 4319 steps. reserved 0.61 x 4319 = 2634.59 (the standby's half copy ignored).
    let p1 = month.pools.iter().find(|p| p.pool == "p1").expect("pool p1");
    assert_eq!(p1.cost_by_class_usd["reserved"], 2634.59);
    assert_eq!(p1.cost_by_class_usd["spot"], 1598.03);
    assert_eq!(p1.cost_by_class_usd["on_demand"], 215.95);
    assert_eq!(p1.cost_by_class_usd["external"], 561.47);
    assert_eq!(p1.cost_usd, 5010.04);
    assert_eq!((p1.team.as_str(), p1.cost_center.as_str()), ("search", "cc1"));
    // 4320 ten-minute steps of each counter in November (the restart on the 15th counts from 0).
    assert_eq!((p1.self_hosted_tokens, p1.external_tokens, p1.requests), (4_320_000.0, 2_160_000.0, 43_200.0));
    assert_eq!(p1.self_hosted_usd_per_million_tokens, Some(1029.7616)); // 4448.57 / 4.32
    assert_eq!(p1.external_usd_per_million_tokens, Some(259.9398)); // 561.47 / 2.16
    assert_eq!((p1.all_external_usd, p1.on_demand_only_usd), (8638.0, 6478.5));
    assert_eq!((p1.savings_vs_all_external_usd, p1.savings_vs_on_demand_only_usd), (3627.96, 1468.46));
    let tenant =
        |r: &hybridscale::report::Report, t: &str| r.tenants.iter().find(|x| x.tenant == t).map(|x| x.cost_usd);
    assert_eq!(tenant(&month, "t1"), Some(1080.0));
    assert_eq!(tenant(&month, "other"), Some(432.0));
    assert_eq!(month.cost_by_namespace_usd["b"], 86.38);
    assert_eq!(month.total.cost_usd, 5096.42);
    assert_eq!(month.cost_by_class_usd["external"], 647.85);

    // Ten days inside the month: 1440 steps of each figure.
    let r = build(&args(&prom.url, &["--from", "2026-11-10", "--to", "2026-11-20"]), &ProgressBar::hidden())
        .await
        .expect("range");
    let p1 = r.pools.iter().find(|p| p.pool == "p1").expect("pool p1");
    assert_eq!(p1.cost_by_class_usd["reserved"], 878.4);
    assert_eq!(tenant(&r, "t1"), Some(360.0));
    // Across the month's end: 72 steps of November and 2 of December (the 00:30 sample is excluded).
    let r = build(
        &args(
            &prom.url,
            &[
                "--from",
                "2026-11-30T12:00:00Z",
                "--to",
                "2026-12-01T00:30:00Z",
                "--namespace",
                "a",
                "--chunk-hours",
                "5",
            ],
        ),
        &ProgressBar::hidden(),
    )
    .await
    .expect("range across months");
    assert_eq!(r.pools.len(), 1, "--namespace a leaves out b");
    assert_eq!(r.pools[0].cost_by_class_usd["reserved"], 45.14);
    assert_eq!(r.pools[0].self_hosted_tokens, 75_000.0, "75 steps from 11:50 to 00:20");

    // Every format carries the total.
    assert!(render(&month, Format::Table).contains("5096.42"));
    assert!(render(&month, Format::Csv).lines().any(|l| l.starts_with("total,") && l.contains(",5096.42,")));
    let json: serde_json::Value = serde_json::from_str(&render(&month, Format::Json)).expect("json");
    assert_eq!(json["total"]["cost_usd"], 5096.42);
    assert!(render(&month, Format::Svg).contains("total $5096.42"));
}

#[test]
fn the_binary_writes_the_report_and_refuses_bad_flags_in_one_line() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let prom = rt.block_on(Backfilled::start(&data()));
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("nov.csv");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hybridscale"))
            .args(["report", "--prometheus-url", &prom.url])
            .args(extra)
            .output()
            .expect("run hybridscale")
    };
    let ok = run(&["--month", "2026-11", "--format", "csv", "-o", out_file.to_str().expect("path")]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let csv = std::fs::read_to_string(&out_file).expect("csv written");
    assert!(csv.lines().any(|l| l.starts_with("tenant,a,p1,,t1,") && l.contains(",1080.00,")), "{csv}");
    for bad in [
        vec!["--month", "2026-13"],
        vec!["--month", "2026-11", "--from", "2026-11-01", "--to", "2026-11-02"],
        vec!["--from", "2026-11-02", "--to", "2026-11-01"],
        vec!["--from", "2026-11-02"],
        vec!["--month", "2026-11", "--format", "pdf"],
        vec!["--month", "2026-11", "--chunk-hours", "0"],
    ] {
        let out = run(&bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: one line, got {err}");
    }
    let down = std::process::Command::new(env!("CARGO_BIN_EXE_hybridscale"))
        .args(["report", "--prometheus-url", "http://127.0.0.1:9", "--month", "2026-11"])
        .output()
        .expect("run");
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&down.stderr).trim().lines().count(), 1);
}
