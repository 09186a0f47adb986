//! The one clock of the daemon. Nothing outside this module and the kernel
//! reads the time: every actor and service that needs it is handed a
//! [`Clock`], made once when the tree is assembled.
//!
//! A `Clock` is wall-clock milliseconds when it was made, advanced by tokio's
//! clock. In `run` that is the wall clock; under `tokio::time::pause`
//! (replay, tests) a 60 s cooldown passes in microseconds. It is `Copy`.

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
}

impl Clock {
    /// The clock of this process: wall time now, advanced by tokio's clock
    /// (paused or not). Make it once, at assembly, and hand it down.
    pub fn wall() -> Clock {
        Clock {
            base_ms: wall_now_ms(),
            base: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch, on this clock.
    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }

    /// Tokio's instant now, for deadlines and timeouts on this clock.
    pub fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
}

/// Milliseconds since the Unix epoch, read from the system: the base of a
/// [`Clock`], and nothing else's.
fn wall_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
