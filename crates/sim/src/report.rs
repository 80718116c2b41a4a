//! Reports: the JSON object of `--format json`, a plain table and a Markdown table, each with every
//! strategy's figures per external provider beside the main ones.

use std::fmt::Write;

use serde::Serialize;

use super::reservation::Recommendation;
use super::run::StrategyResult;
use super::trace::TraceStats;

/// Everything `hybridscale simulate` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The trace.
    pub trace: TraceStats,
    /// The policy's SLO target: the share of requests that must be within the latency SLO.
    pub slo_target: f64,
    /// What a replica really serves in this replay (`profile.rs`), whatever the pool believes.
    pub world: String,
    /// One entry per strategy, the oracle last.
    pub results: Vec<StrategyResult>,
    /// The reserved commitment recommended for this trace, when asked for
    /// (`--recommend-reservation`); absent otherwise, so the default object has exactly the two keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Recommendation>,
}

impl Report {
    /// A report; each result is marked by whether it reaches `slo_target`.
    pub fn new(
        trace: TraceStats,
        mut results: Vec<StrategyResult>,
        reservation: Option<Recommendation>,
        slo_target: f64,
        world: &str,
    ) -> Report {
        for r in &mut results {
            r.meets_slo_target = r.slo_attainment + 1e-12 >= slo_target;
        }
        Report { trace, slo_target, world: world.to_string(), results, reservation }
    }

    /// The oracle's result, if it ran.
    pub fn oracle(&self) -> Option<&StrategyResult> {
        self.results.iter().find(|r| r.strategy == "oracle")
    }

    /// Exactly one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    fn rows(&self) -> Vec<[String; 10]> {
        let oracle = self.oracle().map(|o| o.cost_usd);
        self.results
            .iter()
            .map(|r| {
                let b = &r.cost_breakdown_usd;
                [
                    r.strategy.clone(),
                    format!("{:.2}", r.cost_usd),
                    oracle.filter(|o| *o > 0.0).map_or("-".into(), |o| format!("{:.2}x", r.cost_usd / o)),
                    format!("{:.3}%{}", r.slo_attainment * 100.0, if r.meets_slo_target { "" } else { " MISS" }),
                    format!("{:.2}", b.reserved),
                    format!("{:.2}", b.spot),
                    format!("{:.2}", b.on_demand),
                    format!("{:.2}", b.external),
                    format!("{:.1} / {:.1}", r.gpu_hours, r.idle_gpu_hours),
                    format!("{:.1}%", r.external_share * 100.0),
                ]
            })
            .collect()
    }

    fn header() -> [&'static str; 10] {
        [
            "strategy",
            "cost $",
            "vs oracle",
            "SLO attained",
            "reserved $",
            "spot $",
            "on-demand $",
            "external $",
            "GPU-h / idle",
            "external",
        ]
    }

    fn title(&self) -> String {
        let t = &self.trace;
        format!(
            "trace {}: {:.0} requests over {:.1} h, mean {:.2} rps, peak {:.2} rps; replica world: {}",
            t.name,
            t.requests,
            t.duration_s / 3600.0,
            t.mean_rps,
            t.peak_rps,
            self.world
        )
    }

    /// The line under the table: what MISS means, and which strategies missed.
    fn misses(&self) -> String {
        let missed: Vec<&str> =
            self.results.iter().filter(|r| !r.meets_slo_target).map(|r| r.strategy.as_str()).collect();
        let target = format!("{:.3}%", self.slo_target * 100.0);
        if missed.is_empty() {
            format!("every strategy meets the SLO target of {target}\n")
        } else {
            format!(
                "MISS: below the SLO target of {target} ({}); a cost below the target is no saving\n",
                missed.join(", ")
            )
        }
    }

    /// Per strategy that sent anything external, one row per provider: requests sent, rejected over
    /// its limits, failed in its error bursts, attainment of what it was sent, and its bill.
    fn provider_rows(&self) -> Vec<[String; 7]> {
        let sent = |r: &StrategyResult| r.providers.iter().any(|p| p.requests > 0.0);
        self.results
            .iter()
            .filter(|r| sent(r))
            .flat_map(|r| {
                r.providers.iter().map(|p| {
                    [
                        r.strategy.clone(),
                        p.name.clone(),
                        format!("{:.0}", p.requests),
                        format!("{:.0}", p.rate_limited),
                        format!("{:.0}", p.errors),
                        format!("{:.3}%", p.slo_attainment * 100.0),
                        format!("{:.2}", p.cost_usd),
                    ]
                })
            })
            .collect()
    }

    const PROVIDER_HEADER: [&'static str; 7] =
        ["strategy", "provider", "requests", "rate-limited", "errors", "SLO attained", "cost $"];

    /// A plain aligned table.
    pub fn to_table(&self) -> String {
        let mut out = format!("{}\n", self.title());
        out += &aligned(&Self::header(), &self.rows());
        out += &self.misses();
        let providers = self.provider_rows();
        if !providers.is_empty() {
            out += "external providers:\n";
            out += &aligned(&Self::PROVIDER_HEADER, &providers);
        }
        if let Some(rec) = &self.reservation {
            out += &rec.to_text();
        }
        out
    }

    /// A Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("{}\n\n| {} |\n", self.title(), Self::header().join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(Self::header().len()));
        for r in self.rows() {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out += "\n";
        out += &self.misses();
        let providers = self.provider_rows();
        if !providers.is_empty() {
            let _ = write!(out, "\nexternal providers:\n\n| {} |\n|", Self::PROVIDER_HEADER.join(" | "));
            let _ = writeln!(out, "{}", "---|".repeat(Self::PROVIDER_HEADER.len()));
            for r in providers {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
            out += "\n";
        }
        if let Some(rec) = &self.reservation {
            out += &rec.to_text();
        }
        out
    }
}

/// Rows under a header, columns aligned (the first to the left, the rest to the right).
fn aligned<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> =
        (0..N).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = format!("{}\n", line(header.to_vec()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::trace::Trace;
    use super::*;

    #[test]
    fn a_strategy_below_the_slo_target_is_marked_wherever_its_cost_is_shown() {
        let result = |name: &str, cost: f64, attained: f64| StrategyResult {
            strategy: name.into(),
            cost_usd: cost,
            cost_breakdown_usd: Default::default(),
            slo_attainment: attained,
            gpu_hours: 0.0,
            idle_gpu_hours: 0.0,
            external_share: 0.0,
            providers: Vec::new(),
            meets_slo_target: true,
            timeline: Default::default(),
        };
        let results =
            vec![result("hybridscale", 10.0, 0.459), result("all-external", 30.0, 1.0), result("oracle", 12.0, 0.999)];
        let r = Report::new(Trace::flat(1.0, 6, 10.0).stats(), results, None, 0.999, "w");
        assert_eq!(r.results.iter().map(|r| r.meets_slo_target).collect::<Vec<_>>(), [false, true, true]);
        let table = r.to_table();
        assert!(table.contains("45.900% MISS"), "{table}");
        assert!(!table.contains("100.000% MISS"), "{table}");
        assert!(table.contains("MISS: below the SLO target of 99.900% (hybridscale)"), "{table}");
        assert!(r.to_markdown().contains("| 45.900% MISS |"));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["results"][0]["meets_slo_target"], false);
        let svg = super::super::svg::render(&r, "hybridscale");
        assert!(svg.contains("hybridscale $10 45.9% MISS"), "{svg}");
    }
}
