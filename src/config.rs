//! Configuration: the embedded `config/default.toml`, then each `--config FILE`,
//! then `COMMODORE__SECTION__KEY` environment variables. Typed and strict: an
//! unknown key is an error, so a typo never silently changes nothing.

use anyhow::{anyhow, Result};
use commodore_actors::kernel::{Backoff, Intensity, Strategy, SupervisorConfig};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log: Log,
    pub supervision: Supervision,
    pub engine_supervision: EngineSupervision,
    #[serde(default)]
    pub engines: Vec<Engine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervision {
    pub max_restarts: u32,
    #[serde(deserialize_with = "duration")]
    pub period: Duration,
    #[serde(deserialize_with = "duration")]
    pub backoff_min: Duration,
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    #[serde(deserialize_with = "duration")]
    pub probe_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub probe_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSupervision {
    pub strategy: Strategy,
    pub max_restarts: u32,
    #[serde(deserialize_with = "duration")]
    pub period: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub id: String,
}

impl Config {
    /// Loads the defaults, then `files` in order, then the environment.
    pub fn load(files: &[PathBuf]) -> Result<Config> {
        use config::{Environment, File, FileFormat};
        let mut b =
            config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        for f in files {
            if !f.exists() {
                return Err(anyhow!("error: {}: the file does not exist", f.display()));
            }
            b = b.add_source(File::from(f.as_path()).format(FileFormat::Toml));
        }
        b = b.add_source(
            Environment::with_prefix("COMMODORE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let raw = b.build().map_err(|e| anyhow!("error: {e}"))?;
        let cfg: Config = raw.try_deserialize().map_err(|e| anyhow!("error: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let s = &self.supervision;
        if s.probe_timeout.is_zero() || s.probe_interval.is_zero() {
            return Err(anyhow!(
                "error: supervision.probe_interval and probe_timeout must be above zero"
            ));
        }
        if s.backoff_max < s.backoff_min {
            return Err(anyhow!(
                "error: supervision.backoff_max must be at least backoff_min"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.engines {
            if e.id.is_empty() || e.id.contains('/') {
                return Err(anyhow!(
                    "error: engines.id: {:?} is not a valid id (non-empty, no '/')",
                    e.id
                ));
            }
            if !seen.insert(&e.id) {
                return Err(anyhow!("error: engines.id: {:?} appears twice", e.id));
            }
        }
        Ok(())
    }

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

/// Parses `"250ms"`, `"60s"`, `"5m"`, `"1h"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("{s:?} is not a duration: use a number and a unit, like \"250ms\", \"60s\", \"5m\"")
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?} has an unknown unit: use ms, s, m or h")),
    };
    Ok(d)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn embedded_defaults_load() {
        let c = Config::load(&[]).unwrap();
        assert_eq!(
            c.engines.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["KC", "CC"]
        );
        assert_eq!(c.engine_supervision().strategy, Strategy::RestForOne);
        assert_eq!(c.root_supervision().intensity.max_restarts, 10);
    }
}
