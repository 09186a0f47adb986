//! How a replay's report is shown: the summary printed at the end, and the
//! report written as JSON and as an HTML page: the figures a trader judges a
//! result by (per portfolio, engine and strategy), charts drawn by
//! `charts` (equity, drawdown, trade marks), the round trips, the positions
//! still open, and the configuration that ran.
//!
//! Invariant: rendering reads the report's JSON only (nothing of the run), and
//! every text from it is escaped before it goes into the page.

use super::charts;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A round trip's columns on the page that are its text as it is: (head,
/// key); its PnL and hold follow.
const TRIP_COLUMNS: [(&str, &str); 9] = [
    ("engine", "engine"),
    ("strategy", "strategy"),
    ("instrument", "instrument"),
    ("side", "side"),
    ("qty", "qty"),
    ("opened", "opened"),
    ("closed", "closed"),
    ("entry", "entry_price"),
    ("exit", "exit_price"),
];

/// Round trips listed in the page (the JSON has them all, up to its own
/// bound); the rest are counted.
const PAGE_TRIPS: usize = 500;

/// Where the report goes.
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
}

/// The summary printed at the end.
pub fn summary(r: &Value) -> String {
    let p = &r["portfolio"];
    let mut s = format!(
        "replay {} .. {} ({} bars)\nportfolio: capital {} -> equity {}  pnl {} ({:+.2}%)  max drawdown {:.2}%  fills {}\n",
        r["from"].as_str().unwrap_or("?"),
        r["to"].as_str().unwrap_or("?"),
        r["bars"],
        p["capital"].as_str().unwrap_or("?"),
        p["final_equity"].as_str().unwrap_or("?"),
        p["pnl"].as_str().unwrap_or("?"),
        p["return_pct"].as_f64().unwrap_or(0.0),
        p["max_drawdown_pct"].as_f64().unwrap_or(0.0),
        p["fills"],
    );
    let m = &p["metrics"];
    s.push_str(&format!(
        "  cagr {}  sharpe {}  sortino {}  calmar {}  trades {}  win rate {}  profit factor {}  exposure {}\n",
        pct(&m["cagr_pct"]),
        num(&m["sharpe"]),
        num(&m["sortino"]),
        num(&m["calmar"]),
        m["trades"],
        share(&m["win_rate"]),
        num(&m["profit_factor"]),
        pct(&m["exposure_pct"]),
    ));
    let open = r["open_positions"].as_array().map_or(0, Vec::len);
    if open > 0 {
        s.push_str(&format!(
            "open at the end: {open} position(s), marked at the last close (their PnL is unrealized):\n"
        ));
        for o in r["open_positions"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "  {} {} {} {} @ {} (last {}, unrealized {})\n",
                o["engine"].as_str().unwrap_or(""),
                o["strategy"].as_str().unwrap_or(""),
                o["instrument"].as_str().unwrap_or(""),
                o["qty"].as_str().unwrap_or(""),
                o["avg_price"].as_str().unwrap_or(""),
                o["last_price"].as_str().unwrap_or(""),
                o["unrealized_pnl"].as_str().unwrap_or(""),
            ));
        }
    }
    if r["journal"]["fsync"] == false {
        s.push_str("journal: written without fsync (a replay's journal is read for this report, never recovered from)\n");
    }
    for st in r["strategies"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<4} {:<9} fills {:>5}  contracts {:>6}  pnl {:>12}  position {}\n",
            st["engine"].as_str().unwrap_or(""),
            st["strategy"].as_str().unwrap_or(""),
            st["fills"],
            st["contracts"].as_str().unwrap_or(""),
            st["pnl"].as_str().unwrap_or(""),
            st["position"].as_str().unwrap_or(""),
        ));
    }
    s
}

