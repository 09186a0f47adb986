//! What the sequencer plays: market events in market-time order.
//!
//! A [`Feed`] yields [`Event`]s in order of their due time; [`Series`] is one
//! symbol's bars and headlines (the bundled data in laps, or recorded data
//! once), [`Merged`] merges any number of feeds into one order. Order of
//! events due at the same millisecond: bars before headlines (a headline at
//! `t` may act on the bar that closed at `t`), then feeds in the order given.

use crate::engine::data::{continuous, lap_bar};
use crate::model::{Bar, Headline};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// A week: the bundled data's laps follow each other a week apart.
pub const WEEK_MS: u64 = 7 * 86_400_000;

/// One market event and when it is due.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Market time at which the market has said it: a bar's close, a
    /// headline's time.
    pub due_ms: u64,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Bar(Bar),
    News(Headline),
}

impl Event {
    pub fn bar(bar: Bar) -> Event {
        Event {
            due_ms: bar.closes_at_ms(),
            payload: Payload::Bar(bar),
        }
    }

    pub fn news(h: Headline) -> Event {
        Event {
            due_ms: h.at_ms,
            payload: Payload::News(h),
        }
    }

    pub fn symbol(&self) -> &str {
        match &self.payload {
            Payload::Bar(b) => &b.symbol,
            Payload::News(h) => &h.symbol,
        }
    }

    /// Bars first among events due at the same time.
    fn rank(&self) -> u8 {
        match self.payload {
            Payload::Bar(_) => 0,
            Payload::News(_) => 1,
        }
    }
}

/// Market events in order of their due time; `None` at the end, or, for a
/// live feed, "nothing yet".
pub trait Feed: Send {
    fn next_event(&mut self) -> Option<Event>;

    /// A live feed (a broker's bars as they come) never ends: `None` is
    /// "nothing yet", and the sequencer asks again.
    fn live(&self) -> bool {
        false
    }
}

impl Feed for Box<dyn Feed> {
    fn next_event(&mut self) -> Option<Event> {
        (**self).next_event()
    }

    fn live(&self) -> bool {
        (**self).live()
    }
}

/// One symbol's bars (in time order) and headlines (in time order), played
/// once, or in laps a week apart (`run` on the bundled data: every other lap
/// backwards, [`lap_bar`], so prices go on without a jump at the wrap). The
/// first lap plays the bars as they are, each of its month; the laps after
/// it, weeks later, play the front month's series back-adjusted
/// ([`continuous`]) as the bare symbol, whose month the engines take from
/// the calendar of their own dates.
pub struct Series {
    bars: Arc<Vec<Bar>>,
    /// The laps after the first: [`continuous`] of `bars`.
    later: Arc<Vec<Bar>>,
    news: Arc<Vec<Headline>>,
    looping: bool,
    lap: u64,
    bar: usize,
    headline: usize,
}

impl Series {
    /// Plays `bars` and `news` once.
    pub fn once(bars: Arc<Vec<Bar>>, news: Arc<Vec<Headline>>) -> Series {
        Series {
            later: bars.clone(),
            bars,
            news,
            looping: false,
            lap: 0,
            bar: 0,
            headline: 0,
        }
    }

    /// Plays them in laps, for ever, from the first event due after
    /// `after_ms` (a daemon restarted goes on where the market was).
    pub fn laps(bars: Arc<Vec<Bar>>, news: Arc<Vec<Headline>>, after_ms: u64) -> Series {
        let later = match bars.first() {
            Some(b) => Arc::new(continuous(b.root(), &bars)),
            None => bars.clone(),
        };
        let mut s = Series {
            looping: !bars.is_empty(),
            later,
            ..Series::once(bars, news)
        };
        let Some(first) = s.bars.first().map(|b| b.at_ms) else {
            return s;
        };
        s.lap = after_ms.saturating_sub(first) / WEEK_MS;
        let offset = s.lap * WEEK_MS;
        let within = after_ms.saturating_sub(offset);
        // Bar i of a lap is due at the close of lap_bar(i): bars keep their
        // times in every lap, only prices run backwards.
        s.bar = s.lap_bars().partition_point(|b| b.closes_at_ms() <= within);
        s.headline = s.news.partition_point(|h| h.at_ms <= within);
        s
    }

