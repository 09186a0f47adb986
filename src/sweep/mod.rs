//! `commodore sweep --data FILE --param momentum.window=10..40:5 [--param …]
//! [--seeds A..B --faults N] [--rank METRIC]`: the replays of a grid of
//! strategy parameters (each its own process, its own data dir, a
//! deterministic replay), as many at once as there are cores, and one
//! comparison table ranked by a metric, written as JSON and HTML.
//!
//! A parameter is `<strategy>.<name>`: a parameter of the strategy's kind
//! (`window`), one of its stops (`stop_loss`, `take_profit`,
//! `trailing_stop`) or its `weight`, set in every engine that runs a
//! strategy of that name. Values are `A..B:STEP` (both ends included),
//! `A,B,C` or one value, read as decimals (no binary drift in `0.1` steps).
//!
//! Invariants: every grid point's configuration is checked before anything
//! runs (the first bad one is the error, naming the point); a run's result
//! is its replay's alone, so the table is the same whatever the order the
//! runs finished in (ties keep the grid's order); at most [`MAX_RUNS`]
//! replays.

use crate::config::{Config, Engine};
use crate::simulate::{parse_seeds, replay_report};
use commodore_actors::clock::Clock;
use commodore_actors::model::Kind;
use rust_decimal::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use table::{html, row, text};

mod table;

/// The most replays one sweep runs.
pub const MAX_RUNS: usize = 10_000;
/// The most values one parameter takes.
pub const MAX_VALUES: usize = 1_000;

/// What `commodore sweep` was asked.
pub struct Args {
    pub config: Vec<PathBuf>,
    pub data: PathBuf,
    pub news: Option<PathBuf>,
    pub params: Vec<String>,
    pub seeds: Option<String>,
    pub faults: u32,
    pub rank: String,
    pub out: Option<PathBuf>,
    pub jobs: Option<usize>,
}

/// The metrics a table is ranked by: name, higher is better, what it is.
pub const METRICS: [(&str, bool, &str); 8] = [
    ("return", true, "the portfolio's return %"),
    ("pnl", true, "the portfolio's PnL"),
    ("drawdown", false, "the portfolio's max drawdown %"),
    ("sharpe", true, "the first swept strategy's Sharpe ratio"),
    ("sortino", true, "its Sortino ratio"),
    ("profit_factor", true, "its profit factor"),
    ("win_rate", true, "its win rate"),
    ("expectancy", true, "its expectancy per trade"),
];

/// One swept parameter: `strategy.name` and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub strategy: String,
    pub name: String,
    pub values: Vec<Decimal>,
}

impl Param {
    fn key(&self) -> String {
        format!("{}.{}", self.strategy, self.name)
    }
}

/// `strategy.name=SPEC`.
pub fn parse_param(s: &str) -> Result<Param, String> {
    let bad = |why: &str| format!("--param {s:?}: {why}");
    let (key, spec) = s.split_once('=').ok_or_else(|| {
        bad("give <strategy>.<parameter>=<values>, e.g. momentum.window=10..40:5")
    })?;
    let (strategy, name) = key
        .split_once('.')
        .ok_or_else(|| bad("name it <strategy>.<parameter>, e.g. momentum.window"))?;
    let values = parse_values(spec.trim()).map_err(|why| bad(&why))?;
    Ok(Param {
        strategy: strategy.trim().to_owned(),
        name: name.trim().to_owned(),
        values,
    })
}

/// `A..B:STEP` (both ends included), `A,B,C` or `A`.
fn parse_values(spec: &str) -> Result<Vec<Decimal>, String> {
    let num = |t: &str| Decimal::from_str(t.trim()).map_err(|_| format!("{t:?} is not a number"));
    let values = if let Some((range, step)) = spec.split_once(':') {
        let (a, b) = range
            .split_once("..")
            .ok_or("a step needs a range: A..B:STEP")?;
        let (a, b, step) = (num(a)?, num(b)?, num(step)?);
        if step <= Decimal::ZERO || b < a {
            return Err("give A..B:STEP with A at most B and STEP above 0".into());
        }
        let too_many = || format!("at most {MAX_VALUES} values");
        let n = b
            .checked_sub(a)
            .and_then(|span| span.checked_div(step))
            .and_then(|n| n.floor().to_usize())
            .ok_or_else(too_many)?;
        if n >= MAX_VALUES {
            return Err(too_many());
        }
        (0..=n)
            .map(|i| {
                step.checked_mul(Decimal::from(i))
                    .and_then(|d| a.checked_add(d))
                    .ok_or_else(too_many)
            })
            .collect::<Result<Vec<_>, _>>()?
    } else if spec.contains("..") {
        return Err("a range needs a step: A..B:STEP".into());
    } else {
        spec.split(',').map(num).collect::<Result<Vec<_>, _>>()?
    };
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(format!("1 to {MAX_VALUES} values"));
    }
    Ok(values)
}

