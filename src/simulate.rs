//! `commodore simulate --seeds A..B [--faults N]`: many seeded replays
//! (`commodore replay --faults N --seed S`, each its own process, its own
//! data dir), as many at once as there are cores; a table of every seed, and
//! for each failing seed the one command that reproduces it.
//!
//! Invariant: a seed's result is its replay's alone: the same seed run here
//! or alone gives the same report (replays are deterministic), so a failing
//! seed is reproduced by the command printed. A seed fails when its replay
//! exits non-zero: an invariant that does not hold (named), or a replay that
//! could not run (its error).

use commodore_actors::clock::Clock;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The most seeds one run takes.
pub const MAX_SEEDS: u64 = 1_000_000;

/// What `commodore simulate` was asked.
pub struct Args {
    pub config: Vec<PathBuf>,
    pub seeds: String,
    pub faults: u32,
    pub data: Option<PathBuf>,
    pub news: Option<PathBuf>,
    pub jobs: Option<usize>,
}

/// One seed's replay, as it ended.
struct Outcome {
    seed: u64,
    code: Option<i32>,
    fills: u64,
    faults: u64,
    failures: u64,
    /// Invariants that did not hold (names), or why the replay did not run.
    failed: Vec<String>,
    secs: f64,
}

/// `A..B` (B excluded) or `A`.
pub fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let bad = || format!("--seeds {s:?}: give A..B (B excluded, e.g. 0..1000) or one seed");
    let range = match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            a..b
        }
        None => {
            let a: u64 = s.trim().parse().map_err(|_| bad())?;
            a..a.saturating_add(1)
        }
    };
    if range.is_empty() {
        return Err(format!(
            "--seeds {s:?}: the range is empty: give A..B with B above A (B excluded)"
        ));
    }
    if range.end - range.start > MAX_SEEDS {
        return Err(format!(
            "--seeds {s:?}: at most {MAX_SEEDS} seeds in one run"
        ));
    }
    Ok(range)
}

/// Runs the seeds; returns the exit status (0 every seed held, 1 one did
/// not, 2 the arguments are wrong).
pub fn run(args: &Args) -> i32 {
    let seeds = match parse_seeds(&args.seeds) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find this program to run its replays: {e}");
            return 2;
        }
    };
    let work = std::env::temp_dir().join(format!(
        "commodore-simulate-{}-{}",
        std::process::id(),
        Clock::wall().now_ms()
    ));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("error: {}: {e}", work.display());
        return 2;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let total = seeds.end - seeds.start;
    eprintln!(
        "simulate: {total} seeds, {} faults each, {jobs} at once",
        args.faults
    );
    let next = Arc::new(Mutex::new(seeds.clone()));
    let done = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let wall = Clock::wall();
    let t0 = wall.now_ms();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(seed) = next.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                    return;
                };
                let o = one(&exe, &work, args, seed);
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                d.push(o);
                if (d.len() as u64).is_multiple_of(50) || d.len() as u64 == total {
                    eprintln!("simulate: {}/{total} seeds", d.len());
                }
            });
        }
    });
    let mut done = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
    done.sort_by_key(|o| o.seed);
    let secs = wall.now_ms().saturating_sub(t0) as f64 / 1000.0;
    print!("{}", table(&done));
    let failing: Vec<&Outcome> = done.iter().filter(|o| o.code != Some(0)).collect();
    let faults: u64 = done.iter().map(|o| o.faults).sum();
    let failures: u64 = done.iter().map(|o| o.failures).sum();
    println!(
        "{} seeds in {secs:.1} s ({jobs} at once): {} held, {} failed; {faults} faults injected, {failures} failures survived",
        done.len(),
        done.len() - failing.len(),
        failing.len()
    );
    for o in &failing {
        println!(
            "seed {} failed: {}\n  reproduce: {}",
            o.seed,
            o.failed.join("; "),
            reproduce(args, o.seed)
        );
    }
    if failing.is_empty() {
        let _ = std::fs::remove_dir_all(&work);
        0
    } else {
        println!("reports of the failing seeds: {}", work.display());
        1
    }
}

