//! The risk step on one order, pure: the portfolio level, the operator's
//! pause and the engine's position limit; then, on the part that opens
//! exposure, the engine guard's rules and the portfolio checks. What it needs
//! of the world (the pause, the guard actor, the other engines, the account's
//! equity) it asks through [`Surroundings`], only when it gets that far.
//!
//! Invariant: the part of an order that reduces a position always passes (a
//! rule never traps a position, never flips one under HALT, PANIC or a
//! pause).

use super::account::BookEntry;
use super::guard::{EngineGuard, Opening};
use super::portfolio::{check_opening, Book, Exposure};
use crate::model::{ContractSpec, PortfolioLimits, Position, RiskLevel, Side};
use rust_decimal::Decimal;

/// What the decision reads of the world beyond the engine's own state
/// (asked only when the candidate gets that far).
pub trait Surroundings {
    /// The operator paused this engine.
    fn paused(&self) -> bool;
    /// The engine's market data is stale (no bars for `staleness.max_gap` in
    /// open market): nothing new opens until it is back.
    fn data_stale(&self) -> bool;
    /// The engine's guard actor runs; `Err` says in what state it is.
    fn guard_running(&self) -> Result<(), String>;
    /// Every other engine holding a position.
    fn others(&self) -> Vec<BookEntry>;
    /// The account's equity.
    fn account_equity(&self) -> Decimal;
}

/// Per-engine position limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest net position, in contracts.
    pub max_position: Decimal,
    /// At WARNING, opening sizes are multiplied by this (rounded down, at least
    /// one contract).
    pub warning_factor: Decimal,
}

/// The part of `qty` on `side` that reduces `pos` (the rest opens exposure).
pub fn reducing_part(pos: &Position, side: Side, qty: Decimal) -> Decimal {
    let opposes = !pos.qty.is_zero() && (pos.qty.is_sign_positive() != (side == Side::Buy));
    if opposes {
        qty.min(pos.qty.abs())
    } else {
        Decimal::ZERO
    }
}

/// Whether `qty` on `side` adds exposure to `pos`.
pub fn adds_exposure(pos: &Position, side: Side, qty: Decimal) -> bool {
    let after = pos.qty + side.sign() * qty;
    after.abs() > pos.qty.abs()
}

/// The risk step for a sized order: the portfolio level, the operator's pause and
/// the engine's position limit. Returns the quantity allowed or why none is.
///
/// An order is split into the part that reduces the position and the part that
/// opens exposure (after crossing zero, or on the same side). Reducing always
/// passes; opening is refused when paused or at HALT/PANIC, scaled by
/// `warning_factor` at WARNING, and capped by `max_position`.
pub fn position_rules(
    level: RiskLevel,
    paused: bool,
    pos: &Position,
    side: Side,
    qty: Decimal,
    limits: &Limits,
) -> Result<Decimal, String> {
    let opposes = !pos.qty.is_zero() && (pos.qty.is_sign_positive() != (side == Side::Buy));
    let reducing = reducing_part(pos, side, qty);
    let mut opening = qty - reducing;
    if opening > Decimal::ZERO {
        let refused = if paused {
            Some("engine paused by the operator".to_owned())
        } else if level >= RiskLevel::Halt {
            Some(format!("risk level {level}: no new exposure"))
        } else {
            None
        };
        if let Some(why) = refused {
            if reducing.is_zero() {
                return Err(why);
            }
            opening = Decimal::ZERO;
        } else if level == RiskLevel::Warning {
            opening = (opening * limits.warning_factor).floor().max(Decimal::ONE);
        }
        // After the reducing part the position on the opening side starts at 0
        // (crossed) or at the current size (same side).
        let base = if opposes {
            Decimal::ZERO
        } else {
            pos.qty.abs()
        };
        let room = limits.max_position - base;
        if room <= Decimal::ZERO {
            if reducing.is_zero() {
                return Err(format!(
                    "position {} at its limit of {} contracts",
                    pos.qty, limits.max_position
                ));
            }
            opening = Decimal::ZERO;
        }
        opening = opening.min(room.max(Decimal::ZERO));
    }
    Ok(reducing + opening)
}

/// One order as the risk step sees it.
pub struct OrderRisk<'a> {
    /// The engine's id (for the log).
    pub engine: &'a str,
    pub spec: &'a ContractSpec,
    pub limits: &'a Limits,
    pub portfolio: &'a PortfolioLimits,
    pub guard: &'a EngineGuard,
    pub level: RiskLevel,
    /// The mode's limit of positions open across the portfolio.
    pub max_open_positions: usize,
    /// The position with every order in flight counted as filled.
    pub projected: Position,
    /// This engine's bar-return volatility (VaR).
    pub volatility: Option<f64>,
    pub now_ms: u64,
}

impl OrderRisk<'_> {
    /// The quantity of `qty` on `side` at `price` that may go, or why none
    /// may. `signal_price`: the price when the signal was made (the collar).
    pub fn check(
        &self,
        side: Side,
        qty: Decimal,
        price: Decimal,
        signal_price: Option<Decimal>,
        world: &dyn Surroundings,
    ) -> Result<Decimal, String> {
        let projected = &self.projected;
        let qty = position_rules(
            self.level,
            world.paused(),
            projected,
            side,
            qty,
            self.limits,
        )?;
        let reducing = reducing_part(projected, side, qty);
        let opening = qty - reducing;
        if opening.is_zero() {
            return Ok(qty);
        }
        match self.check_opening_part(side, price, signal_price, (opening, qty), world) {
            Ok(()) => Ok(qty),
            // The reducing part still goes: a guard never traps a position.
            Err(why) if reducing > Decimal::ZERO => {
                tracing::debug!(engine = %self.engine, %why, "opening part refused; reducing only");
                Ok(reducing)
            }
            Err(why) => Err(why),
        }
    }

    /// The engine guard's rules and the portfolio checks on the part of an
    /// order that opens exposure. `Err` names the rule.
    fn check_opening_part(
        &self,
        side: Side,
        price: Decimal,
        signal_price: Option<Decimal>,
        (opening, total): (Decimal, Decimal),
        world: &dyn Surroundings,
    ) -> Result<(), String> {
        if world.data_stale() {
            return Err(format!(
                "{} market data is stale: no new exposure until bars return",
                self.spec.symbol
            ));
        }
        world.guard_running()?;
        let (spec, projected) = (self.spec, &self.projected);
        let others = world.others();
        let open_positions = others.len() + usize::from(!projected.qty.is_zero());
        let opening_order = Opening {
            qty: opening,
            price,
            signal_price,
            new_position: projected.qty.is_zero(),
            open_positions,
            max_open_positions: self.max_open_positions,
        };
        self.guard.check(spec, self.now_ms, &opening_order)?;
        let mut exposures: Vec<Exposure> = others
            .into_iter()
            .map(|b| Exposure {
                symbol: b.symbol,
                notional: b.exposure,
                volatility: b.volatility,
            })
            .collect();
        exposures.push(Exposure {
            symbol: spec.symbol.to_owned(),
            notional: projected.qty * price * spec.point_value,
            volatility: self.volatility,
        });
        let book = Book {
            equity: world.account_equity(),
            exposures,
        };
        // The whole order: a flip from long 3 with a sell of 5 ends short 2.
        let delta = side.sign() * total * price * spec.point_value;
        check_opening(self.portfolio, &book, spec.symbol, delta, self.volatility)
    }
}
