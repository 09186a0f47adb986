//! The recorded data a replay reads: `--data` (1-minute bars) and `--news`
//! (headlines), read and checked, then handed to the engines by symbol.
//!
//! Invariant: what reaches the tree is checked: each symbol's bars in strictly
//! increasing time, positive prices within [`MAX_PRICE`], low and high around
//! open and close, at most [`MAX_BARS`] bars and [`MAX_HEADLINES`] headlines,
//! and bars for every engine's symbol. Every error names the file, and the
//! line when there is one.

use crate::config::Config;
use commodore_actors::engine::data;
use commodore_actors::model::{root, Bar, Headline};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most bars a replay reads (about ten years of 1-minute bars for two
/// contracts): a bound on its time, said plainly when passed (memory does not
/// grow with the bars: they are streamed).
pub const MAX_BARS: usize = 5_000_000;
/// The highest price a bar may have (far above any KC or CC price; the
/// risk arithmetic on prices beyond would overflow a decimal).
pub const MAX_PRICE: i64 = 1_000_000_000;
/// The most headlines a replay reads.
pub const MAX_HEADLINES: usize = 1_000_000;

/// One symbol's bars: in memory (the bundled week, tests) or read from the
/// `--data` file as they are played (checked once before, by [`scan`]), so a
/// replay's memory does not grow with its data.
#[derive(Clone)]
pub enum Bars {
    Memory(Arc<Vec<Bar>>),
    File {
        path: PathBuf,
        symbol: String,
        scan: Scan,
    },
}

/// What [`scan`] found of one symbol's bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub count: u64,
    pub first_open_ms: u64,
    pub last_open_ms: u64,
}

impl Bars {
    pub fn count(&self) -> u64 {
        match self {
            Bars::Memory(v) => v.len() as u64,
            Bars::File { scan, .. } => scan.count,
        }
    }

    pub fn first_open_ms(&self) -> Option<u64> {
        match self {
            Bars::Memory(v) => v.first().map(|b| b.at_ms),
            Bars::File { scan, .. } => Some(scan.first_open_ms),
        }
    }

    /// The last bar's close.
    pub fn last_close_ms(&self) -> Option<u64> {
        match self {
            Bars::Memory(v) => v.last().map(Bar::closes_at_ms),
            Bars::File { scan, .. } => Some(scan.last_open_ms + commodore_actors::model::BAR_MS),
        }
    }

    /// The bars in time order, one at a time.
    pub fn stream(&self) -> Box<dyn Iterator<Item = Bar> + Send> {
        match self {
            Bars::Memory(v) => {
                let v = v.clone();
                Box::new((0..v.len()).map(move |i| v[i].clone()))
            }
            Bars::File { path, symbol, .. } => Box::new(FileBars::open(path, symbol)),
        }
    }
}

/// The rows of the `--data` file, read as they are played.
type Rows = Box<dyn Iterator<Item = Result<(usize, csv::StringRecord), String>> + Send>;

/// One symbol's bars read from the `--data` file row by row.
struct FileBars {
    rows: Option<Rows>,
    symbol: String,
}

impl FileBars {
    fn open(path: &Path, symbol: &str) -> FileBars {
        let rows = match File::open(path) {
            Ok(f) => Some(Box::new(data::csv_rows(BufReader::with_capacity(1 << 16, f))) as Rows),
            Err(e) => {
                tracing::error!(path = %path.display(), "--data cannot be read again: {e}; its bars end here");
                None
            }
        };
        FileBars {
            rows,
            symbol: symbol.to_owned(),
        }
    }
}

impl Iterator for FileBars {
    type Item = Bar;

    fn next(&mut self) -> Option<Bar> {
        let rows = self.rows.as_mut()?;
        loop {
            let (line, row) = rows.next()?.ok()?;
            let mut f: Vec<&str> = row.iter().collect();
            if line == 1 || f.len() != 7 || root(f[1]) != self.symbol {
                continue;
            }
            let symbol = f.remove(1);
            // Checked by `scan` before the replay: a row that no longer
            // parses (the file changed under the replay) ends the bars.
            return data::bar(symbol, &f, line).ok();
        }
    }
}

