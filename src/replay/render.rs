//! How a replay's report is shown: the summary printed at the end, and the
//! report written as JSON and as an HTML page with SVG equity curves.
//!
//! Invariant: rendering reads the report's JSON only (nothing of the run), and
//! every text from it is escaped before it goes into the page.

use serde_json::Value;
use std::path::{Path, PathBuf};

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

/// An SVG line chart of one equity curve.
fn svg(title: &str, curve: &Value) -> String {
    let points: Vec<f64> = curve
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["equity"].as_str()?.parse().ok())
        .collect();
    let (w, h, pad) = (760.0, 220.0, 40.0);
    if points.len() < 2 {
        return format!("<p>{}: not enough points to plot</p>", escape(title));
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = (w - 2.0 * pad) / (points.len() - 1) as f64;
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                pad + i as f64 * step,
                h - pad - (v - lo) / span * (h - 2.0 * pad)
            )
        })
        .collect();
    format!(
        r##"<figure><figcaption>{title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<rect x="0" y="0" width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/>
<text x="4" y="{top}" font-size="11">{hi:.2}</text><text x="4" y="{bottom}" font-size="11">{lo:.2}</text>
<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>
</svg></figure>"##,
        title = escape(title),
        top = pad - 6.0,
        bottom = h - pad + 14.0,
        points = path.join(" "),
    )
}

fn html(r: &Value) -> String {
    let p = &r["portfolio"];
    let mut rows = String::new();
    for st in r["strategies"].as_array().into_iter().flatten() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(st["engine"].as_str().unwrap_or("")),
            escape(st["strategy"].as_str().unwrap_or("")),
            st["fills"],
            escape(st["contracts"].as_str().unwrap_or("")),
            escape(st["pnl"].as_str().unwrap_or("")),
            escape(st["realized_pnl"].as_str().unwrap_or("")),
            escape(st["position"].as_str().unwrap_or("")),
        ));
    }
    let mut charts = svg("Portfolio equity (USD)", &p["equity_curve"]);
    for e in r["engines"].as_array().into_iter().flatten() {
        charts.push_str(&svg(
            &format!(
                "{} equity (USD): pnl {}, max drawdown {}%",
                e["id"].as_str().unwrap_or(""),
                e["pnl"].as_str().unwrap_or(""),
                e["max_drawdown_pct"]
            ),
            &e["equity_curve"],
        ));
    }
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>commodore replay</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}</style>
</head><body>
<h1>commodore replay</h1>
<p>{data}: {from} to {to}, {bars} bars.</p>
<h2>Portfolio</h2>
<p>Capital {capital} USD, final equity {equity} USD, PnL {pnl} USD ({ret:+.2}%), max drawdown {dd:.2}%, {fills} fills.</p>
{charts}
<h2>Strategies</h2>
<table><tr><th>engine</th><th>strategy</th><th>fills</th><th>contracts</th><th>PnL (USD)</th><th>realized (USD)</th><th>position</th></tr>
{rows}</table>
</body></html>
"#,
        data = escape(r["data"].as_str().unwrap_or("")),
        from = escape(r["from"].as_str().unwrap_or("?")),
        to = escape(r["to"].as_str().unwrap_or("?")),
        bars = r["bars"],
        capital = escape(p["capital"].as_str().unwrap_or("")),
        equity = escape(p["final_equity"].as_str().unwrap_or("")),
        pnl = escape(p["pnl"].as_str().unwrap_or("")),
        ret = p["return_pct"].as_f64().unwrap_or(0.0),
        dd = p["max_drawdown_pct"].as_f64().unwrap_or(0.0),
        fills = p["fills"],
    )
}
