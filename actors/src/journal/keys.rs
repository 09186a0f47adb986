//! The durable state's contract: every key of the journal's `state` table and
//! the text form of every value, in one place.
//!
//! Invariant: what this file writes is byte for byte what earlier builds
//! wrote, and it reads every value they wrote (a journal outlives the build
//! that wrote it). No other module spells a key or formats a value.
//!
//! | key                  | value                                                  |
//! |----------------------|--------------------------------------------------------|
//! | `risk.level`         | `NORMAL`, `WARNING`, `HALT` or `PANIC`                 |
//! | `account.peak`       | a decimal (`102000.5`)                                 |
//! | `mode`               | `auto:<TIER>` or `manual:<TIER>`                       |
//! | `engine.<id>.paused` | `true` or `false`                                      |
//! | `engine.<id>.stopped`| `true` or `false` (stopped by an operator)             |
//! | `engine.<id>.breaker`| `closed:<opens>` or `open:<opened_at_ms>:<opens>`      |
//! | `engine.<id>.guard`  | `<day>:<day start>:<peak>:<asked>:<applied>` (`-:-` for no day; applied `1`/`0`) |
//! | `engine.<id>.roll`   | `none`, or `<from>:<to>:<qty>:<close seq>:<open seq>:<attempts>` (a roll under way) |
//! | `notifier.cursor`    | an event seq                                           |
//! | `notifier.milestone` | a decimal                                              |
//! | `journal.write_check`| `ok`                                                   |
//! | `reconcile.last`     | `<day>:<at_ms>:<equity>` (the last reconciled market day) |
//! | `journal.archived_before` | ms: events before it may be in the archive files |
//!
//! Reason and time of every entry are columns of their own, never in the value.

use crate::model::RiskLevel;
use rust_decimal::Decimal;
use std::fmt;

