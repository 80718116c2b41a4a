//! The report as an aligned text table, CSV (one row per pool, pool class, tenant, namespace and the
//! total, with a `scope` column) or JSON. Money has two decimals: the report adds up to the cent.

use std::fmt::Write;

use super::{CLASSES, PoolRow, Report};

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let _ = writeln!(out, "{title}");
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    out.push('\n');
}

fn pool_cells(p: &PoolRow) -> Vec<String> {
    let mut cells = vec![format!("{}/{}", p.namespace, p.pool), p.team.clone(), format!("{:.2}", p.cost_usd)];
    cells.extend(CLASSES.iter().map(|c| format!("{:.2}", p.cost_by_class_usd.get(*c).copied().unwrap_or(0.0))));
    cells.extend([
        format!("{:.0}", p.self_hosted_tokens),
        format!("{:.0}", p.external_tokens),
        opt(p.self_hosted_usd_per_million_tokens),
        opt(p.external_usd_per_million_tokens),
        format!("{:.2}", p.savings_vs_all_external_usd),
        format!("{:.2}", p.savings_vs_on_demand_only_usd),
    ]);
    cells
}

/// An aligned text table per breakdown.
pub fn text(r: &Report) -> String {
    let mut out = format!("hybridscale report {} ({} to {})\n\n", r.period, r.from, r.to);
    let header = [
        "pool",
        "team",
        "cost $",
        "reserved $",
        "spot $",
        "on_demand $",
        "external $",
        "self-hosted tok",
        "external tok",
        "self $/1M",
        "API $/1M",
        "saved vs API $",
        "saved vs on-demand $",
    ];
    let mut rows: Vec<Vec<String>> = r.pools.iter().map(pool_cells).collect();
    let mut total = pool_cells(&r.total);
    total[0] = "TOTAL".into();
    rows.push(total);
    table(&mut out, "Pools", &header, &rows);
    let rows: Vec<Vec<String>> = r
        .tenants
        .iter()
        .map(|t| vec![format!("{}/{}", t.namespace, t.pool), t.tenant.clone(), format!("{:.2}", t.cost_usd)])
        .collect();
    table(&mut out, "Tenants", &["pool", "tenant", "cost $"], &rows);
    let rows: Vec<Vec<String>> =
        r.cost_by_namespace_usd.iter().map(|(n, v)| vec![n.clone(), format!("{v:.2}")]).collect();
    table(&mut out, "Namespaces", &["namespace", "cost $"], &rows);
    let rows: Vec<Vec<String>> = r.cost_by_class_usd.iter().map(|(c, v)| vec![c.clone(), format!("{v:.2}")]).collect();
    table(&mut out, "Classes", &["class", "cost $"], &rows);
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// CSV with a header; `scope` is pool, pool_class, tenant, namespace, class or total.
pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "scope,namespace,pool,class,tenant,team,cost_center,cost_usd,self_hosted_tokens,external_tokens,\
         requests,usd_per_million_tokens,self_hosted_usd_per_million_tokens,external_usd_per_million_tokens,\
         all_external_usd,on_demand_only_usd,savings_vs_all_external_usd,savings_vs_on_demand_only_usd\n",
    );
    let mut row = |cells: [&str; 7], rest: String| {
        let c: Vec<String> = cells.iter().map(|s| csv_field(s)).collect();
        let _ = writeln!(out, "{},{rest}", c.join(","));
    };
    let pool_rest = |p: &PoolRow| {
        format!(
            "{:.0},{:.0},{:.0},{},{},{},{:.2},{:.2},{:.2},{:.2}",
            p.self_hosted_tokens,
            p.external_tokens,
            p.requests,
            opt(p.usd_per_million_tokens),
            opt(p.self_hosted_usd_per_million_tokens),
            opt(p.external_usd_per_million_tokens),
            p.all_external_usd,
            p.on_demand_only_usd,
            p.savings_vs_all_external_usd,
            p.savings_vs_on_demand_only_usd
        )
    };
    for p in &r.pools {
        let (ns, pool) = (p.namespace.as_str(), p.pool.as_str());
        row(["pool", ns, pool, "", "", &p.team, &p.cost_center], format!("{:.2},{}", p.cost_usd, pool_rest(p)));
        for (c, v) in &p.cost_by_class_usd {
            row(["pool_class", ns, pool, c, "", &p.team, &p.cost_center], format!("{v:.2},,,,,,,,,,"));
        }
    }
    for t in &r.tenants {
        row(["tenant", &t.namespace, &t.pool, "", &t.tenant, "", ""], format!("{:.2},,,,,,,,,,", t.cost_usd));
    }
    for (n, v) in &r.cost_by_namespace_usd {
        row(["namespace", n, "", "", "", "", ""], format!("{v:.2},,,,,,,,,,"));
    }
    for (c, v) in &r.cost_by_class_usd {
        row(["class", "", "", c, "", "", ""], format!("{v:.2},,,,,,,,,,"));
    }
    row(["total", "", "", "", "", "", ""], format!("{:.2},{}", r.total.cost_usd, pool_rest(&r.total)));
    out
}

/// The report as one JSON object.
pub fn json(r: &Report) -> String {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut p = PoolRow { namespace: "n".into(), pool: "p,1".into(), cost_usd: 12.5, ..Default::default() };
        p.cost_by_class_usd.insert("spot".into(), 12.5);
        Report { period: "2026-11".into(), total: p.clone(), pools: vec![p], ..Default::default() }
    }

    #[test]
    fn csv_quotes_fields_and_every_row_has_every_column() {
        let text = csv(&report());
        let columns = text.lines().next().unwrap().split(',').count();
        assert!(text.contains("pool,n,\"p,1\",,,,,12.50,"), "{text}");
        for line in text.lines() {
            let unquoted = line.replace("\"p,1\"", "p");
            assert_eq!(unquoted.split(',').count(), columns, "{line}");
        }
    }

    #[test]
    fn table_and_json_carry_the_totals() {
        let r = report();
        assert!(text(&r).contains("TOTAL"));
        assert!(text(&r).contains("12.50"));
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["total"]["cost_usd"], 12.5);
    }
}
