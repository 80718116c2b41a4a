//! Reports: the JSON object of `--format json`, a plain table and a Markdown table.

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
    /// One entry per strategy, the oracle last.
    pub results: Vec<StrategyResult>,
    /// The reserved commitment recommended for this trace, when asked for
    /// (`--recommend-reservation`); absent otherwise, so the default object has exactly the two keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Recommendation>,
}

impl Report {
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
                    format!("{:.3}%", r.slo_attainment * 100.0),
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
            "trace {}: {:.0} requests over {:.1} h, mean {:.2} rps, peak {:.2} rps",
            t.name,
            t.requests,
            t.duration_s / 3600.0,
            t.mean_rps,
            t.peak_rps
        )
    }

    /// A plain aligned table.
    pub fn to_table(&self) -> String {
        let rows = self.rows();
        let header = Self::header();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
            .collect();
        let mut out = format!("{}\n", self.title());
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(
                    |(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) },
                )
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(out, "{}", line(header.to_vec()));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
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
        if let Some(rec) = &self.reservation {
            out += &rec.to_text();
        }
        out
    }
}