    /// The first market time of the data: the first bar's open, or the first
    /// headline's time when it is earlier.
    /// The bars lap `self.lap` plays.
    fn lap_bars(&self) -> &Arc<Vec<Bar>> {
        if self.lap == 0 {
            &self.bars
        } else {
            &self.later
        }
    }

    pub fn starts_at_ms(&self) -> Option<u64> {
        let bar = self.bars.first().map(|b| b.at_ms);
        let news = self.news.first().map(|h| h.at_ms);
        bar.into_iter().chain(news).min()
    }
}

impl Feed for Series {
    fn next_event(&mut self) -> Option<Event> {
        loop {
            let offset = self.lap * WEEK_MS;
            let bar_due = self
                .lap_bars()
                .get(self.bar)
                .map(|b| b.closes_at_ms() + offset);
            let news_due = self.news.get(self.headline).map(|h| h.at_ms + offset);
            let bar_first = match (bar_due, news_due) {
                (Some(b), Some(n)) => Some(b <= n),
                (Some(_), None) => Some(true),
                (None, Some(_)) => Some(false),
                (None, None) => None,
            };
            match bar_first {
                Some(true) => {
                    let bar = lap_bar(self.lap_bars(), self.lap, self.bar);
                    self.bar += 1;
                    return Some(Event::bar(bar));
                }
                Some(false) => {
                    let h = &self.news[self.headline];
                    self.headline += 1;
                    return Some(Event::news(Headline {
                        at_ms: h.at_ms + offset,
                        ..h.clone()
                    }));
                }
                None if self.looping => {
                    self.lap += 1;
                    self.bar = 0;
                    self.headline = 0;
                }
                None => return None,
            }
        }
    }
}

/// One symbol's bars from a stream (a file read as it is played: memory does
/// not grow with the data) and its headlines, played once.
pub struct Streamed {
    bars: Box<dyn Iterator<Item = Bar> + Send>,
    next_bar: Option<Bar>,
    news: Arc<Vec<Headline>>,
    headline: usize,
}

impl Streamed {
    /// `bars` in time order; `news` in time order.
    pub fn new(
        mut bars: Box<dyn Iterator<Item = Bar> + Send>,
        news: Arc<Vec<Headline>>,
    ) -> Streamed {
        let next_bar = bars.next();
        Streamed {
            bars,
            next_bar,
            news,
            headline: 0,
        }
    }
}

