//! No look-ahead, by property: over random multi-symbol data (sessions that
//! open at different times, gaps inside a session, whole days missing,
//! headlines between and exactly on bar closes), no decision at market time
//! `t` reads a bar closing after `t`, a headline after `t`, or another
//! engine's book from after `t` (the engines' and the account's readers
//! report what they read to `market::Lookahead`); and every order is priced
//! at the close of the last bar of its symbol closed by its market time,
//! read here from the data and the journal alone. The same check fails when
//! the sequencer's clock is bypassed (every event handed out at once): the
//! test can tell.

use super::data::{Bars, Recorded};
use super::play_recorded;
use crate::config::Config;
use commodore_actors::kernel::SplitMix64;
use commodore_actors::market::{Event, Feed};
use commodore_actors::model::{Bar, Headline};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DAY_MS: u64 = 86_400_000;
/// Monday 2026-01-05 00:00 UTC.
const MONDAY_MS: u64 = 1_767_571_200_000;

const TEXTS: &[&str] = &[
    "Frost damages crops in the growing region",
    "Drought threatens the next harvest",
    "Exporters report a bumper crop",
    "Stocks show a surplus at the exchange",
    "Traders meet in Hamburg",
    "Shipping strike delays cargoes",
];

/// Random bars and headlines of KC and CC over `days` weekdays from a
/// Monday, some days left out (holidays), each symbol's session opening at
/// its own random time, with gaps inside.
fn random_data(seed: u64, days: u64) -> Recorded {
    let mut rng = SplitMix64::new(seed);
    let mut r = |n: u64| rng.next_u64() % n.max(1);
    let mut out = Recorded::new();
    let mut all_days: Vec<u64> = (0..days + days / 5 * 2)
        .filter(|d| d % 7 < 5)
        .take(days as usize)
        .collect();
    // A holiday or two: whole days without data.
    all_days.retain(|_| r(6) != 0);
    for (symbol, base, cents) in [("KC", 9 * 60 + 15, 34_500i64), ("CC", 9 * 60 + 45, 615_000)] {
        let mut bars = Vec::new();
        let mut news = Vec::new();
        let mut price = cents;
        for &d in &all_days {
            // The session opens within 40 minutes of its usual time (UTC
            // minutes; still inside the contract's hours) and runs 1-3 hours.
            let open_min = base + r(40);
            let len = 60 + r(120);
            let mut minute = open_min;
            while minute < open_min + len {
                // A gap now and then: 2 to 25 minutes without a bar.
                if r(25) == 0 {
                    minute += 2 + r(24);
                    continue;
                }
                let at_ms = MONDAY_MS + d * DAY_MS + minute * 60_000;
                let step = r(41) as i64 - 20;
                let open = price;
                price = (price + step * 5).max(1_000);
                let (hi, lo) = (open.max(price) + 5, open.min(price) - 5);
                let dec = |c: i64| Decimal::new(c, 2);
                bars.push(Bar {
                    symbol: symbol.to_owned(),
                    at_ms,
                    open: dec(open),
                    high: dec(hi),
                    low: dec(lo.max(1)),
                    close: dec(price),
                    volume: 1 + r(50),
                });
                // Headlines: some inside the minute, some exactly at its
                // close (a bar and a headline due together).
                match r(12) {
                    0 => news.push((at_ms + 1 + r(59_998), TEXTS[r(TEXTS.len() as u64) as usize])),
                    1 => news.push((at_ms + 60_000, TEXTS[r(TEXTS.len() as u64) as usize])),
                    _ => {}
                }
                minute += 1;
            }
        }
        news.sort_by_key(|(at, _)| *at);
        let news = news
            .into_iter()
            .map(|(at_ms, text)| Headline {
                symbol: symbol.to_owned(),
                at_ms,
                text: text.to_owned(),
            })
            .collect();
        out.insert(
            symbol.to_owned(),
            (Bars::Memory(Arc::new(bars)), Arc::new(news)),
        );
    }
    out
}