/// The engines with `params` set to `point` (one value per parameter),
/// checked: an error names the point and what to do.
pub fn engines_at(
    base: &[Engine],
    params: &[Param],
    point: &[Decimal],
) -> Result<Vec<Engine>, String> {
    let mut engines = base.to_vec();
    for (p, v) in params.iter().zip(point) {
        let mut found = false;
        for e in &mut engines {
            for s in e.strategies.0.iter_mut().filter(|s| s.name == p.strategy) {
                found = true;
                let kind = Kind::parse(if s.kind.is_empty() { &s.name } else { &s.kind })?;
                let f = v.to_f64().unwrap_or(f64::NAN);
                match p.name.as_str() {
                    "weight" => s.weight = *v,
                    "stop_loss" => s.stop_loss = Some(f),
                    "take_profit" => s.take_profit = Some(f),
                    "trailing_stop" => s.trailing_stop = Some(f),
                    name if kind.params().iter().any(|k| k.name == name) => {
                        s.params.insert(name.to_owned(), f);
                    }
                    name => {
                        let names: Vec<&str> = kind.params().iter().map(|k| k.name).collect();
                        return Err(format!(
                            "--param {}: {kind} takes no parameter {name:?}; it takes {}, and weight, stop_loss, take_profit, trailing_stop",
                            p.key(),
                            names.join(", ")
                        ));
                    }
                }
            }
        }
        if !found {
            let names: Vec<String> = base
                .iter()
                .flat_map(|e| e.strategies.0.iter().map(|s| s.name.clone()))
                .collect();
            return Err(format!(
                "--param {}: no engine runs a strategy named {:?}; the strategies are {}",
                p.key(),
                p.strategy,
                names.join(", ")
            ));
        }
    }
    for e in &engines {
        e.strategies.specs(&e.id).map_err(|(key, what)| {
            let at: Vec<String> = params
                .iter()
                .zip(point)
                .map(|(p, v)| format!("{}={v}", p.key()))
                .collect();
            format!("at {}: {key}: {what}", at.join(" "))
        })?;
    }
    Ok(engines)
}

/// Every point of the grid, the first parameter slowest.
fn grid(params: &[Param]) -> Vec<Vec<Decimal>> {
    let mut points: Vec<Vec<Decimal>> = vec![vec![]];
    for p in params {
        points = points
            .into_iter()
            .flat_map(|pt| {
                p.values.iter().map(move |v| {
                    let mut next = pt.clone();
                    next.push(*v);
                    next
                })
            })
            .collect();
    }
    points
}

/// One run of the grid, as it ended.
pub(crate) struct Run {
    pub(crate) index: usize,
    pub(crate) point: Vec<Decimal>,
    pub(crate) seed: u64,
    pub(crate) code: Option<i32>,
    pub(crate) report: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) dir: PathBuf,
}

