//! `[supervision]` (the root supervisor) and `[engine_supervision]` (every
//! engine supervisor), and the kernel's `SupervisorConfig` built from them.
//! Invariant: an engine supervisor takes the root's backoff, probes and
//! shutdown; only its strategy and intensity are its own.

use super::durations::duration;
use super::{invalid, Config, Invalid};
use commodore_actors::kernel::{Backoff, Intensity, Strategy, SupervisorConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Restart intensities above this are a typo, not a policy.
const MAX_RESTARTS: u32 = 10_000;
/// The longest restart-intensity window: a day.
const MAX_PERIOD: Duration = Duration::from_secs(86_400);
/// The longest wait between restarts, probe interval or probe timeout: an hour.
const MAX_WAIT: Duration = Duration::from_secs(3_600);
/// The longest a child may take to stop: ten minutes.
const MAX_SHUTDOWN: Duration = Duration::from_secs(600);

/// `key` above zero and at most `max` (said as `max_text`).
fn bounded(key: &str, d: Duration, max: Duration, max_text: &str) -> Result<(), Invalid> {
    if d.is_zero() || d > max {
        return invalid(key, format!("must be above 0 and at most {max_text}"));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Supervision {
    pub max_restarts: u32,
    #[serde(with = "duration")]
    pub period: Duration,
    #[serde(with = "duration")]
    pub backoff_min: Duration,
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    #[serde(with = "duration")]
    pub probe_interval: Duration,
    #[serde(with = "duration")]
    pub probe_timeout: Duration,
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
}

impl Supervision {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.probe_interval.is_zero() {
            return invalid("supervision.probe_interval", "must be above zero");
        }
        if self.probe_timeout.is_zero() {
            return invalid("supervision.probe_timeout", "must be above zero");
        }
        bounded("supervision.period", self.period, MAX_PERIOD, "24h")?;
        bounded(
            "supervision.probe_interval",
            self.probe_interval,
            MAX_WAIT,
            "1h",
        )?;
        bounded(
            "supervision.probe_timeout",
            self.probe_timeout,
            MAX_WAIT,
            "1h",
        )?;
        bounded("supervision.backoff_max", self.backoff_max, MAX_WAIT, "1h")?;
        bounded(
            "supervision.shutdown_timeout",
            self.shutdown_timeout,
            MAX_SHUTDOWN,
            "10m",
        )?;
        if self.backoff_max < self.backoff_min {
            return invalid(
                "supervision.backoff_max",
                "must be at least supervision.backoff_min",
            );
        }
        if self.max_restarts > MAX_RESTARTS {
            return invalid("supervision.max_restarts", "must be at most 10000");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSupervision {
    pub strategy: Strategy,
    pub max_restarts: u32,
    #[serde(with = "duration")]
    pub period: Duration,
    /// Threads the engines share (each engine starts on one of them and moves to
    /// a thread of its own if it ever restarts); 0: one per engine up to 16.
    pub threads: usize,
}

impl EngineSupervision {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if self.threads > 1024 {
            return invalid(
                "engine_supervision.threads",
                "must be at most 1024 (0: automatic)",
            );
        }
        if self.max_restarts > MAX_RESTARTS {
            return invalid("engine_supervision.max_restarts", "must be at most 10000");
        }
        bounded("engine_supervision.period", self.period, MAX_PERIOD, "24h")
    }
}

impl Config {
    /// The root supervisor's settings.
    pub fn root_supervision(&self) -> SupervisorConfig {
        let s = &self.supervision;
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: s.max_restarts,
                period: s.period,
            },
            backoff: Backoff {
                min: s.backoff_min,
                max: s.backoff_max,
            },
            probe_interval: s.probe_interval,
            probe_timeout: s.probe_timeout,
            shutdown_timeout: s.shutdown_timeout,
            ..SupervisorConfig::default()
        }
    }

    /// Every engine supervisor's settings: the root's, with the engine's strategy
    /// and intensity.
    pub fn engine_supervision(&self) -> SupervisorConfig {
        let e = &self.engine_supervision;
        SupervisorConfig {
            strategy: e.strategy,
            intensity: Intensity {
                max_restarts: e.max_restarts,
                period: e.period,
            },
            ..self.root_supervision()
        }
    }
}