/// Recorded bars and headlines per symbol, as the market sequencer plays
/// them (headlines are held in memory: at most [`MAX_HEADLINES`]).
pub type Recorded = HashMap<String, (Bars, Arc<Vec<Headline>>)>;

/// The bundled week of each engine's symbol (`replay` without `--data`),
/// with the bundled headlines, or those of `--news`.
pub fn bundled(cfg: &Config, news_path: Option<&Path>) -> Result<Recorded, String> {
    let news = news_path.map(load_news).transpose()?;
    let mut recorded = Recorded::new();
    for e in &cfg.engines {
        let symbol = e.symbol();
        let Some((bars, bundled_news)) = data::bundled(symbol) else {
            return Err(format!(
                "no bundled data for {symbol} (engine {}): give --data",
                e.id
            ));
        };
        let heads = match &news {
            Some(n) => Arc::new(n.iter().filter(|h| h.symbol == symbol).cloned().collect()),
            None => bundled_news,
        };
        recorded.insert(symbol.to_owned(), (Bars::Memory(bars), heads));
    }
    Ok(recorded)
}

/// Checks `--data` (streamed: nothing of it is kept) and `--news`, and gives
/// each engine's symbol its bars (read from the file as they are played) and
/// headlines (two engines on one contract share them).
pub fn load(cfg: &Config, data_path: &Path, news_path: Option<&Path>) -> Result<Recorded, String> {
    let mut scans = scan(data_path)?;
    let news = match news_path {
        Some(p) => load_news(p)?,
        None => Vec::new(),
    };
    let mut recorded = Recorded::new();
    for e in &cfg.engines {
        let symbol = e.symbol().to_owned();
        if recorded.contains_key(&symbol) {
            continue; // two engines on one contract share its data
        }
        let Some(scan) = scans.remove(&symbol) else {
            return Err(format!(
                "--data {}: no bars for {symbol} (engine {}); add them, or leave the engine out of the config",
                data_path.display(),
                e.id
            ));
        };
        let heads: Vec<_> = news
            .iter()
            .filter(|h| h.symbol == symbol)
            .cloned()
            .collect();
        let bars = Bars::File {
            path: data_path.to_owned(),
            symbol: symbol.clone(),
            scan,
        };
        recorded.insert(symbol, (bars, Arc::new(heads)));
    }
    let unused: Vec<&String> = scans.keys().collect();
    if !unused.is_empty() {
        tracing::warn!(symbols = ?unused, "bars of symbols no engine trades are not replayed");
    }
    Ok(recorded)
}

/// The `--data` file's header.
const HEADER: [&str; 7] = ["at", "symbol", "open", "high", "low", "close", "volume"];