/// A key of the `state` table. Engine ids are those the configuration allows:
/// ASCII letters, digits, `-` and `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKey<'a> {
    RiskLevel,
    AccountPeak,
    /// The configured capital the account's peak was measured on.
    AccountCapital,
    Mode,
    EnginePaused(&'a str),
    /// Stopped by an operator: the engine's subtree is not started.
    EngineStopped(&'a str),
    EngineBreaker(&'a str),
    EngineGuard(&'a str),
    /// The configured capital an engine's guard marks were measured on.
    EngineCapital(&'a str),
    /// The roll an engine has under way (`none` when it has none).
    EngineRoll(&'a str),
    NotifierCursor,
    NotifierMilestone,
    JournalWriteCheck,
    /// The last market day reconciled, when, and the account's equity then.
    ReconcileLast,
    /// Events older than this (ms) may have moved to the archive files.
    JournalArchivedBefore,
}

/// What an engine keeps in the state table (the engine keys without their id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineState {
    Paused,
    Stopped,
    Breaker,
    Guard,
    Capital,
    Roll,
}

const ENGINE_PREFIX: &str = "engine.";

impl EngineState {
    const ALL: [EngineState; 6] = [
        EngineState::Paused,
        EngineState::Stopped,
        EngineState::Breaker,
        EngineState::Guard,
        EngineState::Capital,
        EngineState::Roll,
    ];

    fn suffix(self) -> &'static str {
        match self {
            EngineState::Paused => "paused",
            EngineState::Stopped => "stopped",
            EngineState::Breaker => "breaker",
            EngineState::Guard => "guard",
            EngineState::Capital => "capital",
            EngineState::Roll => "roll",
        }
    }

    /// The key of engine `id`'s state of this kind.
    pub fn key(self, id: &str) -> StateKey<'_> {
        match self {
            EngineState::Paused => StateKey::EnginePaused(id),
            EngineState::Stopped => StateKey::EngineStopped(id),
            EngineState::Breaker => StateKey::EngineBreaker(id),
            EngineState::Guard => StateKey::EngineGuard(id),
            EngineState::Capital => StateKey::EngineCapital(id),
            EngineState::Roll => StateKey::EngineRoll(id),
        }
    }
}

impl<'a> StateKey<'a> {
    /// The keys that carry no engine id.
    const FIXED: [StateKey<'static>; 9] = [
        StateKey::RiskLevel,
        StateKey::AccountPeak,
        StateKey::AccountCapital,
        StateKey::Mode,
        StateKey::NotifierCursor,
        StateKey::NotifierMilestone,
        StateKey::JournalWriteCheck,
        StateKey::ReconcileLast,
        StateKey::JournalArchivedBefore,
    ];

    /// The engine and what of it, for an engine key.
    pub fn engine(self) -> Option<(&'a str, EngineState)> {
        match self {
            StateKey::EnginePaused(id) => Some((id, EngineState::Paused)),
            StateKey::EngineStopped(id) => Some((id, EngineState::Stopped)),
            StateKey::EngineBreaker(id) => Some((id, EngineState::Breaker)),
            StateKey::EngineGuard(id) => Some((id, EngineState::Guard)),
            StateKey::EngineCapital(id) => Some((id, EngineState::Capital)),
            StateKey::EngineRoll(id) => Some((id, EngineState::Roll)),
            _ => None,
        }
    }

    /// The key as the table holds it.
    pub fn name(self) -> String {
        let fixed = match self {
            StateKey::RiskLevel => "risk.level",
            StateKey::AccountPeak => "account.peak",
            StateKey::AccountCapital => "account.capital",
            StateKey::Mode => "mode",
            StateKey::NotifierCursor => "notifier.cursor",
            StateKey::NotifierMilestone => "notifier.milestone",
            StateKey::JournalWriteCheck => "journal.write_check",
            StateKey::ReconcileLast => "reconcile.last",
            StateKey::JournalArchivedBefore => "journal.archived_before",
            StateKey::EnginePaused(id) => return engine_key(id, EngineState::Paused),
            StateKey::EngineStopped(id) => return engine_key(id, EngineState::Stopped),
            StateKey::EngineBreaker(id) => return engine_key(id, EngineState::Breaker),
            StateKey::EngineGuard(id) => return engine_key(id, EngineState::Guard),
            StateKey::EngineCapital(id) => return engine_key(id, EngineState::Capital),
            StateKey::EngineRoll(id) => return engine_key(id, EngineState::Roll),
        };
        fixed.to_owned()
    }

    /// The key a stored name is; `None` for a name no build writes.
    pub fn parse(name: &'a str) -> Option<StateKey<'a>> {
        if let Some(k) = Self::FIXED.into_iter().find(|k| k.name() == name) {
            return Some(k);
        }
        let rest = name.strip_prefix(ENGINE_PREFIX)?;
        let (id, suffix) = rest.rsplit_once('.')?;
        let what = EngineState::ALL
            .into_iter()
            .find(|w| w.suffix() == suffix)?;
        let id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        (!id.is_empty() && id.chars().all(id_char)).then(|| what.key(id))
    }
}

fn engine_key(id: &str, what: EngineState) -> String {
    format!("{ENGINE_PREFIX}{id}.{}", what.suffix())
}

impl fmt::Display for StateKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `risk.level`: the level's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelRecord(pub RiskLevel);

impl LevelRecord {
    pub fn encode(self) -> String {
        self.0.as_str().to_owned()
    }
    /// `Err` says what is wrong, for the corrupt-journal error.
    pub fn decode(s: &str) -> Result<LevelRecord, String> {
        s.parse().map(LevelRecord)
    }
}

/// `account.peak` and `notifier.milestone`: a decimal as `Decimal` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalRecord(pub Decimal);

impl DecimalRecord {
    pub fn encode(self) -> String {
        self.0.to_string()
    }
    pub fn decode(s: &str) -> Option<DecimalRecord> {
        s.parse().ok().map(DecimalRecord)
    }
}

/// `notifier.cursor`: the last event seq turned into notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorRecord(pub u64);

impl CursorRecord {
    pub fn encode(self) -> String {
        self.0.to_string()
    }
    pub fn decode(s: &str) -> Option<CursorRecord> {
        s.parse().ok().map(CursorRecord)
    }
}

/// `engine.<id>.paused` and `engine.<id>.stopped`: `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagRecord(pub bool);

impl FlagRecord {
    pub fn encode(self) -> String {
        (if self.0 { "true" } else { "false" }).to_owned()
    }
    /// `Err` says what is wrong, for the corrupt-journal error.
    pub fn decode(s: &str) -> Result<FlagRecord, String> {
        match s {
            "true" => Ok(FlagRecord(true)),
            "false" => Ok(FlagRecord(false)),
            other => Err(format!("{other:?} is neither true nor false")),
        }
    }
}

/// `journal.write_check`: the order path's probe that writing works again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCheckRecord;

impl WriteCheckRecord {
    pub fn encode(self) -> String {
        "ok".to_owned()
    }
}

/// `engine.<id>.breaker`: `closed:<opens>` or `open:<opened_at_ms>:<opens>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerRecord {
    /// `Some` when it is open (a half-open breaker is journaled open).
    pub opened_at_ms: Option<u64>,
    /// How often it opened.
    pub opens: u64,
}

impl BreakerRecord {
    pub fn encode(self) -> String {
        match self.opened_at_ms {
            None => format!("closed:{}", self.opens),
            Some(at) => format!("open:{at}:{}", self.opens),
        }
    }
    /// `None` for a value this version cannot read.
    pub fn decode(s: &str) -> Option<BreakerRecord> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["closed", opens] => Some(BreakerRecord {
                opened_at_ms: None,
                opens: opens.parse().ok()?,
            }),
            ["open", at, opens] => Some(BreakerRecord {
                opened_at_ms: Some(at.parse().ok()?),
                opens: opens.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// `engine.<id>.guard`: an engine guard's marks,
/// `<day>:<day start>:<peak>:<asked>:<applied>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardMarks {
    /// (market day, equity at its start); `-:-` before the first mark.
    pub day: Option<(i64, Decimal)>,
    pub peak: Decimal,
    /// The highest level asked for.
    pub asked: RiskLevel,
    /// Whether that level was seen applied (`1`; anything else reads `false`).
    pub applied: bool,
}

impl GuardMarks {
    pub fn encode(self) -> String {
        let day = self
            .day
            .map_or("-:-".to_owned(), |(d, e)| format!("{d}:{e}"));
        format!(
            "{day}:{}:{}:{}",
            self.peak,
            self.asked,
            u8::from(self.applied)
        )
    }
    /// `None` for a value this version cannot read.
    pub fn decode(s: &str) -> Option<GuardMarks> {
        let p: Vec<&str> = s.split(':').collect();
        let [day, start, peak, asked, applied] = p.as_slice() else {
            return None;
        };
        let day = match (*day, *start) {
            ("-", "-") => None,
            (d, e) => Some((d.parse().ok()?, e.parse().ok()?)),
        };
        Some(GuardMarks {
            day,
            peak: peak.parse().ok()?,
            asked: asked.parse::<RiskLevel>().ok()?,
            applied: applied.parse::<u8>().ok()? == 1,
        })
    }
}

/// `reconcile.last`: `<day>:<at_ms>:<equity>`: the market day (New York
/// date, days since the epoch) last reconciled, the market time it was done
/// at and the account's equity then (the next summary's PnL starts there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileRecord {
    pub day: i64,
    pub at_ms: u64,
    pub equity: Decimal,
}

impl ReconcileRecord {
    pub fn encode(self) -> String {
        format!("{}:{}:{}", self.day, self.at_ms, self.equity)
    }
    /// `None` for a value this version cannot read.
    pub fn decode(s: &str) -> Option<ReconcileRecord> {
        let mut p = s.split(':');
        let r = ReconcileRecord {
            day: p.next()?.parse().ok()?,
            at_ms: p.next()?.parse().ok()?,
            equity: p.next()?.parse().ok()?,
        };
        p.next().is_none().then_some(r)
    }
}

/// `engine.<id>.roll`: the roll an engine has under way,
/// `<from>:<to>:<qty>:<close seq>:<open seq>:<attempts>`, or `none`. The
/// legs' client order ids follow from it: the close leg is decision
/// `close seq` in `from`, the open leg decision `open seq` (0: not decided
/// yet) in `to`; `qty` is the position moved, signed (short < 0);
/// `attempts`: open legs decided so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollRecord {
    pub from: String,
    pub to: String,
    pub qty: Decimal,
    pub close_seq: u64,
    pub open_seq: u64,
    pub attempts: u32,
}

impl RollRecord {
    /// The value of an engine with no roll under way.
    pub const NONE: &'static str = "none";

    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}",
            self.from, self.to, self.qty, self.close_seq, self.open_seq, self.attempts
        )
    }
    /// `Ok(None)` for `none`; `Err` for a value this version cannot read.
    pub fn decode(s: &str) -> Result<Option<RollRecord>, String> {
        if s == Self::NONE {
            return Ok(None);
        }
        let bad =
            || format!("roll {s:?} is not <from>:<to>:<qty>:<close seq>:<open seq>:<attempts>");
        let p: Vec<&str> = s.split(':').collect();
        let [from, to, qty, close, open, attempts] = p.as_slice() else {
            return Err(bad());
        };
        let ok = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric());
        if !ok(from) || !ok(to) {
            return Err(bad());
        }
        Ok(Some(RollRecord {
            from: (*from).to_owned(),
            to: (*to).to_owned(),
            qty: qty.parse().map_err(|_| bad())?,
            close_seq: close.parse().map_err(|_| bad())?,
            open_seq: open.parse().map_err(|_| bad())?,
            attempts: attempts.parse().map_err(|_| bad())?,
        }))
    }
}

/// `mode`: `auto:<TIER>` or `manual:<TIER>`. The tier is a name here; whether
/// the configuration has it is the mode's question, not the journal's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeRecord {
    pub auto: bool,
    pub tier: String,
}

impl ModeRecord {
    pub fn encode(&self) -> String {
        format!(
            "{}:{}",
            if self.auto { "auto" } else { "manual" },
            self.tier
        )
    }
    /// `Err` says what is wrong, for the corrupt-journal error.
    pub fn decode(s: &str) -> Result<ModeRecord, String> {
        let (how, name) = s
            .split_once(':')
            .ok_or_else(|| format!("mode {s:?} is not <auto|manual>:<TIER>"))?;
        let auto = match how {
            "auto" => true,
            "manual" => false,
            other => return Err(format!("mode {s:?}: {other:?} is neither auto nor manual")),
        };
        Ok(ModeRecord {
            auto,
            tier: name.to_owned(),
        })
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
