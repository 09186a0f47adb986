//! The decision, pure: one candidate through validator (not for a strategy
//! that trades against the move) → scorer → gate →
//! mode → allocator → the risk step (`risk::order`: level, pause, position
//! limit; then the engine guard's rules and the portfolio checks on the part
//! that opens exposure), returned as a [`Decision`] the actor performs (the
//! breaker, the journal, the executor). No I/O, no clock: what it reads of the world comes in
//! [`State`] and [`Surroundings`], so unit tests call it directly.
//!
//! Invariant: every candidate gets exactly one `Decision`; a guard or a
//! portfolio rule never refuses the part of an order that reduces a position.

use super::config::EngineConfig;
use super::ledger::Ledger;
use super::pipeline::{self, Candidate, Strength};
use crate::kernel::Steps;
use crate::model::{Kind, Outcome, RiskLevel, Tier};
use crate::risk::order::OrderRisk;
pub use crate::risk::order::Surroundings;
use crate::risk::EngineGuard;
use rust_decimal::Decimal;

/// The engine's pure steps: nodes `<engine>/<name>` of the tree that take
/// `panic` and `error` faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Validator,
    Scorer,
    Risk,
    Gate,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Validator, Step::Scorer, Step::Risk, Step::Gate];

    pub const fn name(self) -> &'static str {
        match self {
            Step::Validator => "validator",
            Step::Scorer => "scorer",
            Step::Risk => "risk",
            Step::Gate => "gate",
        }
    }

    /// Its place in [`STEPS`] (how the kernel registered it).
    fn index(self) -> usize {
        self as usize
    }
}

/// The steps' names, in [`Step`] order, as registered with the kernel.
pub const STEPS: [&str; 4] = [
    Step::ALL[0].name(),
    Step::ALL[1].name(),
    Step::ALL[2].name(),
    Step::ALL[3].name(),
];

/// What to do with a candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// It ends here, with this outcome and why.
    Record(Outcome, String),
    /// An order of `qty` contracts at `price`, if the breaker lets it
    /// through; `breach` when its strategy's capital limit cut it to the
    /// part that reduces.
    Order {
        qty: Decimal,
        price: Decimal,
        breach: Option<String>,
    },
    /// Refused: it would take its strategy over its capital (`risk_rejected`,
    /// and a breach counted and evented).
    OverCapital(String),
}

/// The engine's state the decision reads.
pub struct State<'a> {
    pub cfg: &'a EngineConfig,
    pub steps: &'a Steps,
    pub ledger: &'a Ledger,
    pub guard: &'a EngineGuard,
    pub momentum: Option<f64>,
    pub last: Option<Decimal>,
    pub volatility: Option<f64>,
    pub level: RiskLevel,
    pub mode: Tier,
    /// The engine's equity now (capital, realized PnL net of commissions,
    /// unrealized at the marks): the allocator sizes from it.
    pub equity: Decimal,
    pub now_ms: u64,
}

/// The decision on `c`. Degradation (ARCHITECTURE.md): validator down →
/// unvalidated (the scorer takes it one strength lower); scorer or risk down
/// → no trade; gate down → closed.
pub fn decide(s: &State<'_>, c: &Candidate, world: &dyn Surroundings) -> Decision {
    let record = |o: Outcome, why: String| Decision::Record(o, why);
    let kind = s
        .cfg
        .strategies
        .iter()
        .find(|x| x.name == c.strategy)
        .map(|x| x.kind);
    // A strategy that trades against the move (mean reversion) is not
    // vetoed for it: the validator reads the tape for those that follow it.
    let validated = if kind.is_some_and(Kind::against_the_move) {
        true
    } else {
        match run(s, Step::Validator, || pipeline::validate(c, s.momentum)) {
            Ok(Ok(())) => true,
            Ok(Err(why)) => return record(Outcome::Vetoed, why),
            Err(_) => false,
        }
    };
    let strength = match run(s, Step::Scorer, || pipeline::score(c, validated)) {
        Ok(strength) => strength,
        Err(down) => return record(Outcome::Error, format!("scorer down ({down}): no trade")),
    };
    if strength == Strength::NoTrade {
        return record(Outcome::LowScore, format!("confidence {:.2}", c.confidence));
    }
    let spec = &s.cfg.spec;
    match run(s, Step::Gate, || pipeline::gate(Some(spec), s.now_ms)) {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return record(Outcome::GateClosed, why),
        Err(down) => return record(Outcome::GateClosed, format!("gate down ({down}): closed")),
    }
    let Some(price) = s.last else {
        return record(Outcome::GateClosed, "no price yet".into());
    };
    let mode = s.mode;
    let params = s.cfg.tiers.params(mode);
    // A tier lists strategy kinds or names.
    if !params
        .strategies
        .iter()
        .any(|k| k == c.strategy.as_str() || Some(k.as_str()) == kind.map(Kind::as_str))
    {
        let why = format!("strategy {} is not enabled in mode {mode}", c.strategy);
        return record(Outcome::Vetoed, why);
    }
    // Sized from the equity now, not the capital configured.
    let allocation = pipeline::Allocation {
        capital: s.equity.max(Decimal::ZERO),
        weights: s.cfg.allocation.weights.clone(),
    };
    let qty = pipeline::allocate(&allocation, c.strategy, strength, c.size, spec);
    let qty = (qty * params.size_factor).floor();
    if qty.is_zero() {
        let why = format!(
            "{strength:?} {} allocates no contract in mode {mode} (sizes x {})",
            c.strategy,
            params.size_factor.normalize()
        );
        return record(Outcome::LowScore, why);
    }
    match run(s, Step::Risk, || {
        risk_step(s, c, price, qty, world).map(|qty| capital_step(s, c, qty))
    }) {
        Ok(Ok(Ok((qty, breach)))) => Decision::Order { qty, price, breach },
        Ok(Ok(Err(why))) => Decision::OverCapital(why),
        Ok(Err(why)) => record(Outcome::RiskRejected, why),
        Err(down) => record(
            Outcome::RiskRejected,
            format!("risk down ({down}): no trade"),
        ),
    }
}