/// Every event due at once: the sequencer's clock bypassed.
struct Bypassed(Box<dyn Feed>);

impl Feed for Bypassed {
    fn next_event(&mut self) -> Option<Event> {
        self.0.next_event().map(|e| Event { due_ms: 0, ..e })
    }
}

fn config(dir: &Path) -> Config {
    let mut cfg = Config::load(&[]).expect("the embedded defaults load");
    cfg.data_dir = dir.to_owned();
    cfg
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("commodore-lookahead-{name}-{}", std::process::id()))
}

/// How stale a price may be: an engine under load may decide before the
/// newest bar's mark reaches it (the mark is conflated, never lost), so an
/// order is priced at the close of one of the last `STALE_BARS` bars closed
/// by its market time, never at one closing after it.
const STALE_BARS: usize = 3;

/// Orders whose price is not the close of one of the last bars of their
/// symbol closed by their market time (read from the data and the journal).
fn orders_priced_ahead(journal: &Path, data: &Recorded) -> (u64, Vec<String>) {
    let c = rusqlite::Connection::open(journal).unwrap();
    let mut stmt = c
        .prepare("SELECT client_order_id, symbol, ref_price, at_ms FROM orders ORDER BY at_ms")
        .unwrap();
    let rows: Vec<(String, String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let closes: HashMap<&str, Vec<(u64, Decimal)>> = data
        .iter()
        .map(|(s, (bars, _))| {
            (
                s.as_str(),
                bars.stream().map(|b| (b.closes_at_ms(), b.close)).collect(),
            )
        })
        .collect();
    let mut bad = Vec::new();
    for (id, symbol, price, at) in &rows {
        let price: Decimal = price.parse().unwrap();
        let series = &closes[commodore_actors::model::root(symbol)];
        let known = series.partition_point(|(due, _)| *due <= *at as u64);
        let recent: Vec<Decimal> = series[known.saturating_sub(STALE_BARS)..known]
            .iter()
            .map(|(_, close)| *close)
            .collect();
        if !recent.contains(&price) {
            bad.push(format!(
                "{id} at {at}: priced {price}, the last closes by then {recent:?}"
            ));
        }
    }
    (rows.len() as u64, bad)
}

/// One replay on a system of its own (each pauses its own clock).
fn play(cfg: &Config, data: &Recorded, dir: &Path, bypass: bool) -> (super::Ran, PathBuf) {
    actix_rt::System::new()
        .block_on(play_recorded(
            cfg,
            data,
            &dir.join("replay"),
            (Vec::new(), 0),
            |f| {
                if bypass {
                    Box::new(Bypassed(f))
                } else {
                    f
                }
            },
        ))
        .unwrap_or_else(|(_, e)| panic!("{e}"))
}

#[test]
fn no_decision_reads_the_market_after_its_time_over_random_data() {
    for seed in [11, 12, 13] {
        let dir = temp(&format!("seq{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = config(&dir);
        let data = random_data(seed, 4);
        let (ran, journal) = play(&cfg, &data, &dir, false);
        assert!(
            ran.lookahead_checks > 100,
            "seed {seed}: {} reads checked",
            ran.lookahead_checks
        );
        assert_eq!(
            ran.lookahead_violations, 0,
            "seed {seed}: {:?}",
            ran.lookahead_first
        );
        let (orders, bad) = orders_priced_ahead(&journal, &data);
        assert!(
            orders > 3,
            "seed {seed}: only {orders} orders: the data must trade"
        );
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_check_catches_look_ahead_when_the_sequencer_is_bypassed() {
    let dir = temp("bypassed");
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = config(&dir);
    let data = random_data(11, 4);
    let (ran, journal) = play(&cfg, &data, &dir, true);
    assert!(
        ran.lookahead_violations > 0,
        "every bar handed out at the start: decisions read the future ({} reads)",
        ran.lookahead_checks
    );
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);
}
