//! The report as a self-contained SVG, written by hand in the style of `simulate --svg`
//! (crates/sim/src/svg.rs): per pool, its spend stacked by class, and below it what all-external and
//! on-demand-only would have cost, on one dollar axis.

use std::fmt::Write;

use super::{CLASSES, Report};

const W: f64 = 960.0;
const LEFT: f64 = 200.0;
const RIGHT: f64 = 40.0;
const ROW_H: f64 = 54.0;
const TOP: f64 = 60.0;
const CLASS_COLORS: [&str; 4] = ["#6baed6", "#74c476", "#fd8d3c", "#9467bd"];
const CF_COLORS: [&str; 2] = ["#bbbbbb", "#7f7f7f"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn bar(out: &mut String, x: f64, y: f64, w: f64, h: f64, color: &str, title: &str) {
    let _ = writeln!(
        out,
        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h}" fill="{color}"><title>{}</title></rect>"#,
        w.max(0.0),
        esc(title)
    );
}

/// Render the chart.
pub fn render(r: &Report) -> String {
    let rows = &r.pools;
    let height = TOP + ROW_H * rows.len().max(1) as f64 + 60.0;
    let max = rows
        .iter()
        .flat_map(|p| [p.cost_usd, p.all_external_usd, p.on_demand_only_usd])
        .fold(0.0_f64, f64::max)
        .max(0.01)
        * 1.05;
    let scale = (W - LEFT - RIGHT) / max;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let title = format!(
        "hybridscale spend {} (total ${:.2}, saved ${:.2} vs all-external)",
        r.period, r.total.cost_usd, r.total.savings_vs_all_external_usd
    );
    let _ = writeln!(out, r#"<text x="10" y="24" font-size="15" font-weight="bold">{}</text>"#, esc(&title));
    // The dollar grid first, so the bars are drawn over it.
    let axis_y = TOP + ROW_H * rows.len().max(1) as f64 + 10.0;
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let x = LEFT + v * scale;
        let _ = writeln!(out, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{axis_y}" stroke="#eee"/>"##);
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">${v:.0}</text>"#,
            axis_y + 14.0
        );
    }
    for (i, (name, color)) in CLASSES
        .iter()
        .chain(["all external", "on-demand only"].iter())
        .zip(CLASS_COLORS.iter().chain(CF_COLORS.iter()))
        .enumerate()
    {
        let x = LEFT + i as f64 * 120.0;
        bar(&mut out, x, 36.0, 12.0, 10.0, color, name);
        let _ = writeln!(out, r#"<text x="{}" y="45" font-size="11">{}</text>"#, x + 16.0, esc(name));
    }
    for (i, p) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let label = format!("{}/{}", p.namespace, p.pool);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + 14.0,
            esc(&label)
        );
        let mut x = LEFT;
        for (c, color) in CLASSES.iter().zip(CLASS_COLORS) {
            let v = p.cost_by_class_usd.get(*c).copied().unwrap_or(0.0);
            bar(&mut out, x, y, v * scale, 18.0, color, &format!("{label} {c} ${v:.2}"));
            x += v * scale;
        }
        let _ = writeln!(out, r#"<text x="{:.1}" y="{}" font-size="11">${:.2}</text>"#, x + 4.0, y + 14.0, p.cost_usd);
        for (k, (v, color)) in
            [(p.all_external_usd, CF_COLORS[0]), (p.on_demand_only_usd, CF_COLORS[1])].into_iter().enumerate()
        {
            let yy = y + 22.0 + k as f64 * 11.0;
            bar(&mut out, LEFT, yy, v * scale, 9.0, color, &format!("{label} ${v:.2}"));
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="9">${v:.2}</text>"#,
                LEFT + v * scale + 4.0,
                yy + 8.0
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::PoolRow;
    use super::*;

    #[test]
    fn bars_are_titled_and_names_escaped() {
        let mut p = PoolRow {
            namespace: "n".into(),
            pool: "a<b".into(),
            cost_usd: 10.0,
            all_external_usd: 30.0,
            ..Default::default()
        };
        p.cost_by_class_usd.insert("spot".into(), 10.0);
        let svg = render(&Report { pools: vec![p], period: "2026-11".into(), ..Default::default() });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("n/a&lt;b spot $10.00"), "{svg}");
        assert!(svg.contains("n/a&lt;b $30.00"));
        assert!(!svg.contains("a<b"));
    }
}