/// The decision on a strategy's exit `c` (closing `qty` of its own lots,
/// at `price`, that month's): no validator, scorer, mode or allocator (they
/// size openings); the gate (an order cannot go to a closed market), then
/// only the part that reduces the projected position (orders on the way may
/// close those lots already: an exit never opens), through the risk step,
/// which lets a reduction through at any level, paused or not.
pub fn exit(
    s: &State<'_>,
    c: &Candidate,
    qty: Decimal,
    price: Option<Decimal>,
    world: &dyn Surroundings,
) -> Decision {
    let record = |o: Outcome, why: String| Decision::Record(o, why);
    match run(s, Step::Gate, || {
        pipeline::gate(Some(&s.cfg.spec), s.now_ms)
    }) {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return record(Outcome::GateClosed, why),
        Err(down) => return record(Outcome::GateClosed, format!("gate down ({down}): closed")),
    }
    let Some(price) = price else {
        return record(Outcome::GateClosed, "no price yet".into());
    };
    let reducing = crate::risk::order::reducing_part(&s.ledger.projected(), c.side, qty);
    if reducing.is_zero() {
        return record(
            Outcome::RiskRejected,
            "exit: orders on the way already close the position; nothing left to reduce".into(),
        );
    }
    match run(s, Step::Risk, || risk_step(s, c, price, reducing, world)) {
        Ok(Ok(qty)) => Decision::Order {
            qty,
            price,
            breach: None,
        },
        Ok(Err(why)) => record(Outcome::RiskRejected, why),
        Err(down) => record(
            Outcome::RiskRejected,
            format!("risk down ({down}): no trade"),
        ),
    }
}

/// A strategy's capital limit (seed `003_…`): the contracts its own lots
/// and orders on the way hold, with what this order opens (which will be
/// its lots), at the contract's margin, within its share of the equity
/// (`weight × equity`). Over it, the order is cut to the part that reduces
/// (closing lots never needs capital), the breach said; with nothing that
/// reduces, refused. The engine's own orders (flatten, roll) are not a
/// strategy's.
fn capital_step(
    s: &State<'_>,
    c: &Candidate,
    qty: Decimal,
) -> Result<(Decimal, Option<String>), String> {
    let Some(spec) = s.cfg.strategies.iter().find(|x| x.name == c.strategy) else {
        return Ok((qty, None));
    };
    let projected = s.ledger.projected();
    let reducing = crate::risk::order::reducing_part(&projected, c.side, qty);
    let opening = qty - reducing;
    if opening.is_zero() {
        return Ok((qty, None));
    }
    // Crossing zero closes every lot, its own too: what it opens is then
    // all it holds.
    let own = (s.ledger.book().held_by(c.strategy) + s.ledger.own_in_flight_all(c.strategy)).abs();
    let crosses = reducing > Decimal::ZERO && reducing == projected.qty.abs();
    let after = if crosses { opening } else { own + opening };
    let margin = s.cfg.spec.margin;
    let capital = (s.equity.max(Decimal::ZERO) * spec.weight).round_dp(2);
    if after * margin <= capital {
        return Ok((qty, None));
    }
    let why = format!(
        "capital limit: {} would hold {after} contracts, ${} of margin, over its ${capital:.2} ({} of the equity ${:.2})",
        c.strategy,
        (after * margin).normalize(),
        spec.weight.normalize(),
        s.equity
    );
    if reducing > Decimal::ZERO {
        Ok((reducing, Some(why)))
    } else {
        Err(why)
    }
}

fn run<T>(s: &State<'_>, step: Step, f: impl FnOnce() -> T) -> Result<T, crate::kernel::StepDown> {
    s.steps.run(step.index(), f)
}

/// The risk step for `qty` contracts (the rules are `risk::order`'s).
fn risk_step(
    s: &State<'_>,
    c: &Candidate,
    price: Decimal,
    qty: Decimal,
    world: &dyn Surroundings,
) -> Result<Decimal, String> {
    let order = OrderRisk {
        engine: &s.cfg.id,
        spec: &s.cfg.spec,
        limits: &s.cfg.limits,
        portfolio: &s.cfg.portfolio,
        guard: s.guard,
        level: s.level,
        max_open_positions: s.cfg.tiers.params(s.mode).max_open_positions,
        projected: s.ledger.projected(),
        volatility: s.volatility,
        now_ms: s.now_ms,
    };
    order.check(c.side, qty, price, c.price, world)
}

#[cfg(test)]
mod tests;
