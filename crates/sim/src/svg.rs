//! A self-contained SVG of a replay, written by hand (no plotting dependency): demand against the
//! focus strategy's self-hosted capacity per class, its external share, the cumulative cost of every
//! strategy with its SLO attainment beside it (marked MISS below the target: a cheap line that misses
//! the SLO is no saving), and every strategy's attainment over time against the target. With several
//! external providers, the focus strategy's bill and attainment per provider stand beside its share.

use std::fmt::Write;

use super::report::Report;
use super::run::Timeline;

const W: f64 = 960.0;
const PANEL_H: f64 = 200.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const COLORS: [&str; 7] = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f", "#8c564b"];
const CLASS_COLORS: [&str; 3] = ["#6baed6", "#74c476", "#fd8d3c"];
const CLASS_NAMES: [&str; 3] = ["reserved", "spot", "on-demand"];

struct Panel {
    top: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * if self.x_max > 0.0 { t / self.x_max } else { 0.0 }
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL_H - PANEL_H * if self.y_max > 0.0 { (v / self.y_max).min(1.0) } else { 0.0 }
    }
    fn frame(&self, out: &mut String, title: &str, unit: &str) {
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="{PANEL_H}" fill="none" stroke="#999"/>"##,
            self.top,
            W - LEFT - RIGHT
        );
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            self.top - 6.0,
            esc(title)
        );
        for k in 0..=4 {
            let v = self.y_max * k as f64 / 4.0;
            let y = self.y(v);
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{} {}</text>"#,
                LEFT - 4.0,
                y + 3.0,
                fmt(v),
                unit
            );
            let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/>"##, W - RIGHT);
        }
        for k in 0..=6 {
            let t = self.x_max * k as f64 / 6.0;
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                self.x(t),
                self.top + PANEL_H + 13.0,
                hours(t)
            );
        }
    }
    fn line(&self, out: &mut String, t: &[f64], v: &[f64], color: &str) {
        let pts: Vec<String> = t.iter().zip(v).map(|(&t, &v)| format!("{:.1},{:.1}", self.x(t), self.y(v))).collect();
        let _ =
            writeln!(out, r#"<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{}"/>"#, pts.join(" "));
    }
    fn area(&self, out: &mut String, t: &[f64], lo: &[f64], hi: &[f64], color: &str) {
        let mut pts: Vec<String> =
            t.iter().zip(hi).map(|(&t, &v)| format!("{:.1},{:.1}", self.x(t), self.y(v))).collect();
        pts.extend(t.iter().zip(lo).rev().map(|(&t, &v)| format!("{:.1},{:.1}", self.x(t), self.y(v))));
        let _ =
            writeln!(out, r#"<polygon fill="{color}" fill-opacity="0.75" stroke="none" points="{}"/>"#, pts.join(" "));
    }
    fn legend(&self, out: &mut String, i: usize, label: &str, color: &str) {
        let x = W - RIGHT + 12.0;
        let y = self.top + 12.0 + 16.0 * i as f64;
        let _ = writeln!(out, r#"<rect x="{x}" y="{}" width="12" height="8" fill="{color}"/>"#, y - 8.0);
        let _ = writeln!(out, r#"<text x="{}" y="{y}" font-size="11">{}</text>"#, x + 16.0, esc(label));
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fmt(v: f64) -> String {
    if v >= 10.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn hours(t: f64) -> String {
    if t >= 2.0 * 86400.0 { format!("{:.1} d", t / 86400.0) } else { format!("{:.1} h", t / 3600.0) }
}

/// "99.95%", or "45.9% MISS" below the target.
fn attained(r: &super::run::StrategyResult) -> String {
    let pct = r.slo_attainment * 100.0;
    let pct = if pct >= 99.0 { format!("{pct:.2}%") } else { format!("{pct:.1}%") };
    if r.meets_slo_target { pct } else { format!("{pct} MISS") }
}

fn end_time(tl: &Timeline, step_s: f64) -> f64 {
    tl.t.last().map_or(0.0, |t| t + step_s)
}

/// Render the report; `focus` names the strategy whose capacity and external share are drawn.
pub fn render(report: &Report, focus: &str) -> String {
    let focus_result = report.results.iter().find(|r| r.strategy == focus).or(report.results.first());
    let mut out = String::new();
    let h = 4.0 * PANEL_H + 200.0;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let Some(fr) = focus_result else {
        out.push_str("</svg>\n");
        return out;
    };
    let tl = &fr.timeline;
    let step = if tl.t.len() >= 2 { tl.t[1] - tl.t[0] } else { 1.0 };
    let x_max = end_time(tl, step);

    // Demand and capacity.
    let stacked: Vec<[f64; 3]> = (0..tl.t.len())
        .map(|i| {
            let a = tl.capacity_rps.reserved[i];
            let b = a + tl.capacity_rps.spot[i];
            [a, b, b + tl.capacity_rps.on_demand[i]]
        })
        .collect();
    let y_max = tl.demand_rps.iter().chain(stacked.iter().map(|s| &s[2])).cloned().fold(0.0, f64::max) * 1.05;
    let p1 = Panel { top: 30.0, x_max, y_max };
    p1.frame(
        &mut out,
        &format!("{}: demand and self-hosted capacity of {} by class", report.trace.name, fr.strategy),
        "rps",
    );
    let zero = vec![0.0; tl.t.len()];
    for c in 0..3 {
        let lo: Vec<f64> = if c == 0 { zero.clone() } else { stacked.iter().map(|s| s[c - 1]).collect() };
        let hi: Vec<f64> = stacked.iter().map(|s| s[c]).collect();
        p1.area(&mut out, &tl.t, &lo, &hi, CLASS_COLORS[c]);
        p1.legend(&mut out, c, CLASS_NAMES[c], CLASS_COLORS[c]);
    }
    p1.line(&mut out, &tl.t, &tl.demand_rps, "#000");
    p1.legend(&mut out, 3, "demand", "#000");

    // External share.
    let p2 = Panel { top: 30.0 + PANEL_H + 50.0, x_max, y_max: 100.0 };
    p2.frame(&mut out, &format!("share of requests sent to the external API by {}", fr.strategy), "%");
    let pct: Vec<f64> = tl.external_share.iter().map(|s| s * 100.0).collect();
    p2.line(&mut out, &tl.t, &pct, "#9467bd");
    // With several providers, the focus strategy's figures per provider beside it.
    if fr.providers.len() > 1 {
        for (i, p) in fr.providers.iter().enumerate() {
            let label = format!("{} ${} {:.2}%", p.name, fmt(p.cost_usd), p.slo_attainment * 100.0);
            p2.legend(&mut out, i, &label, COLORS[(i + 4) % COLORS.len()]);
        }
    }

    // Cumulative cost.
    let c_max =
        report.results.iter().filter_map(|r| r.timeline.cumulative_usd.last()).cloned().fold(0.0, f64::max) * 1.05;
    let p3 = Panel { top: 30.0 + 2.0 * (PANEL_H + 50.0), x_max, y_max: c_max };
    p3.frame(&mut out, "cumulative cost per strategy", "$");
    for (i, r) in report.results.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        p3.line(&mut out, &r.timeline.t, &r.timeline.cumulative_usd, color);
        p3.legend(&mut out, i, &format!("{} ${} {}", r.strategy, fmt(r.cost_usd), attained(r)), color);
    }

    // SLO attainment over time (the oracle is a bound, not a replay: left out), against the target.
    let p4 = Panel { top: 30.0 + 3.0 * (PANEL_H + 50.0), x_max, y_max: 100.0 };
    p4.frame(
        &mut out,
        &format!("share of requests within the SLO (target {:.1}%, dashed)", report.slo_target * 100.0),
        "%",
    );
    let target = p4.y(report.slo_target * 100.0);
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{target}" x2="{}" y2="{target}" stroke="#000" stroke-dasharray="5,4"/>"##,
        W - RIGHT
    );
    for (i, r) in report.results.iter().enumerate().filter(|(_, r)| r.strategy != "oracle") {
        let color = COLORS[i % COLORS.len()];
        let pct: Vec<f64> = r.timeline.attainment.iter().map(|a| a * 100.0).collect();
        p4.line(&mut out, &r.timeline.t, &pct, color);
        p4.legend(&mut out, i, &format!("{} {}", r.strategy, attained(r)), color);
    }
    out.push_str("</svg>\n");
    out
}