impl Feed for Streamed {
    fn next_event(&mut self) -> Option<Event> {
        let bar_due = self.next_bar.as_ref().map(Bar::closes_at_ms);
        let news_due = self.news.get(self.headline).map(|h| h.at_ms);
        let bar_first = match (bar_due, news_due) {
            (Some(b), Some(n)) => b <= n,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if bar_first {
            let bar = std::mem::replace(&mut self.next_bar, self.bars.next())?;
            Some(Event::bar(bar))
        } else {
            self.headline += 1;
            Some(Event::news(self.news[self.headline - 1].clone()))
        }
    }
}

/// Several feeds merged into one market-time order.
pub struct Merged<F> {
    feeds: Vec<F>,
    next: Vec<Option<Event>>,
    /// (due, rank, feed) of each feed's next event.
    heap: BinaryHeap<Reverse<(u64, u8, usize)>>,
}

impl<F: Feed> Merged<F> {
    pub fn new(mut feeds: Vec<F>) -> Merged<F> {
        let mut heap = BinaryHeap::new();
        let next = feeds
            .iter_mut()
            .enumerate()
            .map(|(i, f)| {
                let e = f.next_event();
                if let Some(e) = &e {
                    heap.push(Reverse((e.due_ms, e.rank(), i)));
                }
                e
            })
            .collect();
        Merged { feeds, next, heap }
    }
}

impl<F: Feed> Feed for Merged<F> {
    fn next_event(&mut self) -> Option<Event> {
        let Reverse((_, _, i)) = self.heap.pop()?;
        let e = self.next[i].take();
        self.next[i] = self.feeds[i].next_event();
        if let Some(n) = &self.next[i] {
            debug_assert!(
                e.as_ref().is_none_or(|e| n.due_ms >= e.due_ms),
                "a feed goes back in time"
            );
            self.heap.push(Reverse((n.due_ms, n.rank(), i)));
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn bar(symbol: &str, at_ms: u64, close: i64) -> Bar {
        let p = Decimal::from(close);
        Bar {
            symbol: symbol.into(),
            at_ms,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: 1,
        }
    }

    fn news(symbol: &str, at_ms: u64) -> Headline {
        Headline {
            symbol: symbol.into(),
            at_ms,
            text: format!("{symbol} at {at_ms}"),
        }
    }

    fn all(mut f: impl Feed) -> Vec<(u64, String)> {
        std::iter::from_fn(|| f.next_event())
            .map(|e| {
                let what = match &e.payload {
                    Payload::Bar(b) => format!("bar {} {}", b.symbol, b.at_ms),
                    Payload::News(h) => format!("news {}", h.text),
                };
                (e.due_ms, what)
            })
            .collect()
    }

    #[test]
    fn bars_are_due_at_their_close_and_feeds_merge_in_market_time() {
        let kc = Series::once(
            Arc::new(vec![bar("KC", 0, 1), bar("KC", 60_000, 2)]),
            Arc::new(vec![news("KC", 60_000), news("KC", 30_000)][1..].to_vec()),
        );
        // CC opens later and has a gap.
        let cc = Series::once(
            Arc::new(vec![bar("CC", 30_000, 5), bar("CC", 600_000, 6)]),
            Arc::new(vec![]),
        );
        let got = all(Merged::new(vec![kc, cc]));
        assert_eq!(
            got,
            vec![
                (30_000, "news KC at 30000".into()),
                (60_000, "bar KC 0".into()),
                (90_000, "bar CC 30000".into()),
                (120_000, "bar KC 60000".into()),
                (660_000, "bar CC 600000".into()),
            ]
        );
    }

    #[test]
    fn a_streamed_series_plays_as_the_same_series_in_memory() {
        let bars = vec![bar("KC", 0, 1), bar("KC", 60_000, 2), bar("KC", 600_000, 3)];
        let heads = Arc::new(vec![
            news("KC", 60_000),
            news("KC", 61_000),
            news("KC", 900_000),
        ]);
        let memory = all(Series::once(Arc::new(bars.clone()), heads.clone()));
        let streamed = all(Streamed::new(Box::new(bars.into_iter()), heads));
        assert_eq!(memory, streamed);
        assert_eq!(memory.len(), 6);
    }

    #[test]
    fn at_the_same_time_bars_come_before_headlines() {
        let kc = Series::once(
            Arc::new(vec![bar("KC", 0, 1)]),
            Arc::new(vec![news("KC", 60_000)]),
        );
        let got = all(kc);
        assert_eq!(got[0].1, "bar KC 0");
        assert_eq!(got[1].1, "news KC at 60000");
    }

    #[test]
    fn laps_follow_a_week_apart_and_a_restart_resumes_after_the_last_time() {
        let bars = Arc::new(vec![bar("KC", 0, 1), bar("KC", 60_000, 2)]);
        let heads = Arc::new(vec![news("KC", 90_000)]);
        let mut s = Series::laps(bars.clone(), heads.clone(), 0);
        let first: Vec<u64> = (0..6).map(|_| s.next_event().unwrap().due_ms).collect();
        assert_eq!(
            first,
            vec![
                60_000,
                90_000,
                120_000,
                WEEK_MS + 60_000,
                WEEK_MS + 90_000,
                WEEK_MS + 120_000
            ]
        );
        // The second lap plays the prices backwards: no jump at the wrap.
        let mut s = Series::laps(bars.clone(), heads.clone(), WEEK_MS + 60_000);
        let e = s.next_event().unwrap();
        assert_eq!(
            e.due_ms,
            WEEK_MS + 90_000,
            "resumes after the last time it had played"
        );
        let Payload::News(_) = e.payload else {
            panic!("the headline comes next")
        };
        let Payload::Bar(b) = s.next_event().unwrap().payload else {
            panic!()
        };
        assert_eq!(b.close, Decimal::ONE, "lap 1 runs backwards");
        assert_eq!(
            Series::laps(Arc::new(vec![]), heads, 0)
                .next_event()
                .unwrap()
                .due_ms,
            90_000
        );
    }
}