/// The command that replays `seed` alone.
fn reproduce(args: &Args, seed: u64) -> String {
    let mut c = "commodore replay".to_owned();
    for f in &args.config {
        c.push_str(&format!(" --config {}", f.display()));
    }
    if let Some(d) = &args.data {
        c.push_str(&format!(" --data {}", d.display()));
    }
    if let Some(n) = &args.news {
        c.push_str(&format!(" --news {}", n.display()));
    }
    format!("{c} --faults {} --seed {seed}", args.faults)
}

/// Replays one seed in a process of its own, in a data dir of its own.
fn one(exe: &Path, work: &Path, args: &Args, seed: u64) -> Outcome {
    let wall = Clock::wall();
    let t0 = wall.now_ms();
    let dir = work.join(seed.to_string());
    let mut o = Outcome {
        seed,
        code: None,
        fills: 0,
        faults: 0,
        failures: 0,
        failed: Vec::new(),
        secs: 0.0,
    };
    let own = dir.join("seed.toml");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            &own,
            format!("data_dir = {:?}\n", dir.join("data").display().to_string()),
        )
    });
    if let Err(e) = written {
        o.failed.push(format!("{}: {e}", dir.display()));
        return o;
    }
    let mut cmd = Command::new(exe);
    cmd.arg("replay");
    for f in args.config.iter().chain([&own]) {
        cmd.arg("--config").arg(f);
    }
    if let Some(d) = &args.data {
        cmd.arg("--data").arg(d);
    }
    if let Some(n) = &args.news {
        cmd.arg("--news").arg(n);
    }
    cmd.args([
        "--faults",
        &args.faults.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .arg("--out")
    .arg(dir.join("report"));
    let out = cmd.output();
    o.secs = wall.now_ms().saturating_sub(t0) as f64 / 1000.0;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            o.failed.push(format!("cannot run the replay: {e}"));
            return o;
        }
    };
    o.code = out.status.code();
    match replay_report(&dir.join("report")) {
        Some(r) => {
            o.fills = r["portfolio"]["fills"].as_u64().unwrap_or(0);
            o.faults = r["run"]["faults_injected"].as_u64().unwrap_or(0);
            o.failures = r["run"]["failures"].as_u64().unwrap_or(0);
            o.failed.extend(
                r["invariants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["holds"] == false)
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c["name"].as_str().unwrap_or("?"),
                            c["detail"].as_str().unwrap_or("")
                        )
                    }),
            );
        }
        None if o.code != Some(0) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let why = err
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .unwrap_or("no report and no error (see its log)");
            o.failed.push(why.to_owned());
        }
        None => o.failed.push("no report written".to_owned()),
    }
    if o.code == Some(0) && o.failed.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = std::fs::write(dir.join("stderr.log"), &out.stderr);
    }
    o
}

/// The replay's JSON report in `dir` (there is one).
pub(crate) fn replay_report(dir: &Path) -> Option<Value> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))?;
    serde_json::from_str(&std::fs::read_to_string(entry.path()).ok()?).ok()
}

fn table(rows: &[Outcome]) -> String {
    let mut s = format!(
        "{:>8}  {:>4}  {:>6}  {:>6}  {:>8}  {:>7}  result\n",
        "seed", "exit", "fills", "faults", "failures", "seconds"
    );
    for o in rows {
        let result = if o.code == Some(0) && o.failed.is_empty() {
            "invariants hold".to_owned()
        } else {
            o.failed
                .iter()
                .map(|f| f.split(':').next().unwrap_or(f))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "{:>8}  {:>4}  {:>6}  {:>6}  {:>8}  {:>7.1}  {result}\n",
            o.seed,
            o.code.map_or("-".to_owned(), |c| c.to_string()),
            o.fills,
            o.faults,
            o.failures,
            o.secs
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_a_range_or_one_and_wrong_ones_say_what_to_give() {
        assert_eq!(parse_seeds("0..1000"), Ok(0..1000));
        assert_eq!(parse_seeds("7"), Ok(7..8));
        for bad in ["", "a..b", "5..5", "9..3", "1..2..3", "-1"] {
            let e = parse_seeds(bad).unwrap_err();
            assert!(e.starts_with(&format!("--seeds {bad:?}")), "{e}");
        }
        assert!(parse_seeds("0..2000000").unwrap_err().contains("at most"));
    }
}
