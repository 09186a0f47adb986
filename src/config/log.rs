//! `[log]`: the level, the format and the periodic status line. Any level
//! string is accepted (`RUST_LOG` syntax); the subscriber decides what it means.

use super::durations::duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
    /// How often `run` logs one status line per engine; "0s" turns it off.
    #[serde(with = "duration")]
    pub status_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}
