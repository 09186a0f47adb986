//! How the paper broker fills: a pure model of the market it stands in for,
//! fed the bars the engines trade on. Deterministic: the same orders, bars
//! and seed give the same fills, at any speed and after any restart.
//!
//! - **Latency** (market time): an order reaches the market `latency` after
//!   it was decided. With no latency (the default) a market order fills when
//!   it is sent, at its reference price (the last close), as earlier builds
//!   did; with some, it works until the first bar that opens at or after it
//!   arrives, and fills at that bar's open.
//! - **Spread and slippage**: a market order crosses half the spread
//!   (`spread_ticks`, rounded up to a tick), then slips `slippage_ticks`,
//!   and up to `random_ticks` more, drawn per fill from the seed.
//! - **Limit orders** rest until the market trades through them: a buy
//!   fills when a bar opens at a marketable price (at that price, never
//!   worse than the limit) or trades below its limit (at the limit); a sell
//!   the other way round. A limit order marketable when it is sent, with no
//!   latency, fills at once like a market order, capped at its limit. What
//!   is not filled when a bar opens at or after its expiry ends there.
//! - **A market order is good for a day**: one the market has not filled
//!   ([`MARKET_ORDER_TTL_MS`] after it was decided: no bar of its contract,
//!   or the cap left some) ends there, with what it filled, so no order
//!   works for ever.
//! - **Participation**: below 1, an order fills at most that fraction of a
//!   bar's volume per bar (whole contracts); the rest works on the next
//!   bars. Filling at once, the cap is the last bar's volume. 1 (the
//!   default) takes no account of volume.

use crate::kernel::SplitMix64;
use crate::model::{Bar, ContractSpec, Order, Side};
use rust_decimal::Decimal;

/// How long a market order works at most (market time): a day.
pub const MARKET_ORDER_TTL_MS: u64 = 86_400_000;

/// The paper broker's market: how orders fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillModel {
    /// Ticks every market fill slips against the order.
    pub slippage_ticks: i64,
    /// Up to this many ticks more, drawn per fill from `seed`.
    pub random_ticks: i64,
    /// The bid-ask spread, in ticks: a market order crosses half of it.
    pub spread_ticks: i64,
    /// Market time from the decision to the market.
    pub latency_ms: u64,
    /// The most of a bar's volume one order fills per bar, above 0 and at
    /// most 1 (1: no cap).
    pub participation: Decimal,
    /// Draws the random ticks (a replay's seed; 0 in `run`).
    pub seed: u64,
}

impl FillModel {
    /// Fills at once at the reference price moved `slippage_ticks` against
    /// the order: no spread, latency or cap.
    pub fn immediate(slippage_ticks: i64) -> FillModel {
        FillModel {
            slippage_ticks,
            random_ticks: 0,
            spread_ticks: 0,
            latency_ms: 0,
            participation: Decimal::ONE,
            seed: 0,
        }
    }
}

/// An order working at the paper broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Working {
    pub order: Order,
    /// When it reaches the market (market time): its decision plus the latency.
    pub active_ms: u64,
    /// Contracts filled so far.
    pub filled: Decimal,
    /// Fills so far (the next is part `parts + 1`).
    pub parts: u32,
}

impl Working {
    pub fn remaining(&self) -> Decimal {
        self.order.qty - self.filled
    }
}

/// What a bar does to a working order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing (not yet at the market, not traded through, no volume).
    Wait,
    /// Fills `qty` at `price`.
    Fill { qty: Decimal, price: Decimal },
    /// Ends unfilled (in part or whole): its expiry has passed.
    Expire,
}

impl FillModel {
    fn half_spread(&self) -> i64 {
        (self.spread_ticks + 1) / 2
    }

    /// The ticks part `part` of `id` slips: the fixed slippage and the draw.
    fn slip(&self, id: &str, part: u32) -> i64 {
        if self.random_ticks <= 0 {
            return self.slippage_ticks;
        }
        let draw = SplitMix64::for_path(self.seed, &format!("{id}#{part}")).next_u64();
        self.slippage_ticks + (draw % (self.random_ticks as u64 + 1)) as i64
    }

    /// A market fill's price from the market at `price`: half the spread and
    /// the slippage against the order.
    fn market_price(&self, spec: &ContractSpec, o: &Order, part: u32, price: Decimal) -> Decimal {
        let against = self.half_spread() + self.slip(&o.client_order_id, part);
        match o.side {
            Side::Buy => spec.ticks(price, against),
            Side::Sell => spec.ticks(price, -against),
        }
    }

