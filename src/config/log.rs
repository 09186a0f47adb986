//! `[log]`: the level, the format and the periodic status line. The level is
//! `RUST_LOG` syntax, checked: each comma-separated part a level or
//! `target=level`, so a typo ("loud") is an error, not a daemon that logs
//! nothing, errors included.

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

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

impl Log {
    pub(super) fn validate(&self) -> Result<(), super::Invalid> {
        let bad = |part: &str| {
            super::invalid(
                "log.level",
                format!(
                    "{part:?} is not a level: use trace, debug, info, warn, error or off, or target=level, comma-separated"
                ),
            )
        };
        if self.level.trim().is_empty() {
            return bad("");
        }
        for part in self.level.split(',').map(str::trim) {
            let level =
                part.rsplit_once('=').map_or(
                    part,
                    |(target, level)| {
                        if target.is_empty() {
                            ""
                        } else {
                            level
                        }
                    },
                );
            if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return bad(part);
            }
        }
        Ok(())
    }
}