/// Runs the sweep; returns the exit status (0 every run replayed, 1 one did
/// not, 2 the arguments are wrong).
pub fn run(cfg: &Config, args: &Args) -> i32 {
    match prepare(cfg, args) {
        Ok(plan) => execute(cfg, args, plan),
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

struct Plan {
    params: Vec<Param>,
    /// Each point, its engines (checked), and each seed.
    points: Vec<(Vec<Decimal>, Vec<Engine>)>,
    seeds: std::ops::Range<u64>,
    rank: (&'static str, bool),
}

fn prepare(cfg: &Config, args: &Args) -> Result<Plan, String> {
    if args.params.is_empty() {
        return Err("give at least one --param <strategy>.<parameter>=<values>".into());
    }
    let params = args
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, p) in params.iter().enumerate() {
        if params[..i].iter().any(|q| q.key() == p.key()) {
            return Err(format!("--param {} is given twice", p.key()));
        }
    }
    let seeds = match &args.seeds {
        Some(s) => parse_seeds(s)?,
        None => 0..1,
    };
    if seeds.end - seeds.start > 1 && args.faults == 0 {
        return Err(
            "--seeds without --faults replays the same run again: give --faults N, or no --seeds"
                .into(),
        );
    }
    let rank = METRICS
        .iter()
        .find(|m| m.0 == args.rank)
        .map(|m| (m.0, m.1))
        .ok_or_else(|| {
            let names: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
            format!("--rank {:?}: rank by {}", args.rank, names.join(", "))
        })?;
    // Counted before the grid is built: three parameters of 1,000 values
    // are a billion points.
    let runs = params.iter().try_fold(seeds.end - seeds.start, |n, p| {
        n.checked_mul(p.values.len() as u64)
    });
    if runs.is_none_or(|n| n > MAX_RUNS as u64) {
        let said = runs.map_or("more than 2^64".to_owned(), |n| n.to_string());
        return Err(format!(
            "the grid has {said} runs, at most {MAX_RUNS}: take fewer values or seeds"
        ));
    }
    let grid = grid(&params);
    let points = grid
        .into_iter()
        .map(|pt| engines_at(&cfg.engines, &params, &pt).map(|e| (pt, e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        params,
        points,
        seeds,
        rank,
    })
}

fn execute(cfg: &Config, args: &Args, plan: Plan) -> i32 {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("error: cannot find this program to run its replays");
        return 2;
    };
    let wall = Clock::wall();
    let stamp = chrono::DateTime::from_timestamp_millis(wall.now_ms() as i64)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let work = std::env::temp_dir().join(format!(
        "commodore-sweep-{}-{}",
        std::process::id(),
        wall.now_ms()
    ));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("reports"));
    if let Err(e) = std::fs::create_dir_all(&work).and(std::fs::create_dir_all(&out)) {
        eprintln!("error: {e}");
        return 2;
    }
    let mut todo = Vec::new();
    for (i, (pt, engines)) in plan.points.iter().enumerate() {
        for seed in plan.seeds.clone() {
            todo.push((todo.len(), i, pt.clone(), engines.clone(), seed));
        }
    }
    let total = todo.len();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    eprintln!("sweep: {total} replays, {jobs} at once");
    let queue = Arc::new(Mutex::new(todo.into_iter()));
    let done = Arc::new(Mutex::new(Vec::<Run>::new()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((index, _, point, engines, seed)) = next else {
                    return;
                };
                let r = one(&exe, &work, args, index, point, &engines, seed);
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                d.push(r);
                if d.len().is_multiple_of(10) || d.len() == total {
                    eprintln!("sweep: {}/{total}", d.len());
                }
            });
        }
    });
    let mut runs = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
    runs.sort_by_key(|r| r.index);
    let first = &plan.params[0].strategy;
    let mut rows: Vec<Value> = runs.iter().map(|r| row(&plan.params, first, r)).collect();
    let (metric, higher) = plan.rank;
    // Failed runs last; then by the metric (ties: the grid's order).
    rows.sort_by(|a, b| {
        let key = |v: &Value| v["metrics"][metric].as_f64();
        match (key(a), key(b)) {
            (Some(x), Some(y)) if higher => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r["rank"] = json!(i + 1);
    }
    let failed: Vec<&Run> = runs.iter().filter(|r| r.code != Some(0)).collect();
    let table = json!({
        "data": args.data.display().to_string(),
        "params": plan.params.iter().map(Param::key).collect::<Vec<_>>(),
        "rank_by": metric,
        "higher_is_better": higher,
        "runs": rows,
    });
    let json_path = out.join(format!("sweep-{stamp}.json"));
    let html_path = out.join(format!("sweep-{stamp}.html"));
    let written = std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&table).unwrap_or_default() + "\n",
    )
    .and_then(|()| std::fs::write(&html_path, html(&table)));
    if let Err(e) = written {
        eprintln!("error: {}: {e}", out.display());
        return 1;
    }
    print!("{}", text(&table));
    println!(
        "{total} replays: {} ran, {} failed; table: {} and {}",
        total - failed.len(),
        failed.len(),
        json_path.display(),
        html_path.display()
    );
    for r in &failed {
        println!(
            "run {} failed: {}\n  its files: {}",
            r.index + 1,
            r.error.as_deref().unwrap_or("?"),
            r.dir.display()
        );
    }
    if failed.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
        0
    } else {
        1
    }
}

