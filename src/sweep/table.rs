//! The sweep's table: a row per run (its point, its seed, the portfolio's
//! figures, the first swept strategy's), drawn once as cells for the text
//! (stdout) and the HTML page.

use super::{Param, Run};
use serde_json::{json, Value};

/// A run's row: its point, its seed, the portfolio's figures and the first
/// swept strategy's (over every engine that runs it).
pub(super) fn row(params: &[Param], strategy: &str, r: &Run) -> Value {
    let point: serde_json::Map<String, Value> = params
        .iter()
        .zip(&r.point)
        .map(|(p, v)| (p.key(), json!(v.normalize().to_string())))
        .collect();
    let Some(rep) = r.report.as_ref().filter(|_| r.code == Some(0)) else {
        return json!({"params": point, "seed": r.seed, "error": r.error, "metrics": {}});
    };
    let num = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .or(v.as_f64())
    };
    let ours: Vec<&Value> = rep["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["strategy"] == strategy)
        .collect();
    let mean = |f: &dyn Fn(&Value) -> Option<f64>| {
        let xs: Vec<f64> = ours.iter().filter_map(|s| f(s)).collect();
        (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
    };
    let trades: u64 = ours
        .iter()
        .filter_map(|s| s["trades"]["trades"].as_u64())
        .sum();
    let wins: u64 = ours
        .iter()
        .filter_map(|s| s["trades"]["wins"].as_u64())
        .sum();
    let p = &rep["portfolio"];
    json!({
        "params": point,
        "seed": r.seed,
        "metrics": {
            "return": p["return_pct"].as_f64(),
            "pnl": num(&p["pnl"]),
            "drawdown": p["max_drawdown_pct"].as_f64(),
            "fills": p["fills"].as_u64(),
            "trades": trades,
            "sharpe": mean(&|s| s["curve"]["sharpe"].as_f64()),
            "sortino": mean(&|s| s["curve"]["sortino"].as_f64()),
            "profit_factor": mean(&|s| s["trades"]["profit_factor"].as_f64()),
            "win_rate": (trades > 0).then(|| wins as f64 / trades as f64),
            "expectancy": mean(&|s| num(&s["trades"]["expectancy"])),
        },
    })
}

const COLUMNS: [&str; 9] = [
    "return",
    "pnl",
    "drawdown",
    "fills",
    "trades",
    "sharpe",
    "sortino",
    "profit_factor",
    "win_rate",
];

fn cell(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_u64() => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "-".into(),
    }
}

/// The table's header and rows as cells: (the row's cells, or why it
/// failed after its point and seed).
#[allow(clippy::type_complexity)]
fn cells(t: &Value) -> (Vec<String>, Vec<(Vec<String>, Option<String>)>) {
    let params: Vec<&str> = t["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut header = vec!["rank".to_owned()];
    header.extend(params.iter().map(|p| (*p).to_owned()));
    header.push("seed".into());
    header.extend(COLUMNS.iter().map(|c| (*c).to_owned()));
    let rows = t["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut row = vec![r["rank"].to_string()];
            row.extend(
                params
                    .iter()
                    .map(|p| r["params"][p].as_str().unwrap_or("").to_owned()),
            );
            row.push(r["seed"].to_string());
            match r["error"].as_str() {
                Some(e) => (row, Some(e.to_owned())),
                None => {
                    row.extend(COLUMNS.iter().map(|c| cell(&r["metrics"][c])));
                    (row, None)
                }
            }
        })
        .collect();
    (header, rows)
}

/// The table as text (stdout), each column as wide as its widest cell.
pub(super) fn text(t: &Value) -> String {
    let (header, rows) = cells(t);
    let mut width: Vec<usize> = header.iter().map(String::len).collect();
    for (row, _) in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut s = line(&header) + "\n";
    for (row, error) in &rows {
        s.push_str(&line(row));
        if let Some(e) = error {
            s.push_str(&format!("  failed: {e}"));
        }
        s.push('\n');
    }
    s
}

/// The table as a page of its own (no script, no outside resource).
pub(super) fn html(t: &Value) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (header, rows) = cells(t);
    let mut h = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>commodore sweep</title>\
         <style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style>\
         <h1>Sweep of {}</h1><p>{} runs, ranked by {} ({}).</p><table><tr>",
        esc(t["data"].as_str().unwrap_or("")),
        rows.len(),
        esc(t["rank_by"].as_str().unwrap_or("")),
        if t["higher_is_better"] == true {
            "higher first"
        } else {
            "lower first"
        }
    );
    for c in &header {
        h.push_str(&format!("<th>{}</th>", esc(c)));
    }
    h.push_str("</tr>\n");
    for (row, error) in &rows {
        h.push_str("<tr>");
        for c in row {
            h.push_str(&format!("<td>{}</td>", esc(c)));
        }
        if let Some(e) = error {
            let span = header.len() - row.len();
            h.push_str(&format!("<td colspan=\"{span}\">failed: {}</td>", esc(e)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}
