//! The one clock of the engines: wall-clock milliseconds when it was made,
//! advanced by tokio's clock. In `run` that is the wall clock; under
//! `tokio::time::pause` (tests) a 60 s cooldown passes in microseconds.

use crate::model::now_ms;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base_ms: now_ms(),
            base: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch, on this clock.
    pub fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