/// One replay in a process and a data dir of its own, its engines written
/// into its own config file (after the sweep's: an array replaces).
fn one(
    exe: &Path,
    work: &Path,
    args: &Args,
    index: usize,
    point: Vec<Decimal>,
    engines: &[Engine],
    seed: u64,
) -> Run {
    let dir = work.join(format!("run-{index}"));
    let mut r = Run {
        index,
        point,
        seed,
        code: None,
        report: None,
        error: None,
        dir: dir.clone(),
    };
    #[derive(serde::Serialize)]
    struct Own<'a> {
        data_dir: String,
        engines: &'a [Engine],
    }
    let own = dir.join("run.toml");
    let text = toml::to_string(&Own {
        data_dir: dir.join("data").display().to_string(),
        engines,
    });
    let written = text.map_err(|e| e.to_string()).and_then(|t| {
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&own, t))
            .map_err(|e| e.to_string())
    });
    if let Err(e) = written {
        r.error = Some(format!("{}: {e}", dir.display()));
        return r;
    }
    let mut cmd = Command::new(exe);
    cmd.arg("replay");
    for f in args.config.iter().chain([&own]) {
        cmd.arg("--config").arg(f);
    }
    cmd.arg("--data").arg(&args.data);
    if let Some(n) = &args.news {
        cmd.arg("--news").arg(n);
    }
    if args.faults > 0 {
        cmd.args([
            "--faults",
            &args.faults.to_string(),
            "--seed",
            &seed.to_string(),
        ]);
    }
    cmd.arg("--out").arg(dir.join("report"));
    match cmd.output() {
        Ok(out) => {
            r.code = out.status.code();
            r.report = replay_report(&dir.join("report"));
            if r.code == Some(0) && r.report.is_none() {
                // It said it ran, but there is nothing to rank: a failure.
                r.code = None;
                r.error = Some("the replay wrote no readable report".into());
                let _ = std::fs::write(dir.join("stderr.log"), &out.stderr);
            } else if r.code != Some(0) {
                let err = String::from_utf8_lossy(&out.stderr);
                r.error = Some(
                    err.lines()
                        .rev()
                        .find(|l| l.starts_with("error:"))
                        .unwrap_or("the replay failed (see its stderr.log)")
                        .to_owned(),
                );
                let _ = std::fs::write(dir.join("stderr.log"), &out.stderr);
            }
        }
        Err(e) => r.error = Some(format!("cannot run the replay: {e}")),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn values_are_ranges_lists_or_one_read_as_decimals() {
        let p = parse_param("momentum.window=10..40:5").unwrap();
        assert_eq!(
            (p.strategy.as_str(), p.name.as_str()),
            ("momentum", "window")
        );
        assert_eq!(p.values.len(), 7);
        assert_eq!(p.values[6], d("40"));
        let p = parse_param("turtle.stop_loss=0.001..0.003:0.001").unwrap();
        assert_eq!(
            p.values,
            vec![d("0.001"), d("0.002"), d("0.003")],
            "no drift"
        );
        assert_eq!(parse_param("news.weight=0.2,0.4").unwrap().values.len(), 2);
        for (bad, says) in [
            ("momentum.window", "give <strategy>.<parameter>=<values>"),
            ("window=3", "name it <strategy>.<parameter>"),
            ("momentum.window=10..40", "a range needs a step"),
            ("momentum.window=40..10:5", "A at most B"),
            ("momentum.window=1..100000:1", "at most 1000 values"),
            ("momentum.window=ten", "\"ten\" is not a number"),
            (
                "momentum.window=0..79228162514264337593543950335:0.5",
                "at most 1000 values",
            ),
        ] {
            let e = parse_param(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_grid_is_every_combination_first_parameter_slowest() {
        let a = parse_param("m.window=1,2").unwrap();
        let b = parse_param("m.trigger=5,6,7").unwrap();
        let g = grid(&[a, b]);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], vec![d("1"), d("5")]);
        assert_eq!(g[3], vec![d("2"), d("5")]);
    }
}
