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
            // The message this check has always given names the root's key;
            // kept word for word (error messages are part of the contract).
            return invalid("supervision.max_restarts", "must be at most 10000");
        }
        Ok(())
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
