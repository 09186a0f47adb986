//! Faults that the kernel can inject into any supervised actor by its path.
//!
//! Actor code does nothing to support them: the kernel's cell (for workers) and the
//! supervisor itself interpret them.
//!
//! | kind    | effect                                                                 |
//! |---------|------------------------------------------------------------------------|
//! | `panic` | the actor panics now, and on each of its next `count - 1` messages     |
//! | `error` | its next `count` messages are answered with [`CallError::Injected`]    |
//! | `hang`  | it stops processing its mailbox (probes included) for `ms`             |
//! | `stop`  | it stops now, as if it had stopped itself (a normal exit)              |
//! | `slow`  | each of its next `count` messages waits `ms` before it is handled      |
//!
//! Supervisors accept `panic`, `hang` and `stop`.
//!
//! [`CallError::Injected`]: super::CallError::Injected

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Upper bounds, so a typo cannot wedge an actor for a day.
pub const MAX_FAULT_COUNT: u32 = 1_000_000;
pub const MAX_FAULT_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Panic,
    Error,
    Hang,
    Stop,
    Slow,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Error => "error",
            FaultKind::Hang => "hang",
            FaultKind::Stop => "stop",
            FaultKind::Slow => "slow",
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "panic" => FaultKind::Panic,
            "error" => FaultKind::Error,
            "hang" => FaultKind::Hang,
            "stop" => FaultKind::Stop,
            "slow" => FaultKind::Slow,
            other => {
                return Err(format!(
                    "unknown fault kind {other:?}: use one of panic, error, hang, stop, slow"
                ))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub ms: u64,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            count: 1,
            ms: 0,
        }
    }
    pub fn panic() -> Self {
        Fault::new(FaultKind::Panic)
    }
    pub fn error(count: u32) -> Self {
        Fault {
            count,
            ..Fault::new(FaultKind::Error)
        }
    }
    pub fn hang(ms: u64) -> Self {
        Fault {
            ms,
            ..Fault::new(FaultKind::Hang)
        }
    }
    pub fn stop() -> Self {
        Fault::new(FaultKind::Stop)
    }
    pub fn slow(ms: u64, count: u32) -> Self {
        Fault {
            kind: FaultKind::Slow,
            count,
            ms,
        }
    }
    pub fn with_count(self, count: u32) -> Self {
        Fault { count, ..self }
    }
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.ms)
    }

    /// Checks the values; the error says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_FAULT_COUNT {
            return Err(format!(
                "count must be between 1 and {MAX_FAULT_COUNT}, got {}",
                self.count
            ));
        }
        match self.kind {
            FaultKind::Hang | FaultKind::Slow if self.ms == 0 || self.ms > MAX_FAULT_MS => {
                Err(format!(
                    "{} needs ms between 1 and {MAX_FAULT_MS}, got {}",
                    self.kind.as_str(),
                    self.ms
                ))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} count={}", self.kind.as_str(), self.count)?;
        if self.ms > 0 {
            write!(f, " ms={}", self.ms)?;
        }
        Ok(())
    }
}

/// The per-actor armed fault: what the next messages will suffer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Armed {
    kind: Option<FaultKind>,
    remaining: u32,
    ms: u64,
}

/// What to do with the message at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMessage {
    Handle,
    Panic,
    Error,
    Delay(Duration),
}

impl Armed {
    pub(crate) fn arm(&mut self, fault: Fault) {
        *self = Armed {
            kind: Some(fault.kind),
            remaining: fault.count,
            ms: fault.ms,
        };
    }

    pub(crate) fn is_armed(&self) -> bool {
        self.kind.is_some()
    }

    /// Consumes one unit of the armed fault for the next message.
    pub(crate) fn next_message(&mut self) -> OnMessage {
        let Some(kind) = self.kind else {
            return OnMessage::Handle;
        };
        self.remaining = self.remaining.saturating_sub(1);
        if self.remaining == 0 {
            self.kind = None;
        }
        match kind {
            FaultKind::Panic => OnMessage::Panic,
            FaultKind::Error => OnMessage::Error,
            FaultKind::Slow => OnMessage::Delay(Duration::from_millis(self.ms)),
            FaultKind::Hang | FaultKind::Stop => OnMessage::Handle,
        }
    }
}

/// A crash point: the process aborts (as `kill -9` would kill it: no
/// destructor, no flush, no clean stop) the `nth` time code reaches the named
/// point. For recovery drills and the tests that kill the daemon between two
/// durable steps; named by `faults.crash_at` (`step.saved#2`), off by
/// default. Shared by every holder: one count per process.
#[derive(Clone, Default)]
pub struct CrashPoint {
    at: Option<std::sync::Arc<(String, u32, std::sync::atomic::AtomicU32)>>,
}

impl CrashPoint {
    /// `<point>` or `<point>#<nth>` (the first time when `#` is left out);
    /// empty: none.
    pub fn parse(spec: &str) -> Result<CrashPoint, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Ok(CrashPoint::default());
        }
        let (name, nth) = match spec.split_once('#') {
            Some((name, n)) => (
                name,
                n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("crash point {spec:?}: the count after # must be a number from 1")
                })?,
            ),
            None => (spec, 1),
        };
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_';
        if name.is_empty() || !name.chars().all(ok) {
            return Err(format!(
                "crash point {spec:?}: use a point's name (letters, digits, '.', '_'), optionally #<nth>"
            ));
        }
        Ok(CrashPoint {
            at: Some(std::sync::Arc::new((
                name.to_owned(),
                nth,
                Default::default(),
            ))),
        })
    }

    /// Aborts the process if this is the point and its time.
    pub fn reach(&self, point: &str) {
        let Some(at) = &self.at else { return };
        let (name, nth, seen) = &**at;
        if name != point {
            return;
        }
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == *nth {
            eprintln!("crash point {point}#{n} reached (faults.crash_at): aborting");
            std::process::abort();
        }
    }

    pub fn is_set(&self) -> bool {
        self.at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert!(Fault::hang(0)
            .validate()
            .unwrap_err()
            .contains("hang needs ms"));
        assert!(Fault::slow(10, 0).validate().unwrap_err().contains("count"));
        assert!(Fault::hang(MAX_FAULT_MS + 1).validate().is_err());
        assert!(Fault::panic().validate().is_ok());
        assert!("explode"
            .parse::<FaultKind>()
            .unwrap_err()
            .contains("panic, error"));
    }

    #[test]
    fn armed_fault_lasts_count_messages() {
        let mut a = Armed::default();
        a.arm(Fault::error(2));
        assert_eq!(a.next_message(), OnMessage::Error);
        assert_eq!(a.next_message(), OnMessage::Error);
        assert_eq!(a.next_message(), OnMessage::Handle);
        a.arm(Fault::slow(7, 1));
        assert_eq!(a.next_message(), OnMessage::Delay(Duration::from_millis(7)));
        assert_eq!(a.next_message(), OnMessage::Handle);
    }

    #[test]
    fn crash_points_parse_and_other_points_pass() {
        assert!(!CrashPoint::parse("").unwrap().is_set());
        let c = CrashPoint::parse("step.saved#2").unwrap();
        assert!(c.is_set());
        c.reach("step.other"); // another point: nothing happens
        c.reach("step.saved"); // the first time of two
        for bad in ["step#0", "step#x", "#2", "a b", "step.x#"] {
            assert!(CrashPoint::parse(bad).is_err(), "{bad}");
        }
    }
}
