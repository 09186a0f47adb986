//! `commodore sweep` on the real binary: a grid of a strategy's parameter
//! over the bundled week's coffee bars, each point its own deterministic
//! replay, one table ranked by a metric (JSON and HTML), the same table on a
//! second run; and every argument a user can get wrong, refused before
//! anything runs, saying what to do.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The bundled coffee bars as a replay file (each bar under its month).
fn kc_csv(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/data");
    let text = std::fs::read_to_string(root.join("KC_bars.csv")).unwrap();
    let mut rows = vec!["at,symbol,open,high,low,close,volume".to_owned()];
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let (at, rest) = line.split_once(',').unwrap();
        let (prices, month) = rest.rsplit_once(',').unwrap();
        rows.push(format!("{at},{month},{prices}"));
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("kc.csv");
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    path
}

/// KC alone, with news and momentum.
fn kc_config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("kc.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[[engines]]\nid = \"KC\"\n[[engines.strategies]]\nname = \"news\"\nweight = 0.5\n\
             [[engines.strategies]]\nname = \"momentum\"\nweight = 0.5\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    path
}

fn sweep(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    commodore()
        .arg("sweep")
        .arg("--config")
        .arg(kc_config(dir))
        .arg("--data")
        .arg(kc_csv(dir))
        .arg("--out")
        .arg(dir.join(out))
        .args(extra)
        .output()
        .unwrap()
}

fn table(dir: &Path, out: &str) -> Value {
    let file = std::fs::read_dir(dir.join(out))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON table");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn a_grid_is_replayed_point_by_point_and_ranked_the_same_every_time() {
    let dir = temp_dir("sweep-grid");
    let args = [
        "--param",
        "momentum.window=10..20:5",
        "--param",
        "momentum.trigger=0.002,0.004",
        "--rank",
        "pnl",
        "--jobs",
        "2",
    ];
    let out = sweep(&dir, "one", &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("6 replays: 6 ran, 0 failed"), "{stdout}");
    let t = table(&dir, "one");
    assert_eq!(
        t["params"],
        serde_json::json!(["momentum.window", "momentum.trigger"])
    );
    assert_eq!(t["rank_by"], "pnl");
    let runs = t["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    // Every point once, ranked by PnL, highest first.
    let mut points: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r["params"]["momentum.window"].as_str().unwrap().to_owned(),
                r["params"]["momentum.trigger"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    points.sort();
    assert_eq!(points.len(), 6);
    points.dedup();
    assert_eq!(points.len(), 6, "{points:?}");
    let pnl: Vec<f64> = runs
        .iter()
        .map(|r| r["metrics"]["pnl"].as_f64().unwrap())
        .collect();
    assert!(pnl.windows(2).all(|w| w[0] >= w[1]), "{pnl:?}");
    // The parameters reached the replays: not every point trades alike.
    let mut distinct = pnl.clone();
    distinct.dedup();
    assert!(distinct.len() > 1, "{pnl:?}");
    assert_eq!(runs[0]["rank"], 1);
    let html = std::fs::read_dir(dir.join("one"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "html"))
        .unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<th>momentum.window</th>") && html.contains("ranked by pnl"));

    // Deterministic: a second sweep, one replay at a time, ranks the same.
    let again = sweep(&dir, "two", &[&args[..6], &["--jobs", "1"]].concat());
    assert!(again.status.success());
    assert_eq!(table(&dir, "two")["runs"], t["runs"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn arguments_a_user_gets_wrong_are_refused_before_anything_runs() {
    let dir = temp_dir("sweep-errors");
    for (param, says) in [
        (
            "momentum.windw=10..20:5",
            "momentum takes no parameter \"windw\"; it takes window, trigger, cooldown",
        ),
        (
            "turtle.window=10",
            "no engine runs a strategy named \"turtle\"; the strategies are news, momentum",
        ),
        (
            "momentum.window=1..3:1",
            "at momentum.window=1: engines.strategies.params: engine \"KC\": strategy \"momentum\": momentum's window is 1",
        ),
        ("momentum.window=10..20", "a range needs a step"),
    ] {
        let out = sweep(&dir, "out", &["--param", param]);
        assert_eq!(out.status.code(), Some(2), "{param}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{param}: {err}");
    }
    let out = sweep(
        &dir,
        "out",
        &["--param", "momentum.window=10", "--rank", "luck"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rank by return, pnl, drawdown"));
    let out = sweep(
        &dir,
        "out",
        &["--param", "momentum.window=10", "--seeds", "0..3"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seeds without --faults"));
    let out = sweep(
        &dir,
        "out",
        &[
            "--param",
            "momentum.window=2..500:1",
            "--param",
            "momentum.cooldown=0..99:1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 10000"));
    assert!(!dir.join("out").exists(), "nothing ran");
    let _ = std::fs::remove_dir_all(&dir);
}