    /// The most one order fills of `bar`; `None`: no cap.
    fn cap(&self, bar: Option<&Bar>) -> Option<Decimal> {
        if self.participation >= Decimal::ONE {
            return None;
        }
        bar.map(|b| (self.participation * Decimal::from(b.volume)).floor())
    }

    /// What fills when `o` is sent (`last`: the last bar of its instrument):
    /// with no latency, a market order or a marketable limit at the
    /// reference price, up to the cap.
    pub fn at_once(
        &self,
        spec: &ContractSpec,
        o: &Order,
        last: Option<&Bar>,
    ) -> Option<(Decimal, Decimal)> {
        if self.latency_ms > 0 {
            return None;
        }
        let price = self.market_price(spec, o, 1, o.ref_price);
        let price = match &o.limit {
            None => price,
            Some(l) if l.allows(o.side, price) => price,
            Some(_) => return None,
        };
        let qty = self.cap(last).map_or(o.qty, |c| c.min(o.qty));
        (qty > Decimal::ZERO).then_some((qty, price))
    }

    /// What `bar` (of the order's instrument, at its close) does to `w`.
    pub fn on_bar(&self, spec: &ContractSpec, w: &Working, bar: &Bar) -> Step {
        let o = &w.order;
        let expires_ms = match &o.limit {
            Some(l) => l.expires_ms,
            None => o.at_ms.saturating_add(MARKET_ORDER_TTL_MS),
        };
        if bar.at_ms >= expires_ms {
            return Step::Expire;
        }
        if bar.at_ms < w.active_ms {
            return Step::Wait;
        }
        let qty = self
            .cap(Some(bar))
            .map_or(w.remaining(), |c| c.min(w.remaining()));
        if qty <= Decimal::ZERO {
            return Step::Wait;
        }
        let at_open = self.market_price(spec, o, w.parts + 1, bar.open);
        let price = match &o.limit {
            None => at_open,
            Some(l) if l.allows(o.side, at_open) => at_open,
            // Traded through: strictly beyond the limit during the bar.
            Some(l) if o.side == Side::Buy && bar.low < l.price => l.price,
            Some(l) if o.side == Side::Sell && bar.high > l.price => l.price,
            Some(_) => return Step::Wait,
        };
        Step::Fill { qty, price }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Limit};

    fn order(side: Side, qty: i64, limit: Option<&str>) -> Order {
        Order {
            client_order_id: "KC-news-00000001-KCH26".into(),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: 1,
            symbol: "KCH26".into(),
            side,
            qty: Decimal::from(qty),
            ref_price: "300.00".parse().unwrap(),
            at_ms: 60_000,
            limit: limit.map(|p| Limit {
                price: p.parse().unwrap(),
                expires_ms: 600_000,
            }),
        }
    }

    fn bar(at_min: u64, [o, h, l, c]: [&str; 4], volume: u64) -> Bar {
        Bar {
            symbol: "KCH26".into(),
            at_ms: at_min * 60_000,
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
            volume,
        }
    }