/// Writes `replay-<stamp>.json` and `replay-<stamp>.html` into `dir`.
pub fn write(report: &Value, dir: &Path, stamp: &str) -> Result<Written, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("reports: {}: {e}", dir.display()))?;
    let json_path = dir.join(format!("replay-{stamp}.json"));
    let html_path = dir.join(format!("replay-{stamp}.html"));
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    std::fs::write(&html_path, html(report))
        .map_err(|e| format!("{}: {e}", html_path.display()))?;
    Ok(Written {
        json: json_path,
        html: html_path,
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with up to two decimals, or `-` for none.
fn num(v: &Value) -> String {
    v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}"))
}

/// A percentage (the report's percent figures), or `-`.
fn pct(v: &Value) -> String {
    v.as_f64().map_or("-".to_owned(), |x| format!("{x:.2}%"))
}

/// A share (0..1) as a percentage, or `-`.
fn share(v: &Value) -> String {
    v.as_f64()
        .map_or("-".to_owned(), |x| format!("{:.1}%", x * 100.0))
}

/// A duration in seconds as days, hours and minutes, or `-`.
fn span(v: &Value) -> String {
    let Some(s) = v.as_u64() else {
        return "-".to_owned();
    };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn text(v: &Value) -> String {
    escape(v.as_str().unwrap_or(""))
}

/// The escaped text of `keys` of `v`.
fn texts(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| text(&v[*k])).collect()
}

/// A table: its heads, then rows of cells already escaped.
fn table(heads: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut t = String::from("<table><tr>");
    for h in heads {
        let _ = write!(t, "<th>{h}</th>");
    }
    t.push_str("</tr>\n");
    for row in rows {
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{cell}</td>");
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</table>\n");
    t
}

/// The metrics' columns, in order.
const METRICS: [(&str, &str); 14] = [
    ("total_return_pct", "return"),
    ("cagr_pct", "CAGR"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("calmar", "Calmar"),
    ("max_drawdown_pct", "max DD"),
    ("max_drawdown_duration_s", "DD length"),
    ("win_rate", "win rate"),
    ("profit_factor", "profit factor"),
    ("expectancy", "expectancy (USD)"),
    ("trades", "trades"),
    ("avg_hold_s", "avg hold"),
    ("exposure_pct", "exposure"),
    ("fees", "fees (USD)"),
];

fn metric_cell(key: &str, m: &Value) -> String {
    let v = &m[key];
    match key {
        "total_return_pct" | "cagr_pct" | "max_drawdown_pct" | "exposure_pct" => pct(v),
        "max_drawdown_duration_s" | "avg_hold_s" => span(v),
        "win_rate" => share(v),
        "trades" => v.to_string(),
        "expectancy" | "fees" => v.as_str().map_or("-".to_owned(), escape),
        _ => num(v),
    }
}

/// A table of metrics, one row per `(label, metrics)`.
fn metrics_table(rows: &[(String, &Value)]) -> String {
    let mut t = String::from("<table class=\"metrics\"><tr><th></th>");
    for (_, h) in METRICS {
        let _ = write!(t, "<th>{h}</th>");
    }
    t.push_str("</tr>\n");
    for (label, m) in rows {
        let _ = write!(t, "<tr><th>{}</th>", escape(label));
        for (k, _) in METRICS {
            let _ = write!(t, "<td>{}</td>", metric_cell(k, m));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</table>\n");
    t
}

/// A chart on the page; one that could not be drawn says why.
fn figure(title: &str, chart: charts::Drawn) -> String {
    match chart {
        None => String::new(),
        Some(Ok(svg)) => format!("<figure>{svg}</figure>\n"),
        Some(Err(e)) => format!(
            "<p>{}: the chart could not be drawn ({})</p>\n",
            escape(title),
            escape(&e)
        ),
    }
}

/// The equity and drawdown charts of one curve.
fn charts_of(title: &str, curve: &Value, capital: Option<f64>, trips: &[&Value]) -> String {
    let points = charts::points(curve);
    let marks = charts::marks(trips);
    let (equity, drawdown) = (
        format!("{title}: equity (USD)"),
        format!("{title}: drawdown"),
    );
    let mut out = figure(&equity, charts::equity(&equity, &points, capital, &marks));
    out.push_str(&figure(
        &drawdown,
        charts::drawdown_chart(&drawdown, &points),
    ));
    out
}

fn money_of(v: &Value) -> Option<f64> {
    v.as_str()?.parse().ok()
}

fn html(r: &Value) -> String {
    let p = &r["portfolio"];
    let engines: Vec<&Value> = r["engines"].as_array().into_iter().flatten().collect();
    let strategies: Vec<&Value> = r["strategies"].as_array().into_iter().flatten().collect();
    let trips: Vec<&Value> = r["round_trips"].as_array().into_iter().flatten().collect();
    // The page lists the trips by close time across the engines (the JSON
    // has them engine by engine), so a busy engine does not hide the others.
    let mut by_close = trips.clone();
    by_close.sort_by(|a, b| a["closed"].as_str().cmp(&b["closed"].as_str()));
    let open: Vec<&Value> = r["open_positions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut page = String::new();

    // Positions still open: said first, they change how the PnL reads.
    if !open.is_empty() {
        page.push_str("<div class=\"warn\"><b>Positions still open at the end</b>: marked at the last close, their PnL is unrealized and included in the figures.");
        page.push_str(&table(
            &[
                "engine",
                "strategy",
                "instrument",
                "qty",
                "avg price",
                "last",
                "unrealized (USD)",
                "opened",
            ],
            open.iter().map(|o| {
                texts(
                    o,
                    &[
                        "engine",
                        "strategy",
                        "instrument",
                        "qty",
                        "avg_price",
                        "last_price",
                        "unrealized_pnl",
                        "opened",
                    ],
                )
            }),
        ));
        page.push_str("</div>\n");
    }

    let _ = write!(
        page,
        "<h2>Portfolio</h2>\n<p>Capital {} USD, final equity {} USD, PnL {} USD, {} fills.</p>\n",
        text(&p["capital"]),
        text(&p["final_equity"]),
        text(&p["pnl"]),
        p["fills"],
    );
    page.push_str(&metrics_table(&[("portfolio".to_owned(), &p["metrics"])]));
    page.push_str(&charts_of(
        "Portfolio",
        &p["equity_curve"],
        money_of(&p["capital"]),
        &[],
    ));

    page.push_str("<h2>Engines</h2>\n");
    let rows: Vec<(String, &Value)> = engines
        .iter()
        .map(|e| (e["id"].as_str().unwrap_or("").to_owned(), &e["metrics"]))
        .collect();
    page.push_str(&metrics_table(&rows));
    for e in &engines {
        let id = e["id"].as_str().unwrap_or("");
        let own: Vec<&Value> = trips
            .iter()
            .copied()
            .filter(|t| t["engine"] == id)
            .collect();
        page.push_str(&charts_of(
            &format!(
                "{id} (pnl {} USD, max drawdown {})",
                e["pnl"].as_str().unwrap_or(""),
                pct(&e["max_drawdown_pct"])
            ),
            &e["equity_curve"],
            money_of(&e["capital"]),
            &own,
        ));
    }

    page.push_str("<h2>Strategies</h2>\n");
    let rows: Vec<(String, &Value)> = strategies
        .iter()
        .map(|s| {
            let label = format!(
                "{} {}",
                s["engine"].as_str().unwrap_or(""),
                s["strategy"].as_str().unwrap_or("")
            );
            (label, &s["metrics"])
        })
        .collect();
    page.push_str(&metrics_table(&rows));
    page.push_str(&table(
        &[
            "engine",
            "strategy",
            "fills",
            "contracts",
            "PnL (USD)",
            "realized (USD)",
            "position",
        ],
        strategies.iter().map(|st| {
            let mut row = texts(st, &["engine", "strategy"]);
            row.push(st["fills"].to_string());
            row.extend(texts(st, &["contracts", "pnl", "realized_pnl", "position"]));
            row
        }),
    ));
    for st in strategies.iter().filter(|s| s["equity_curve"].is_array()) {
        let (engine, name) = (
            st["engine"].as_str().unwrap_or(""),
            st["strategy"].as_str().unwrap_or(""),
        );
        let own: Vec<&Value> = trips
            .iter()
            .copied()
            .filter(|t| t["engine"] == engine && t["strategy"] == name)
            .collect();
        let points = charts::points(&st["equity_curve"]);
        let title = format!("{engine} {name}: equity (USD) on its share of the capital");
        let chart = charts::equity(
            &title,
            &points,
            money_of(&st["capital"]),
            &charts::marks(&own),
        );
        page.push_str(&figure(&title, chart));
    }

    let omitted = r["round_trips_omitted"].as_u64().unwrap_or(0) as usize
        + trips.len().saturating_sub(PAGE_TRIPS);
    let _ = write!(
        page,
        "<h2>Round trips</h2>\n<p>{} round trips{}; PnL before commissions (the fills' commissions are in each strategy's fees).</p>\n",
        trips.len() + r["round_trips_omitted"].as_u64().unwrap_or(0) as usize,
        if omitted > 0 { format!(", the first {} to close listed", trips.len().min(PAGE_TRIPS)) } else { String::new() },
    );
    let heads: Vec<&str> = TRIP_COLUMNS
        .iter()
        .map(|(h, _)| *h)
        .chain(["PnL (USD)", "held"])
        .collect();
    let keys: Vec<&str> = TRIP_COLUMNS.iter().map(|(_, k)| *k).collect();
    page.push_str(&table(
        &heads,
        by_close.iter().take(PAGE_TRIPS).map(|t| {
            let mut row = texts(t, &keys);
            let pnl = text(&t["pnl"]);
            row.push(match pnl.starts_with('-') {
                true => format!("<span class=\"loss\">{pnl}</span>"),
                false => pnl,
            });
            row.push(span(&t["hold_s"]));
            row
        }),
    ));

    let _ = write!(
        page,
        "<h2>Configuration</h2>\n<p>As it ran, resolved, secrets redacted.</p>\n<pre>{}</pre>\n",
        text(&r["config"])
    );

    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>commodore replay</title>
<style>
body{{font-family:sans-serif;margin:2em;max-width:72em;color:#1f2328}}
table{{border-collapse:collapse;margin:.6em 0}}td,th{{border:1px solid #d0d7de;padding:.2em .6em;text-align:right;font-size:.9em}}
th{{background:#f6f8fa}}.loss{{color:#cf222e}}figure{{margin:.8em 0}}
.warn{{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;margin:1em 0}}
pre{{background:#f6f8fa;padding:1em;overflow:auto;font-size:.85em}}
</style>
</head><body>
<h1>commodore replay</h1>
<p>{data}: {from} to {to}, {bars} bars.{fsync}</p>
{page}</body></html>
"#,
        data = text(&r["data"]),
        from = escape(r["from"].as_str().unwrap_or("?")),
        to = escape(r["to"].as_str().unwrap_or("?")),
        bars = r["bars"],
        fsync = if r["journal"]["fsync"] == false {
            " The replay's journal was written without fsync: it is read for this report, never recovered from."
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_text_from_the_report_is_escaped_and_trips_are_listed_by_close() {
        let evil = "<script>alert(1)</script>";
        let curve = json!([
            {"at": "2026-01-05T14:00:00Z", "equity": "100"},
            {"at": "2026-01-05T15:00:00Z", "equity": "101"}
        ]);
        let trip = |engine: &str, closed: &str| {
            json!({"engine": engine, "strategy": evil, "instrument": evil, "side": "long",
                   "qty": "1", "opened": "2026-01-05T14:00:00Z", "closed": closed,
                   "entry_price": "1", "exit_price": "2", "pnl": "-5.00", "hold_s": 60})
        };
        let report = json!({
            "data": evil, "from": evil, "to": evil, "bars": 2,
            "journal": {"fsync": false},
            "portfolio": {"capital": "100", "final_equity": "101", "pnl": "1", "fills": 2,
                          "metrics": {"expectancy": evil, "fees": evil}, "equity_curve": curve},
            "engines": [{"id": evil, "pnl": "1", "capital": "100", "metrics": {}, "equity_curve": curve}],
            "strategies": [{"engine": evil, "strategy": evil, "contracts": evil, "pnl": evil,
                            "realized_pnl": evil, "position": evil, "capital": "50",
                            "metrics": {}, "equity_curve": curve}],
            "open_positions": [{"engine": evil, "strategy": evil, "instrument": evil, "qty": evil,
                                "avg_price": evil, "last_price": evil, "unrealized_pnl": evil,
                                "opened": evil}],
            // KC's trip closed later, listed after CC's.
            "round_trips": [trip("KC", "2026-01-05T15:30:00Z"), trip("CC", "2026-01-05T15:10:00Z")],
            "round_trips_omitted": 0,
            "config": format!("[[engines]]\nid = \"{evil}\""),
        });
        let page = html(&report);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Positions still open at the end"));
        let (cc, kc) = (
            page.find("<td>CC</td>").unwrap(),
            page.find("<td>KC</td>").unwrap(),
        );
        assert!(cc < kc, "listed by close time");
        assert!(page.contains("<span class=\"loss\">-5.00</span>"));
        // A chart that cannot be drawn says so, escaped.
        assert_eq!(
            figure(evil, Some(Err("bad <range>".into()))),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;: the chart could not be drawn (bad &lt;range&gt;)</p>\n"
        );
    }
}
