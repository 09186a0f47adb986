//! `commodore replay`: the daemon's own actor tree over recorded bars (and
//! headlines), on a virtual clock, to the end of the data; then a report.
//!
//! The virtual clock is tokio's paused clock on the one thread every actor of
//! the replay runs on: nothing waits in real time, and every timer of the tree
//! runs as it does in `run` with the same config: one bar every
//! `60 s / feed.speed` (default speed 60: a bar a second), the batch every
//! `batch_interval / feed.speed`, and the breaker's cooldown, the order-rate
//! throttle and the liveness probes in (virtual) seconds. So a replay behaves
//! as the daemon would over the same data, only without waiting; with
//! `feed.speed = 1` every timer is in market time, and the replay is slower
//! (each per-second timer of the tree fires once per market second).
//! The same data and config give the same report, run after run.
//!
//! What differs from `run`, on purpose: a fresh journal of its own
//! (`<data_dir>/replay/<stamp>/`, the live one is never touched), no HTTP API,
//! no webhooks (a backtest must not page a desk), the rules analyzer only (an
//! LLM call cannot run on a virtual clock), no fault injection.

use crate::config::Config;
use crate::daemon::{self, Handles};
use commodore_actors::control::Lifecycle;
use commodore_actors::engine::{collector::ReplayProgress, data, DataSource};
use commodore_actors::journal::Store;
use commodore_actors::kernel::{Handle, Kernel, NodeState, Root};
use commodore_actors::mode;
use commodore_actors::model::{contract, Bar, ContractSpec, Fill, Position};
use commodore_actors::risk;
use commodore_actors::view::StatusView;
use rust_decimal::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The most bars a replay reads (about ten years of 1-minute bars for two
/// contracts): a bound on memory, said plainly when passed.
pub const MAX_BARS: usize = 5_000_000;
/// The highest price a bar may have (far above any KC or CC price; the
/// risk arithmetic on prices beyond would overflow a decimal).
pub const MAX_PRICE: i64 = 1_000_000_000;
/// The most headlines a replay reads.
pub const MAX_HEADLINES: usize = 1_000_000;
/// Points of an equity curve in the report (evenly thinned beyond).
pub const MAX_CURVE_POINTS: usize = 2_000;

/// Where the report goes.
pub struct Written {
    pub json: PathBuf,
    pub html: PathBuf,
}

/// Reads `--data`: a CSV of 1-minute bars, `at,symbol,open,high,low,close,volume`,
/// each symbol's bars in time order. Errors name the file and the line.
pub fn load_bars(path: &Path) -> Result<HashMap<String, Vec<Bar>>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--data {}: {e}", path.display()))?;
    let at = |line: usize, what: String| format!("--data {}: line {line}: {what}", path.display());
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "at,symbol,open,high,low,close,volume" => {}
        _ => {
            return Err(format!(
                "--data {}: line 1: expected the header at,symbol,open,high,low,close,volume",
                path.display()
            ))
        }
    }
    let mut bars: HashMap<String, Vec<Bar>> = HashMap::new();
    let max_price = Decimal::from(MAX_PRICE);
    let mut n = 0;
    for (i, l) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let line = i + 1;
        n += 1;
        if n > MAX_BARS {
            return Err(at(
                line,
                format!("more than {MAX_BARS} bars: replay a shorter period"),
            ));
        }
        let mut f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != 7 {
            return Err(at(line, format!("expected 7 fields, got {}", f.len())));
        }
        let symbol = f.remove(1);
        let file = |e: String| format!("--data {}: {e}", path.display());
        let bar = data::bar(symbol, &f, line).map_err(file)?;
        for (what, p) in [
            ("open", bar.open),
            ("high", bar.high),
            ("low", bar.low),
            ("close", bar.close),
        ] {
            if p <= Decimal::ZERO {
                return Err(at(line, format!("{what} {p} is not a positive price")));
            }
            if p > max_price {
                return Err(at(
                    line,
                    format!("{what} {p} is above {max_price}: not a price of these contracts"),
                ));
            }
        }
        if bar.low > bar.open.min(bar.close) || bar.high < bar.open.max(bar.close) {
            return Err(at(
                line,
                "low above open/close or high below them".to_owned(),
            ));
        }
        let series = bars.entry(bar.symbol.clone()).or_default();
        if series.last().is_some_and(|b| b.at_ms >= bar.at_ms) {
            return Err(at(
                line,
                format!(
                    "the bars of {} must be in strictly increasing time",
                    bar.symbol
                ),
            ));
        }
        series.push(bar);
    }
    Ok(bars)
}