    fn working(o: Order, latency: u64) -> Working {
        Working {
            active_ms: o.at_ms + latency,
            order: o,
            filled: Decimal::ZERO,
            parts: 0,
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn without_latency_a_market_order_fills_at_once_across_half_the_spread_and_the_slippage() {
        let kc = contract("KC").unwrap();
        let mut m = FillModel::immediate(1);
        m.spread_ticks = 3; // half: 2 ticks, rounded up
        let buy = m.at_once(&kc, &order(Side::Buy, 2, None), None);
        assert_eq!(buy, Some((Decimal::TWO, d("300.15"))));
        let sell = m.at_once(&kc, &order(Side::Sell, 2, None), None);
        assert_eq!(sell, Some((Decimal::TWO, d("299.85"))));
        // A limit below the ask rests; one above it fills at the ask.
        assert_eq!(
            m.at_once(&kc, &order(Side::Buy, 2, Some("300.10")), None),
            None
        );
        assert_eq!(
            m.at_once(&kc, &order(Side::Buy, 2, Some("301.00")), None),
            Some((Decimal::TWO, d("300.15")))
        );
        // With latency nothing fills at once.
        m.latency_ms = 250;
        assert_eq!(m.at_once(&kc, &order(Side::Buy, 2, None), None), None);
    }

    #[test]
    fn with_latency_a_market_order_fills_at_the_open_of_the_first_bar_it_reaches() {
        let kc = contract("KC").unwrap();
        let mut m = FillModel::immediate(1);
        m.latency_ms = 30_000;
        // Decided at 1:00, at the market at 1:30: the bar of 1:00 is too
        // early, the bar of 2:00 fills at its open.
        let w = working(order(Side::Buy, 2, None), m.latency_ms);
        let early = bar(1, ["301", "302", "299", "301"], 50);
        assert_eq!(m.on_bar(&kc, &w, &early), Step::Wait);
        let next = bar(2, ["302.00", "303", "301", "302"], 50);
        assert_eq!(
            m.on_bar(&kc, &w, &next),
            Step::Fill {
                qty: Decimal::TWO,
                price: d("302.05")
            }
        );
    }

    #[test]
    fn a_limit_order_fills_only_when_the_market_trades_through_it_and_expires() {
        let kc = contract("KC").unwrap();
        let m = FillModel::immediate(1);
        let w = working(order(Side::Buy, 2, Some("299.00")), 0);
        // Touching the limit is not trading through it.
        let touch = bar(2, ["300", "301", "299.00", "300"], 50);
        assert_eq!(m.on_bar(&kc, &w, &touch), Step::Wait);
        // Through it: at the limit, no slippage.
        let through = bar(3, ["300", "301", "298.95", "299.5"], 50);
        assert_eq!(
            m.on_bar(&kc, &w, &through),
            Step::Fill {
                qty: Decimal::TWO,
                price: d("299.00")
            }
        );
        // Opening below it: at the open and its slippage, never above the limit.
        let gap = bar(3, ["298.00", "299", "297", "298"], 50);
        assert_eq!(
            m.on_bar(&kc, &w, &gap),
            Step::Fill {
                qty: Decimal::TWO,
                price: d("298.05")
            }
        );
        let sell = working(order(Side::Sell, 2, Some("301.00")), 0);
        assert_eq!(m.on_bar(&kc, &sell, &touch), Step::Wait);
        let up = bar(3, ["300", "301.05", "300", "301"], 50);
        assert!(
            matches!(m.on_bar(&kc, &sell, &up), Step::Fill { price, .. } if price == d("301.00"))
        );
        // A bar opening at or after its expiry (10:00) ends it.
        let late = bar(10, ["290", "291", "289", "290"], 50);
        assert_eq!(m.on_bar(&kc, &w, &late), Step::Expire);
        // A market order is good for a day.
        let market = working(order(Side::Buy, 2, None), 0);
        let next_day = bar(1 + 24 * 60, ["290", "291", "289", "290"], 0);
        assert_eq!(m.on_bar(&kc, &market, &next_day), Step::Expire);
    }

    #[test]
    fn participation_caps_each_bar_and_the_rest_works_on() {
        let kc = contract("KC").unwrap();
        let mut m = FillModel::immediate(0);
        m.participation = d("0.1");
        let o = order(Side::Buy, 5, None);
        // At once: a tenth of the last bar's 23 contracts is 2.
        let last = bar(0, ["300", "300", "300", "300"], 23);
        assert_eq!(
            m.at_once(&kc, &o, Some(&last)),
            Some((Decimal::TWO, d("300.00")))
        );
        let mut w = working(o, 0);
        w.filled = Decimal::TWO;
        w.parts = 1;
        let thin = bar(1, ["301", "301", "301", "301"], 9);
        assert_eq!(
            m.on_bar(&kc, &w, &thin),
            Step::Wait,
            "a tenth of 9 is no contract"
        );
        let busy = bar(2, ["302", "302", "302", "302"], 400);
        assert_eq!(
            m.on_bar(&kc, &w, &busy),
            Step::Fill {
                qty: Decimal::from(3),
                price: d("302")
            },
            "never more than what is left"
        );
    }

    #[test]
    fn the_random_slippage_is_the_seeds_and_bounded() {
        let kc = contract("KC").unwrap();
        let mut m = FillModel::immediate(0);
        m.random_ticks = 4;
        let price = |m: &FillModel, id: &str| {
            let mut o = order(Side::Buy, 1, None);
            o.client_order_id = id.into();
            m.at_once(&kc, &o, None).unwrap().1
        };
        let ids: Vec<String> = (0..64).map(|i| format!("KC-news-{i:08}-KCH26")).collect();
        let a: Vec<Decimal> = ids.iter().map(|i| price(&m, i)).collect();
        let again: Vec<Decimal> = ids.iter().map(|i| price(&m, i)).collect();
        assert_eq!(a, again, "the same seed, the same fills");
        assert!(a.iter().all(|p| *p >= d("300.00") && *p <= d("300.20")));
        assert!(a.iter().any(|p| *p != a[0]), "drawn, not fixed");
        m.seed = 7;
        let other: Vec<Decimal> = ids.iter().map(|i| price(&m, i)).collect();
        assert_ne!(a, other, "another seed, other draws");
    }
}
