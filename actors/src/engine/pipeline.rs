//! The engine's pure steps: hybrid routing (now or buffered), batch consensus,
//! validator, scorer, gate and allocator (the risk step is `risk::order`'s).
//! No actors, no I/O: `decide` calls them in order and every candidate ends
//! in one `Outcome`.

use crate::model::{ContractSpec, Sentiment, Side, Strategy};
use rust_decimal::prelude::*;
use std::collections::{BTreeMap, VecDeque};

/// A strategy's opinion on where its symbol goes (an entry intent), as
/// the router takes it: a neutral one counts against the batch's consensus.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub symbol: String,
    /// Market time of what it read (bar close or headline time).
    pub at_ms: u64,
    pub sentiment: Sentiment,
    /// 0.0 to 1.0.
    pub confidence: f64,
    pub strategy: Strategy,
    pub detail: String,
    /// The last price when it was made (the price collar compares the quote
    /// with it).
    pub price: Option<Decimal>,
    /// The strategy's size hint: this fraction of what the allocator gives
    /// (none: all of it).
    pub size: Option<Decimal>,
    /// The strategy's order type for this entry (none: its configured one).
    pub order: Option<crate::model::OrderType>,
}

/// The routing rule of the hybrid pipeline.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub immediate_threshold: f64,
    pub min_consensus: f64,
    pub max_buffer: usize,
}

/// High signals go now; the rest wait in a bounded buffer for the next batch.
#[derive(Debug)]
pub struct Router {
    cfg: RouterConfig,
    buffer: VecDeque<Signal>,
    /// Buffered messages dropped because the buffer was full (oldest first).
    pub dropped: u64,
}

#[derive(Debug, PartialEq)]
pub enum Route {
    Now(Signal),
    Buffered,
}

/// One candidate trade idea, from one high signal or one batch consensus.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub symbol: String,
    pub side: Side,
    /// 0.0 to 1.0.
    pub confidence: f64,
    pub strategy: Strategy,
    pub at_ms: u64,
    pub detail: String,
    /// The price when the (latest) signal was made, if known.
    pub price: Option<Decimal>,
    /// The strategy's size hint (a fraction of the allocation; none: all).
    pub size: Option<Decimal>,
    /// Its order type (none: the strategy's configured one).
    pub order: Option<crate::model::OrderType>,
}