/// Checks `--data`, line by line, keeping nothing but each symbol's count
/// and times: a CSV of 1-minute bars, `at,symbol,open,high,low,close,volume`,
/// where `symbol` is a contract (`KC`: its front month's series) or one of
/// its months (`KCH26`: a roll day has bars of both), each instrument's bars
/// in strictly increasing time, each contract's in time order. Errors name
/// the file and the line.
pub fn scan(path: &Path) -> Result<BTreeMap<String, Scan>, String> {
    let file = File::open(path).map_err(|e| format!("--data {}: {e}", path.display()))?;
    let at = |line: usize, what: String| format!("--data {}: line {line}: {what}", path.display());
    let mut rows = data::csv_rows(BufReader::with_capacity(1 << 16, file));
    match rows.next() {
        Some(Ok((_, h))) if h.iter().eq(HEADER) => {}
        _ => {
            return Err(format!(
                "--data {}: line 1: expected the header at,symbol,open,high,low,close,volume",
                path.display()
            ))
        }
    }
    let mut scans: BTreeMap<String, Scan> = BTreeMap::new();
    // Each instrument's last bar (bounded by the contracts' listed months
    // in the data: a handful per year).
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut n = 0;
    for row in rows {
        let (line, row) = row.map_err(|e| format!("--data {}: {e}", path.display()))?;
        n += 1;
        if n > MAX_BARS {
            return Err(at(
                line,
                format!("more than {MAX_BARS} bars: replay a shorter period"),
            ));
        }
        let mut f: Vec<&str> = row.iter().collect();
        if f.len() != 7 {
            return Err(at(line, format!("expected 7 fields, got {}", f.len())));
        }
        let symbol = f.remove(1);
        if commodore_actors::model::contract(symbol).is_none() {
            return Err(at(
                line,
                format!(
                    "unknown symbol {symbol:?}: the contracts are {}",
                    commodore_actors::model::KNOWN_SYMBOLS.join(", ")
                ),
            ));
        }
        data::check_instrument(root(symbol), symbol).map_err(|what| at(line, what))?;
        let file = |e: String| format!("--data {}: {e}", path.display());
        let bar = data::bar(symbol, &f, line).map_err(file)?;
        check_bar(&bar).map_err(|what| at(line, what))?;
        if last.get(&bar.symbol).is_some_and(|t| *t >= bar.at_ms) {
            return Err(at(
                line,
                format!(
                    "the bars of {} must be in strictly increasing time",
                    bar.symbol
                ),
            ));
        }
        last.insert(bar.symbol.clone(), bar.at_ms);
        match scans.get_mut(bar.root()) {
            Some(s) if s.last_open_ms > bar.at_ms => {
                return Err(at(
                    line,
                    format!(
                        "the bars of {} must be in time order (its months' bars too)",
                        bar.root()
                    ),
                ));
            }
            Some(s) => {
                s.count += 1;
                s.last_open_ms = bar.at_ms;
            }
            None => {
                scans.insert(
                    bar.root().to_owned(),
                    Scan {
                        count: 1,
                        first_open_ms: bar.at_ms,
                        last_open_ms: bar.at_ms,
                    },
                );
            }
        }
    }
    Ok(scans)
}

/// What is wrong with one bar's prices, if anything.
fn check_bar(bar: &Bar) -> Result<(), String> {
    let max_price = Decimal::from(MAX_PRICE);
    for (what, p) in [
        ("open", bar.open),
        ("high", bar.high),
        ("low", bar.low),
        ("close", bar.close),
    ] {
        if p <= Decimal::ZERO {
            return Err(format!("{what} {p} is not a positive price"));
        }
        if p > max_price {
            return Err(format!(
                "{what} {p} is above {max_price}: not a price of these contracts"
            ));
        }
    }
    if bar.low > bar.open.min(bar.close) || bar.high < bar.open.max(bar.close) {
        return Err("low above open/close or high below them".to_owned());
    }
    Ok(())
}