/// Reads `--news`: `at,symbol,headline`, the bundled news format.
pub fn load_news(path: &Path) -> Result<Vec<commodore_actors::model::Headline>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--news {}: {e}", path.display()))?;
    let mut news =
        data::parse_news(&text).map_err(|e| format!("--news {}: {e}", path.display()))?;
    // The collector sends a bar's headlines by time: in time order.
    news.sort_by_key(|h| h.at_ms);
    if news.len() > MAX_HEADLINES {
        return Err(format!(
            "--news {}: more than {MAX_HEADLINES} headlines",
            path.display()
        ));
    }
    Ok(news)
}

/// The config a replay runs with, or why it cannot run.
fn replay_config(cfg: &Config, dir: &Path) -> Result<Config, String> {
    if cfg.llm.enabled {
        return Err("llm.enabled: a replay runs on a virtual clock, where an LLM call cannot; set llm.enabled = false (the rules analyzer decides)".into());
    }
    if cfg.engines.iter().any(|e| !e.feeds.is_empty()) {
        return Err("engines.feeds: a replay reads recorded data only; remove the HTTP feeds (put recorded headlines in --news)".into());
    }
    let mut c = cfg.clone();
    c.data_dir = dir.to_owned();
    c.notifier.webhooks.clear();
    c.faults.enabled = false;
    c.log.status_every = Duration::ZERO;
    Ok(c)
}