impl Router {
    pub fn new(cfg: RouterConfig) -> Router {
        Router {
            cfg,
            buffer: VecDeque::new(),
            dropped: 0,
        }
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// `confidence >= immediate_threshold` and not neutral → now; else buffered.
    pub fn route(&mut self, a: Signal) -> Route {
        if a.sentiment != Sentiment::Neutral && a.confidence >= self.cfg.immediate_threshold {
            return Route::Now(a);
        }
        if self.buffer.len() >= self.cfg.max_buffer {
            self.buffer.pop_front();
            self.dropped += 1;
        }
        self.buffer.push_back(a);
        Route::Buffered
    }

    /// Takes the buffer, groups it by symbol, and returns one candidate per symbol
    /// whose consensus reaches `min_consensus`. Consensus = |Σ sign·confidence| /
    /// Σ confidence (1.0 when every message agrees, 0.0 when they cancel out).
    pub fn batch(&mut self) -> Vec<Candidate> {
        let mut groups: BTreeMap<String, Vec<Signal>> = BTreeMap::new();
        for a in self.buffer.drain(..) {
            groups.entry(a.symbol.clone()).or_default().push(a);
        }
        groups
            .into_iter()
            .filter_map(|(symbol, msgs)| {
                let total: f64 = msgs.iter().map(|m| m.confidence).sum();
                let net: f64 = msgs
                    .iter()
                    .map(|m| f64::from(m.sentiment.sign()) * m.confidence)
                    .sum();
                if total <= 0.0 || net == 0.0 {
                    return None;
                }
                let consensus = net.abs() / total;
                if consensus < self.cfg.min_consensus {
                    return None;
                }
                let side = if net > 0.0 { Side::Buy } else { Side::Sell };
                let agreeing: Vec<&Signal> = msgs
                    .iter()
                    .filter(|m| f64::from(m.sentiment.sign()) * net > 0.0)
                    .collect();
                let confidence =
                    agreeing.iter().map(|m| m.confidence).sum::<f64>() / agreeing.len() as f64;
                let strategy = majority(&agreeing);
                // The order type its latest agreeing message asked for.
                let order = agreeing
                    .iter()
                    .filter(|m| m.strategy == strategy)
                    .max_by_key(|m| m.at_ms)
                    .and_then(|m| m.order);
                Some(Candidate {
                    symbol,
                    side,
                    confidence: (confidence * consensus).clamp(0.0, 1.0),
                    strategy,
                    at_ms: msgs.iter().map(|m| m.at_ms).max().unwrap_or(0),
                    price: msgs.iter().max_by_key(|m| m.at_ms).and_then(|m| m.price),
                    size: None,
                    order,
                    detail: format!("batch of {} messages, consensus {consensus:.2}", msgs.len()),
                })
            })
            .collect()
    }
}

/// The strategy a batch's candidate is decided for: the one with the most
/// agreeing messages; a tie goes to `news` (the headlines), then to the
/// higher summed confidence, then to the first name.
fn majority(agreeing: &[&Signal]) -> Strategy {
    let mut by: BTreeMap<Strategy, (usize, f64)> = BTreeMap::new();
    for m in agreeing {
        let e = by.entry(m.strategy).or_default();
        e.0 += 1;
        e.1 += m.confidence;
    }
    let rank = |(s, (n, c)): (&Strategy, &(usize, f64))| (*n, *s == Strategy::NEWS, *c);
    by.iter()
        .rev()
        .max_by(|a, b| {
            let (x, y) = (rank(*a), rank(*b));
            (x.0, x.1).cmp(&(y.0, y.1)).then(x.2.total_cmp(&y.2))
        })
        .map_or(Strategy::NEWS, |(s, _)| *s)
}

/// A candidate from one high signal.
pub fn candidate(a: &Signal) -> Option<Candidate> {
    let side = match a.sentiment {
        Sentiment::Bullish => Side::Buy,
        Sentiment::Bearish => Side::Sell,
        Sentiment::Neutral => return None,
    };
    Some(Candidate {
        symbol: a.symbol.clone(),
        side,
        confidence: a.confidence,
        strategy: a.strategy,
        at_ms: a.at_ms,
        detail: a.detail.clone(),
        price: a.price,
        size: a.size,
        order: a.order,
    })
}

/// Recent price change as a fraction (0.01 = +1 %) over the closes given.
pub fn momentum(closes: &VecDeque<Decimal>) -> Option<f64> {
    let (first, last) = (closes.front()?, closes.back()?);
    if first.is_zero() || closes.len() < 2 {
        return None;
    }
    ((last - first) / first).to_f64()
}

/// A move against the candidate larger than this vetoes it.
pub const VETO_MOMENTUM: f64 = 0.004;

/// The technical validator: vetoes a candidate the tape clearly contradicts.
pub fn validate(c: &Candidate, momentum: Option<f64>) -> Result<(), String> {
    match momentum {
        Some(m) if f64::from(side_sign(c.side)) * m < -VETO_MOMENTUM => Err(format!(
            "{} against a {:+.2}% move",
            c.side.as_str(),
            m * 100.0
        )),
        _ => Ok(()),
    }
}

fn side_sign(s: Side) -> i32 {
    match s {
        Side::Buy => 1,
        Side::Sell => -1,
    }
}

/// Scorer tiers: how much of the strategy's capital a candidate may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    NoTrade,
    Weak,
    Moderate,
    Strong,
}

impl Strength {
    /// Fraction of the strategy's capital.
    pub fn fraction(self) -> Decimal {
        match self {
            Strength::NoTrade => Decimal::ZERO,
            Strength::Weak => Decimal::new(10, 2),
            Strength::Moderate => Decimal::new(25, 2),
            Strength::Strong => Decimal::new(50, 2),
        }
    }
}

/// The score: confidence, one tier lower when the validator could not look.
pub fn score(c: &Candidate, validated: bool) -> Strength {
    let tier = match c.confidence {
        x if x >= 0.85 => Strength::Strong,
        x if x >= 0.7 => Strength::Moderate,
        x if x >= 0.55 => Strength::Weak,
        _ => Strength::NoTrade,
    };
    match (validated, tier) {
        (true, t) => t,
        (false, Strength::Strong) => Strength::Moderate,
        (false, Strength::Moderate) => Strength::Weak,
        (false, _) => Strength::NoTrade,
    }
}