/// Reads `--news`: `at,symbol,headline`, the bundled news format.
pub fn load_news(path: &Path) -> Result<Vec<Headline>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--news {}: {e}", path.display()))?;
    let mut news =
        data::parse_news(&text).map_err(|e| format!("--news {}: {e}", path.display()))?;
    // The sequencer plays headlines by time: in time order.
    news.sort_by_key(|h| h.at_ms);
    if news.len() > MAX_HEADLINES {
        return Err(format!(
            "--news {}: more than {MAX_HEADLINES} headlines",
            path.display()
        ));
    }
    Ok(news)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(open: &str, high: &str, low: &str, close: &str) -> Bar {
        let f = ["2026-01-05T09:15:00Z", open, high, low, close, "10"];
        data::bar("KC", &f, 2).unwrap()
    }

    #[test]
    fn a_bar_needs_positive_bounded_prices_around_open_and_close() {
        assert_eq!(check_bar(&bar("300", "301", "299", "300.5")), Ok(()));
        assert_eq!(
            check_bar(&bar("0", "301", "0", "300")),
            Err("open 0 is not a positive price".to_owned())
        );
        assert!(check_bar(&bar("300", "1000000001", "299", "300"))
            .unwrap_err()
            .starts_with("high 1000000001 is above 1000000000"));
        for (o, h, l, c) in [
            ("300", "301", "300.5", "300"),
            ("300", "300.5", "299", "301"),
        ] {
            assert_eq!(
                check_bar(&bar(o, h, l, c)),
                Err("low above open/close or high below them".to_owned())
            );
        }
    }

    #[test]
    fn bar_errors_name_the_file_and_the_line() {
        let dir = std::env::temp_dir().join(format!("commodore-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bars.csv");
        let header = "at,symbol,open,high,low,close,volume\n";
        let row = |at: &str| format!("{at},KC,300,301,299,300,10\n");
        let cases = [
            ("", "line 1: expected the header"),
            (
                &format!("{header}{}", "a,b\n"),
                "line 2: expected 7 fields, got 2",
            ),
            (
                &format!(
                    "{header}{}\n{}",
                    row("2026-01-05T09:16:00Z"),
                    row("2026-01-05T09:15:00Z")
                ),
                "line 4: the bars of KC must be in strictly increasing time",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, text).unwrap();
            let e = scan(&path).unwrap_err();
            assert_eq!(
                e.strip_prefix(&format!("--data {}: ", path.display()))
                    .map(|r| r.starts_with(want)),
                Some(true),
                "{e}"
            );
        }
        std::fs::write(&path, format!("{header}{}", row("2026-01-05T09:15:00Z"))).unwrap();
        let s = scan(&path).unwrap()["KC"];
        assert_eq!(
            (s.count, s.first_open_ms, s.last_open_ms),
            (1, s.first_open_ms, s.first_open_ms)
        );
        // Streamed back as it was checked.
        let bars = Bars::File {
            path: path.clone(),
            symbol: "KC".into(),
            scan: s,
        };
        let back: Vec<Bar> = bars.stream().collect();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].at_ms, s.first_open_ms);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bars_may_name_their_month_and_a_roll_day_has_two() {
        let dir = std::env::temp_dir().join(format!("commodore-months-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bars.csv");
        let header = "at,symbol,open,high,low,close,volume\n";
        let row = |at: &str, sym: &str| format!("{at},{sym},300,301,299,300,10\n");
        let two = format!(
            "{header}{}{}{}",
            row("2026-02-11T09:15:00Z", "KCH26"),
            row("2026-02-11T09:15:00Z", "KCK26"),
            row("2026-02-11T09:16:00Z", "KCK26")
        );
        std::fs::write(&path, &two).unwrap();
        let s = scan(&path).unwrap()["KC"];
        assert_eq!(s.count, 3, "one contract, two months");
        let bars = Bars::File {
            path: path.clone(),
            symbol: "KC".into(),
            scan: s,
        };
        let months: Vec<String> = bars.stream().map(|b| b.symbol).collect();
        assert_eq!(months, ["KCH26", "KCK26", "KCK26"]);
        for (text, want) in [
            (
                format!("{header}{}", row("2026-02-11T09:15:00Z", "KCF26")),
                "line 2: contract \"KCF26\": expected KC or one of its months",
            ),
            (
                format!(
                    "{header}{}{}",
                    row("2026-02-11T09:15:00Z", "KCK26"),
                    row("2026-02-11T09:15:00Z", "KCK26")
                ),
                "line 3: the bars of KCK26 must be in strictly increasing time",
            ),
            (
                format!(
                    "{header}{}{}",
                    row("2026-02-11T09:16:00Z", "KCK26"),
                    row("2026-02-11T09:15:00Z", "KCH26")
                ),
                "line 3: the bars of KC must be in time order",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = scan(&path).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