/// Runs the replay; returns the exit status (0 done, 1 the tree failed, 2 a
/// data or config error).
pub async fn run(
    cfg: Config,
    data_path: PathBuf,
    news_path: Option<PathBuf>,
    out: Option<PathBuf>,
) -> i32 {
    match replay(cfg, &data_path, news_path.as_deref(), out).await {
        Ok((report, written)) => {
            print!("{}", summary(&report));
            println!(
                "report: {}\n        {}",
                written.json.display(),
                written.html.display()
            );
            0
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

async fn replay(
    cfg: Config,
    data_path: &Path,
    news_path: Option<&Path>,
    out: Option<PathBuf>,
) -> Result<(Value, Written), (i32, String)> {
    let mut bars = load_bars(data_path).map_err(|e| (2, e))?;
    let news = match news_path {
        Some(p) => load_news(p).map_err(|e| (2, e))?,
        None => Vec::new(),
    };
    let mut recorded: HashMap<String, data::Replay> = HashMap::new();
    for e in &cfg.engines {
        let symbol = e.symbol().to_owned();
        if recorded.contains_key(&symbol) {
            continue; // two engines on one contract share its data
        }
        let Some(series) = bars.remove(&symbol) else {
            return Err((
                2,
                format!(
                    "--data {}: no bars for {symbol} (engine {}); add them, or leave the engine out of the config",
                    data_path.display(),
                    e.id
                ),
            ));
        };
        let heads: Vec<_> = news
            .iter()
            .filter(|h| h.symbol == symbol)
            .cloned()
            .collect();
        recorded.insert(symbol, (Arc::new(series), Arc::new(heads)));
    }
    let unused: Vec<&String> = bars.keys().collect();
    if !unused.is_empty() {
        tracing::warn!(symbols = ?unused, "bars of symbols no engine trades are not replayed");
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let dir = cfg.data_dir.join("replay").join(&stamp);
    let rcfg = replay_config(&cfg, &dir).map_err(|e| (2, e))?;
    std::fs::create_dir_all(&dir).map_err(|e| (2, format!("data_dir: {}: {e}", dir.display())))?;
    let total: u64 = cfg
        .engines
        .iter()
        .map(|e| recorded[e.symbol()].0.len() as u64)
        .sum();

    // A fresh journal: the risk level and the mode start where a first
    // `run` starts.
    let path = daemon::journal_path(&rcfg);
    let tiers = rcfg.mode.tiers().expect("checked with the config");
    let (risk, mode) = Store::open(&path)
        .and_then(|s| {
            let now = commodore_actors::model::now_ms();
            Ok((risk::load(&s, now)?, mode::load(&s, &tiers, now)?))
        })
        .map_err(|e| (1, e.to_string()))?;

    // The virtual clock: everything below runs on this thread.
    tokio::time::pause();
    let kernel = Kernel::new(1);
    let wiring =
        commodore_actors::wiring::Wiring::new(commodore_actors::clock::Clock::new(), &risk, &mode);
    let view = Arc::new(StatusView::new(risk, mode));
    let lifecycle = Arc::new(Lifecycle::new(commodore_actors::model::now_ms()));
    let handles = Handles {
        journal: Handle::new(),
        risk: Handle::new(),
        mode: Handle::new(),
        control: Handle::new(),
        wiring,
    };
    let progress = Arc::new(ReplayProgress::default());
    let recorded = Arc::new(recorded);
    let source = DataSource::Recorded {
        data: recorded.clone(),
        progress: progress.clone(),
    };
    // The config's webhooks were cleared: no targets.
    let webhooks = daemon::webhook_config(&rcfg).map_err(|e| (2, e))?;
    let mut root = Root::start(
        daemon::tree(
            &rcfg, &kernel, &view, &lifecycle, &handles, webhooks, source,
        ),
        &kernel,
    );
    lifecycle.set_root(root.shutdown_handle());

    let mut bar = Progress::new(total);
    let engines: Vec<String> = rcfg.engines.iter().map(|e| e.id.clone()).collect();
    // Engines play side by side, a bar every 60 s / speed each: four times
    // all the bars one after another, and a day, is a hang.
    let per_bar = Duration::from_secs_f64(60.0 / rcfg.feed.speed.max(1e-6));
    let deadline = per_bar
        .saturating_mul(u32::try_from(total).unwrap_or(u32::MAX).saturating_mul(4))
        .saturating_add(Duration::from_secs(86_400));
    let started = tokio::time::Instant::now();
    let failed = loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        bar.show(progress.bars.load(Ordering::Relaxed));
        let failed: Vec<&String> = engines
            .iter()
            .filter(|id| {
                kernel
                    .registry()
                    .state(&commodore_actors::control::engine_path(id))
                    == Some(NodeState::Failed)
            })
            .collect();
        if !failed.is_empty() {
            break Some(format!(
                "engines {failed:?} failed during the replay (see the log)"
            ));
        }
        if progress.ended.load(Ordering::Relaxed) >= engines.len() {
            break None;
        }
        if started.elapsed() > deadline {
            break Some("the replay did not reach the end of its data in time".to_owned());
        }
    };
    bar.done(progress.bars.load(Ordering::Relaxed));
    // The last batch and the last fills settle, then an ordered stop.
    tokio::time::sleep(rcfg.pipeline.batch_interval + Duration::from_secs(5)).await;
    lifecycle.begin_shutdown();
    let exit = root.wait().await;
    daemon::final_flush(&path, &kernel);
    if let Some(why) = failed {
        return Err((1, why));
    }
    // No fault is injected in a replay: a failure of anything (a step that
    // panicked, an actor restarted) means the report is not the strategy's.
    let failures = failures(&path).map_err(|e| (1, e))?;
    if let Some(first) = failures.first() {
        return Err((
            1,
            format!(
                "{} failures during the replay, the first {first}; the report would not be the strategies' (see the log)",
                failures.len()
            ),
        ));
    }
    if let commodore_actors::kernel::RootExit::GaveUp(why) = exit {
        return Err((1, format!("the root supervisor gave up: {why}")));
    }
    let report = report(&rcfg, &path, &recorded, data_path).map_err(|e| (1, e))?;
    let out = out.unwrap_or_else(|| cfg.data_dir.join("reports"));
    let written = write(&report, &out, &stamp).map_err(|e| (1, e))?;
    Ok((report, written))
}

/// Every `failed` event the replay journaled (all of them, paged).
fn failures(journal: &Path) -> Result<Vec<String>, String> {
    let store = Store::open(journal).map_err(|e| e.to_string())?;
    let (mut since, mut out) = (0, Vec::new());
    loop {
        let page = store.events_since(since, 1000).map_err(|e| e.to_string())?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        since = last.seq;
        out.extend(
            page.iter()
                .filter(|e| e.kind == commodore_actors::kernel::EventKind::Failed)
                .map(|e| format!("{}: {}", e.path, e.detail)),
        );
    }
}

/// A progress bar on a terminal; a line every 10 % elsewhere.
struct Progress {
    total: u64,
    tty: bool,
    last_decile: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total: total.max(1),
            tty: std::io::stderr().is_terminal(),
            last_decile: 0,
        }
    }

    fn show(&mut self, done: u64) {
        let pct = (done * 100 / self.total).min(100);
        let mut err = std::io::stderr();
        if self.tty {
            let filled = (pct / 5) as usize;
            let _ = write!(
                err,
                "\rreplay [{}{}] {pct:>3}%  {done}/{} bars",
                "#".repeat(filled),
                ".".repeat(20 - filled),
                self.total
            );
            let _ = err.flush();
        } else if pct / 10 > self.last_decile {
            self.last_decile = pct / 10;
            let _ = writeln!(err, "replay {pct}%  {done}/{} bars", self.total);
        }
    }

    fn done(&mut self, done: u64) {
        self.show(done);
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Dollar PnL of signed fills at `mark`: Σ sign × qty × (mark − price) × point value.
#[derive(Debug, Default, Clone)]
struct Book {
    /// Net contracts.
    qty: Decimal,
    /// Σ sign × qty × price.
    cost: Decimal,
    commissions: Decimal,
    fills: u64,
    contracts: Decimal,
    /// FIFO position, for the realized part.
    position: Position,
    realized: Decimal,
}

impl Book {
    fn apply(&mut self, f: &Fill, spec: &ContractSpec) {
        let signed = f.side.sign() * f.qty;
        self.qty += signed;
        self.cost += signed * f.price;
        self.commissions += f.commission;
        self.fills += 1;
        self.contracts += f.qty;
        self.realized += self.position.apply(f.side, f.qty, f.price, spec);
    }

    /// Net PnL at `mark`, commissions paid.
    fn pnl(&self, mark: Decimal, spec: &ContractSpec) -> Decimal {
        (self.qty * mark - self.cost) * spec.point_value - self.commissions
    }
}

/// Dollars with two decimals, as a string (the contract's money).
fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The report: per strategy (engine and strategy), per engine and for the
/// portfolio, with equity curves marked at every bar close.
fn report(
    cfg: &Config,
    journal: &Path,
    data: &HashMap<String, data::Replay>,
    data_path: &Path,
) -> Result<Value, String> {
    let store = Store::open(journal).map_err(|e| e.to_string())?;
    let mut engines_out = Vec::new();
    let mut strategies_out = Vec::new();
    // (time, engine index, close) of every bar, in time order.
    let mut marks: Vec<(u64, usize, Decimal)> = Vec::new();
    let mut specs = Vec::new();
    let mut fills_by_engine = Vec::new();
    let mut capital = Decimal::ZERO;
    for (i, e) in cfg.engines.iter().enumerate() {
        let spec = contract(e.symbol()).ok_or_else(|| format!("no contract {}", e.symbol()))?;
        let fills: Vec<Fill> = store
            .fills(&e.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        for b in data[e.symbol()].0.iter() {
            marks.push((b.at_ms, i, b.close));
        }
        capital += e.capital;
        specs.push(spec);
        fills_by_engine.push(fills);
    }
    marks.sort_by_key(|m| (m.0, m.1));

    // Walk the bars: fills up to a bar's time are in the book it is marked at.
    let n = cfg.engines.len();
    let mut books = vec![Book::default(); n];
    let mut next_fill = vec![0usize; n];
    let mut last = vec![None::<Decimal>; n];
    let mut curves: Vec<Vec<(u64, Decimal)>> = vec![Vec::new(); n];
    let mut portfolio: Vec<(u64, Decimal)> = Vec::new();
    for (k, &(at, i, close)) in marks.iter().enumerate() {
        let fills = &fills_by_engine[i];
        while next_fill[i] < fills.len() && fills[next_fill[i]].at_ms <= at {
            books[i].apply(&fills[next_fill[i]], &specs[i]);
            next_fill[i] += 1;
        }
        last[i] = Some(close);
        let eq = cfg.engines[i].capital + books[i].pnl(close, &specs[i]);
        curves[i].push((at, eq));
        // One portfolio point per time, once every engine has a price.
        if marks.get(k + 1).map_or(true, |m| m.0 != at) && last.iter().all(Option::is_some) {
            let total: Decimal = (0..n)
                .map(|j| {
                    cfg.engines[j].capital + books[j].pnl(last[j].unwrap_or_default(), &specs[j])
                })
                .sum();
            portfolio.push((at, total));
        }
    }
    // Fills after the last bar (none in practice) still count, at the last close.
    for i in 0..n {
        for f in &fills_by_engine[i][next_fill[i]..] {
            books[i].apply(f, &specs[i]);
        }
    }

    for (i, e) in cfg.engines.iter().enumerate() {
        let mark = last[i].unwrap_or_default();
        let b = &books[i];
        let outcomes: BTreeMap<String, u64> = store
            .outcome_counts(&e.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        engines_out.push(json!({
            "id": e.id,
            "symbol": e.symbol(),
            "capital": money(e.capital),
            "final_equity": money(e.capital + b.pnl(mark, &specs[i])),
            "pnl": money(b.pnl(mark, &specs[i])),
            "realized_pnl": money(b.realized - b.commissions),
            "commissions": money(b.commissions),
            "position": b.qty.normalize().to_string(),
            "last_price": mark.normalize().to_string(),
            "fills": b.fills,
            "outcomes": outcomes,
            "max_drawdown_pct": max_drawdown_pct(&curves[i]),
            "equity_curve": curve_json(&curves[i]),
        }));
        // Per strategy: its fills as a book of their own (a strategy's PnL is
        // what its orders made at the same marks; the sum over strategies is
        // the engine's PnL).
        let mut per: BTreeMap<String, Book> = BTreeMap::new();
        for f in &fills_by_engine[i] {
            let strategy = strategy_of(&f.client_order_id, &e.id);
            per.entry(strategy).or_default().apply(f, &specs[i]);
        }
        for (strategy, sb) in per {
            strategies_out.push(json!({
                "engine": e.id,
                "strategy": strategy,
                "fills": sb.fills,
                "contracts": sb.contracts.normalize().to_string(),
                "pnl": money(sb.pnl(mark, &specs[i])),
                "realized_pnl": money(sb.realized - sb.commissions),
                "commissions": money(sb.commissions),
                "position": sb.qty.normalize().to_string(),
            }));
        }
    }
    // From the final books (fills after the last bar included), as the
    // engines' own figures are.
    let final_equity: Decimal = (0..n)
        .map(|i| cfg.engines[i].capital + books[i].pnl(last[i].unwrap_or_default(), &specs[i]))
        .sum();
    let pnl = final_equity - capital;
    Ok(json!({
        "data": data_path.display().to_string(),
        "from": marks.first().map(|m| rfc3339(m.0)),
        "to": marks.last().map(|m| rfc3339(m.0)),
        "bars": data.values().map(|(b, _)| b.len()).sum::<usize>(),
        "portfolio": {
            "capital": money(capital),
            "final_equity": money(final_equity),
            "pnl": money(pnl),
            "return_pct": if capital.is_zero() { 0.0 } else { (pnl / capital * Decimal::ONE_HUNDRED).round_dp(4).to_f64().unwrap_or(0.0) },
            "max_drawdown_pct": max_drawdown_pct(&portfolio),
            "fills": books.iter().map(|b| b.fills).sum::<u64>(),
            "equity_curve": curve_json(&portfolio),
        },
        "engines": engines_out,
        "strategies": strategies_out,
    }))
}

/// `KC-news-00000077` → `news` (the id is engine-strategy-sequence).
fn strategy_of(client_order_id: &str, engine: &str) -> String {
    client_order_id
        .strip_prefix(engine)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.rsplit_once('-'))
        .map_or_else(|| "unknown".to_owned(), |(s, _)| s.to_owned())
}

/// The largest fall from a running peak, in percent of the peak.
fn max_drawdown_pct(curve: &[(u64, Decimal)]) -> f64 {
    let mut peak = Decimal::MIN;
    let mut worst = Decimal::ZERO;
    for &(_, v) in curve {
        peak = peak.max(v);
        if peak > Decimal::ZERO {
            worst = worst.max((peak - v) / peak);
        }
    }
    (worst * Decimal::ONE_HUNDRED)
        .round_dp(4)
        .to_f64()
        .unwrap_or(0.0)
}

/// At most `MAX_CURVE_POINTS` points, the first and the last kept.
fn thin(curve: &[(u64, Decimal)]) -> Vec<(u64, Decimal)> {
    if curve.len() <= MAX_CURVE_POINTS {
        return curve.to_vec();
    }
    let step = (curve.len() - 1) as f64 / (MAX_CURVE_POINTS - 1) as f64;
    (0..MAX_CURVE_POINTS)
        .map(|k| curve[((k as f64 * step).round() as usize).min(curve.len() - 1)])
        .collect()
}

fn curve_json(curve: &[(u64, Decimal)]) -> Value {
    Value::Array(
        thin(curve)
            .into_iter()
            .map(|(at, v)| json!({"at": rfc3339(at), "equity": money(v)}))
            .collect(),
    )
}

/// The summary printed at the end.
fn summary(r: &Value) -> String {
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
fn write(report: &Value, dir: &Path, stamp: &str) -> Result<Written, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_ids_drawdown_and_thinning() {
        assert_eq!(strategy_of("KC-news-00000077", "KC"), "news");
        assert_eq!(strategy_of("KC-2-momentum-00000001", "KC-2"), "momentum");
        assert_eq!(strategy_of("garbage", "KC"), "unknown");
        let d = |v: i64| Decimal::from(v);
        // Peak 120, trough 90: 25 %; the later fall from 110 to 100 is less.
        let curve = [
            (0, d(100)),
            (1, d(120)),
            (2, d(90)),
            (3, d(110)),
            (4, d(100)),
        ];
        assert_eq!(max_drawdown_pct(&curve), 25.0);
        let long: Vec<(u64, Decimal)> = (0..10_000).map(|i| (i, d(i as i64))).collect();
        let t = thin(&long);
        assert_eq!(t.len(), MAX_CURVE_POINTS);
        assert_eq!((t[0].0, t[t.len() - 1].0), (0, 9_999));
    }

    #[test]
    fn a_book_marks_signed_fills_and_pays_commissions() {
        let kc = contract("KC").unwrap();
        let fill = |side, qty: i64, price: &str| Fill {
            client_order_id: "KC-news-1".into(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side,
            qty: Decimal::from(qty),
            price: price.parse().unwrap(),
            commission: Decimal::new(250, 2),
            at_ms: 0,
        };
        use commodore_actors::model::Side;
        let mut b = Book::default();
        b.apply(&fill(Side::Buy, 2, "300.00"), &kc);
        b.apply(&fill(Side::Sell, 1, "301.00"), &kc);
        // Long 1 at 300 marked at 302: +2 ¢ × $375 = $750; the closed one made
        // 1 ¢ × $375 = $375; minus 2 × $2.50.
        assert_eq!(b.pnl("302".parse().unwrap(), &kc), Decimal::new(112_000, 2));
        assert_eq!(b.realized, Decimal::from(375));
        assert_eq!(b.qty, Decimal::ONE);
    }
}