/// The gate: the contract's session (hours, weekdays, exchange holidays) at
/// the candidate's market time. An error
/// (unknown contract) is closed.
pub fn gate(spec: Option<&ContractSpec>, at_ms: u64) -> Result<(), String> {
    match spec {
        Some(s) => s.why_closed(at_ms).map_or(Ok(()), Err),
        None => Err("no contract specification: gate closed".into()),
    }
}

/// Strategy weights: Σ ≤ 1 (checked by the config).
#[derive(Debug, Clone)]
pub struct Allocation {
    pub capital: Decimal,
    pub weights: BTreeMap<Strategy, Decimal>,
}

impl Allocation {
    /// `capital` shared by `strategies`' weights.
    pub fn of(capital: Decimal, strategies: &[crate::model::StrategySpec]) -> Allocation {
        Allocation {
            capital,
            weights: strategies.iter().map(|s| (s.name, s.weight)).collect(),
        }
    }
}

/// The allocator: contracts for this candidate = capital × weight × tier
/// fraction × the strategy's size hint / margin per contract, rounded down;
/// 0 means too small to trade.
pub fn allocate(
    a: &Allocation,
    strategy: Strategy,
    tier: Strength,
    size: Option<Decimal>,
    spec: &ContractSpec,
) -> Decimal {
    let weight = a.weights.get(&strategy).copied().unwrap_or(Decimal::ZERO);
    if spec.margin.is_zero() {
        return Decimal::ZERO;
    }
    let hint = size
        .unwrap_or(Decimal::ONE)
        .clamp(Decimal::ZERO, Decimal::ONE);
    (a.capital * weight * tier.fraction() * hint / spec.margin).floor()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{contract, Position, RiskLevel};
    use crate::risk::order::{position_rules as risk, Limits};

    fn a(symbol: &str, sentiment: Sentiment, confidence: f64) -> Signal {
        Signal {
            order: None,
            symbol: symbol.into(),
            at_ms: 1,
            sentiment,
            confidence,
            strategy: Strategy::NEWS,
            detail: String::new(),
            price: None,
            size: None,
        }
    }

    fn router(max_buffer: usize) -> Router {
        Router::new(RouterConfig {
            immediate_threshold: 0.85,
            min_consensus: 0.6,
            max_buffer,
        })
    }

    #[test]
    fn high_signals_go_now_the_rest_are_buffered_within_a_bound() {
        let mut r = router(2);
        assert!(matches!(
            r.route(a("KC", Sentiment::Bullish, 0.9)),
            Route::Now(_)
        ));
        assert_eq!(
            r.route(a("KC", Sentiment::Neutral, 0.99)),
            Route::Buffered,
            "neutral never goes now"
        );
        assert_eq!(r.route(a("KC", Sentiment::Bullish, 0.84)), Route::Buffered);
        assert_eq!(r.route(a("KC", Sentiment::Bearish, 0.5)), Route::Buffered);
        assert_eq!(
            (r.buffered(), r.dropped),
            (2, 1),
            "oldest dropped and counted"
        );
    }

    #[test]
    fn an_intents_order_type_rides_with_its_candidate_now_or_in_the_batch() {
        use crate::model::OrderType;
        let limit = OrderType::Limit {
            offset_ticks: 1,
            expiry_ms: 60_000,
        };
        let mut strong = a("KC", Sentiment::Bullish, 0.9);
        strong.order = Some(limit);
        assert_eq!(candidate(&strong).unwrap().order, Some(limit));
        // In the batch: the chosen strategy's latest agreeing message's.
        let mut r = router(8);
        let mut first = a("KC", Sentiment::Bullish, 0.5);
        first.order = Some(OrderType::Market);
        let mut later = a("KC", Sentiment::Bullish, 0.5);
        later.at_ms = 2;
        later.order = Some(limit);
        r.route(first);
        r.route(later);
        let c = r.batch();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].order, Some(limit));
        r.route(a("KC", Sentiment::Bullish, 0.5));
        assert_eq!(r.batch()[0].order, None, "none asked: the strategy's own");
    }

    #[test]
    fn batches_act_on_consensus_per_symbol() {
        let mut r = router(100);
        r.route(a("KC", Sentiment::Bullish, 0.7));
        r.route(a("KC", Sentiment::Bullish, 0.6));
        r.route(a("KC", Sentiment::Bearish, 0.1));
        r.route(a("CC", Sentiment::Bullish, 0.5));
        r.route(a("CC", Sentiment::Bearish, 0.5));
        let c = r.batch();
        assert_eq!(c.len(), 1, "CC cancels out: {c:?}");
        assert_eq!((c[0].symbol.as_str(), c[0].side), ("KC", Side::Buy));
        // consensus (0.7 + 0.6 - 0.1) / 1.4 = 0.857; confidence 0.65 × 0.857.
        assert!(
            (c[0].confidence - 0.65 * (1.2 / 1.4)).abs() < 1e-9,
            "{}",
            c[0].confidence
        );
        assert!(r.batch().is_empty(), "the buffer was taken");
    }

    #[test]
    fn validator_scorer_gate_risk_and_allocator() {
        let c = candidate(&a("KC", Sentiment::Bullish, 0.9)).unwrap();
        assert!(validate(&c, Some(-0.01)).is_err(), "buying into a 1% fall");
        assert!(validate(&c, Some(-0.001)).is_ok());
        assert!(validate(&c, None).is_ok());
        assert_eq!(score(&c, true), Strength::Strong);
        assert_eq!(
            score(&c, false),
            Strength::Moderate,
            "unvalidated: one tier lower"
        );
        let weak = Candidate {
            confidence: 0.5,
            ..c.clone()
        };
        assert_eq!(score(&weak, true), Strength::NoTrade);

        let kc = contract("KC").unwrap();
        let monday_10utc = 1_767_571_200_000u64 + 10 * 3_600_000;
        assert!(gate(Some(&kc), monday_10utc).is_ok());
        assert!(gate(Some(&kc), monday_10utc - 2 * 3_600_000).is_err());
        assert!(gate(None, monday_10utc).is_err(), "unknown: closed");

        let alloc = Allocation {
            capital: Decimal::from(250_000),
            weights: [(Strategy::NEWS, Decimal::new(5, 1))].into(),
        };
        // 250,000 × 0.5 × 0.5 / 12,000 = 5.2 → 5 contracts.
        assert_eq!(
            allocate(&alloc, Strategy::NEWS, Strength::Strong, None, &kc),
            Decimal::from(5)
        );
        assert_eq!(
            allocate(
                &alloc,
                Strategy::NEWS,
                Strength::Strong,
                Some(Decimal::new(5, 1)),
                &kc
            ),
            Decimal::TWO,
            "half the allocation: 2.6 → 2"
        );
        assert_eq!(
            allocate(&alloc, Strategy::MOMENTUM, Strength::Strong, None, &kc),
            Decimal::ZERO,
            "no weight"
        );

        let limits = Limits {
            max_position: Decimal::from(6),
            warning_factor: Decimal::new(5, 1),
        };
        let flat = Position::default();
        let five = Decimal::from(5);
        assert_eq!(
            risk(RiskLevel::Normal, false, &flat, Side::Buy, five, &limits),
            Ok(five)
        );
        assert_eq!(
            risk(RiskLevel::Warning, false, &flat, Side::Buy, five, &limits),
            Ok(Decimal::TWO)
        );
        assert!(risk(RiskLevel::Halt, false, &flat, Side::Buy, five, &limits).is_err());
        assert!(
            risk(RiskLevel::Normal, true, &flat, Side::Buy, five, &limits).is_err(),
            "paused"
        );
        let mut long4 = Position::default();
        long4.apply(Side::Buy, Decimal::from(4), Decimal::from(300), &kc);
        assert_eq!(
            risk(RiskLevel::Normal, false, &long4, Side::Buy, five, &limits),
            Ok(Decimal::TWO),
            "room left"
        );
        let (four, twelve, ten) = (Decimal::from(4), Decimal::from(12), Decimal::from(10));
        let at = |level, paused, qty| risk(level, paused, &long4, Side::Sell, qty, &limits);
        assert_eq!(
            at(RiskLevel::Halt, false, five),
            Ok(four),
            "HALT: closes, never flips"
        );
        assert_eq!(
            at(RiskLevel::Normal, true, five),
            Ok(four),
            "paused: reduce only"
        );
        assert_eq!(
            at(RiskLevel::Normal, false, twelve),
            Ok(ten),
            "crossing: close 4, open at most 6"
        );
        assert_eq!(
            at(RiskLevel::Warning, false, twelve),
            Ok(Decimal::from(8)),
            "WARNING halves the opening part"
        );
    }
}
