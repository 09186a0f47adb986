//! Configuration: the embedded `config/default.toml`, then each `--config FILE`,
//! then `COMMODORE__SECTION__KEY` environment variables. Typed and strict: an
//! unknown key is an error, so a typo never silently changes nothing.
//!
//! Every error names where it came from and what to do:
//! `error: <file>: <key>: <what is wrong>`. To know the file, each file is first
//! checked on its own over the (valid) defaults; whatever fails only once all
//! sources are merged comes from the environment.

use commodore_actors::kernel::{Backoff, Intensity, Strategy, SupervisorConfig};
use commodore_actors::model::{
    GuardLimits, PortfolioLimits, Tier, TierParams, Tiers, KNOWN_SYMBOLS, MAX_TIERS,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const DEFAULT_NAME: &str = "config/default.toml (embedded)";
const ENV_NAME: &str = "environment (COMMODORE__*)";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub control: Control,
    pub log: Log,
    pub supervision: Supervision,
    pub engine_supervision: EngineSupervision,
    #[serde(default)]
    pub engines: Vec<Engine>,
    pub feed: Feed,
    pub pipeline: Pipeline,
    pub breaker: Breaker,
    #[serde(default)]
    pub risk: Risk,
    #[serde(default)]
    pub mode: Mode,
    pub notifier: Notifier,
    pub broker: Broker,
    pub faults: Faults,
    #[serde(default)]
    pub sentinels: Sentinels,
    #[serde(default)]
    pub llm: Llm,
}

/// The LLM analyzer (any OpenAI-compatible chat-completions endpoint). Off by
/// default: the rules analyzer needs no network.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Llm {
    pub enabled: bool,
    pub endpoint: String,
    pub model: String,
    /// Name of the environment variable holding the API key; empty: no key.
    pub api_key_env: String,
    #[serde(with = "duration")]
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub daily_budget_usd: Decimal,
    pub price_input_per_1k: Decimal,
    pub price_output_per_1k: Decimal,
    pub max_response_bytes: usize,
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            enabled: false,
            endpoint: "http://127.0.0.1:8080/v1/chat/completions".into(),
            model: "gpt-4o-mini".into(),
            api_key_env: String::new(),
            timeout: Duration::from_secs(20),
            max_concurrency: 4,
            daily_budget_usd: Decimal::from(5),
            price_input_per_1k: Decimal::new(15, 5),
            price_output_per_1k: Decimal::new(60, 5),
            max_response_bytes: 65_536,
        }
    }
}

/// Sentinel thresholds (every engine). Moves are in percent, windows in market
/// time (the bundled bars are one minute each).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sentinels {
    pub move_pct: f64,
    pub escalate_pct: f64,
    #[serde(with = "duration")]
    pub window: Duration,
    pub keywords: Vec<String>,
    #[serde(with = "duration")]
    pub close_warning: Duration,
}

impl Default for Sentinels {
    fn default() -> Self {
        Sentinels {
            move_pct: 1.5,
            escalate_pct: 3.0,
            window: Duration::from_secs(30 * 60),
            keywords: ["embargo", "export ban", "force majeure", "war"]
                .map(String::from)
                .to_vec(),
            close_warning: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub listen: SocketAddr,
    /// Empty: `<data_dir>/control.token`.
    pub token_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
    /// How often `run` logs one status line per engine; "0s" turns it off.
    #[serde(with = "duration", default = "default_status_every")]
    pub status_every: Duration,
}

fn default_status_every() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSupervision {
    pub strategy: Strategy,
    pub max_restarts: u32,
    #[serde(with = "duration")]
    pub period: Duration,
    /// Threads the engines share (each engine starts on one of them and moves to
    /// a thread of its own if it ever restarts); 0: one per engine up to 16.
    #[serde(default)]
    pub threads: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub id: String,
    /// The contract it trades (KC, CC); empty: the id.
    #[serde(default)]
    pub symbol: String,
    /// Capital the allocator sizes against, in dollars (a decimal string).
    #[serde(default = "default_capital")]
    pub capital: Decimal,
    /// Largest net position, in contracts.
    #[serde(default = "default_max_position")]
    pub max_position: u32,
    /// Strategy weights (`news`, `momentum`), each 0..=1, summing to at most 1.
    #[serde(default = "default_strategies")]
    pub strategies: BTreeMap<String, f64>,
    /// HTTP news sources polled beside the bundled data.
    #[serde(default)]
    pub feeds: Vec<NewsFeed>,
}

/// One HTTP news source of an engine.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewsFeed {
    /// `json` or `rss`.
    pub kind: FeedKind,
    pub url: String,
    #[serde(with = "duration", default = "default_feed_every")]
    pub every: Duration,
    #[serde(with = "duration", default = "default_feed_timeout")]
    pub timeout: Duration,
    #[serde(default = "default_feed_attempts")]
    pub attempts: u32,
    #[serde(default = "default_feed_max_bytes")]
    pub max_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    Json,
    Rss,
}

fn default_feed_every() -> Duration {
    Duration::from_secs(60)
}
fn default_feed_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_feed_attempts() -> u32 {
    3
}
fn default_feed_max_bytes() -> usize {
    1 << 20
}

fn default_capital() -> Decimal {
    Decimal::from(250_000)
}

fn default_max_position() -> u32 {
    10
}

fn default_strategies() -> BTreeMap<String, f64> {
    [("momentum".to_owned(), 0.5), ("news".to_owned(), 0.5)].into()
}

/// The strategies an engine can weigh (what the analyzers produce).
pub const STRATEGIES: &[&str] = &["momentum", "news"];

impl Engine {
    pub fn symbol(&self) -> &str {
        if self.symbol.is_empty() {
            &self.id
        } else {
            &self.symbol
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// Replay speed of the bundled data in `run` (1.0 = real time).
    pub speed: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub immediate_threshold: f64,
    #[serde(with = "duration")]
    pub batch_interval: Duration,
    pub min_consensus: f64,
    pub max_buffer: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    pub failure_threshold: u32,
    #[serde(with = "duration")]
    pub cooldown: Duration,
}

/// The capital-tier mode controller: tiers with their parameters, and the
/// hysteresis of the automatic transitions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mode {
    /// Up when equity >= the next tier's threshold x (1 + up_margin).
    pub up_margin: f64,
    /// Down when equity < the current tier's threshold x (1 - down_margin).
    pub down_margin: f64,
    /// How often the controller looks at the account equity.
    #[serde(with = "duration")]
    pub check_every: Duration,
    /// The tiers, lowest threshold (0) first: 1 to 16 of them (default NANO,
    /// MICRO, MINI, BALANCED).
    pub tiers: Vec<TierConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    /// Account equity in dollars where the tier starts (a decimal string).
    pub threshold: Decimal,
    /// Order sizes x this.
    pub size_factor: f64,
    pub max_open_positions: usize,
    /// Strategies the engines trade in this tier.
    pub strategies: Vec<String>,
}

impl Default for Mode {
    fn default() -> Self {
        let t = Tiers::default();
        Mode {
            up_margin: t.up_margin.to_string().parse().unwrap_or(0.1),
            down_margin: t.down_margin.to_string().parse().unwrap_or(0.2),
            check_every: Duration::from_secs(1),
            tiers: t
                .tiers
                .iter()
                .map(|p| TierConfig {
                    name: p.tier.as_str().to_owned(),
                    threshold: p.threshold,
                    size_factor: p.size_factor.to_string().parse().unwrap_or(1.0),
                    max_open_positions: p.max_open_positions,
                    strategies: p.strategies.clone(),
                })
                .collect(),
        }
    }
}

impl Mode {
    /// The tiers as the model has them; `Err((key, what))` when they do not fit.
    pub fn tiers(&self) -> Result<Tiers, (String, String)> {
        let key = |k: &str| format!("mode.{k}");
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            return Err((
                key("tiers"),
                format!(
                    "needs 1 to {MAX_TIERS} tiers, lowest threshold (0) first, got {}",
                    self.tiers.len()
                ),
            ));
        }
        let mut out = Vec::new();
        for c in &self.tiers {
            // Checked before it is interned: only valid names are kept.
            Tier::check_name(&c.name).map_err(|what| (key("tiers.name"), what))?;
            out.push(TierParams {
                tier: Tier::named(&c.name),
                threshold: c.threshold,
                size_factor: fraction(c.size_factor),
                max_open_positions: c.max_open_positions,
                strategies: c.strategies.clone(),
            });
        }
        let tiers = Tiers {
            tiers: out,
            up_margin: fraction(self.up_margin),
            down_margin: fraction(self.down_margin),
        };
        tiers.validate().map_err(|(k, what)| (key(k), what))?;
        Ok(tiers)
    }
}

/// The engine guards (every engine) and the portfolio checks. Fractions are
/// 0..1 (0.05 = 5 %), money is a decimal string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Risk {
    /// At WARNING, opening sizes are multiplied by this.
    pub warning_size_factor: f64,
    pub max_order_qty: u32,
    pub max_order_notional: Decimal,
    pub collar_pct: f64,
    pub collar_ticks: u32,
    pub max_orders_per_sec: u32,
    pub day_drawdown_warning: f64,
    pub day_drawdown_halt: f64,
    pub peak_drawdown_warning: f64,
    pub peak_drawdown_halt: f64,
    pub concentration_max: f64,
    pub concentration_min_gross: f64,
    pub correlated_max: f64,
    pub correlations: Vec<Correlation>,
    pub var_confidence: f64,
    #[serde(with = "duration")]
    pub var_horizon: Duration,
    pub var_max: f64,
    pub account_drawdown_warning: f64,
    pub account_drawdown_halt: f64,
    pub account_drawdown_panic: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    pub a: String,
    pub b: String,
    pub rho: f64,
}

fn fraction(f: f64) -> Decimal {
    Decimal::from_f64_retain(f).unwrap_or_default().round_dp(6)
}

/// The bundled bars are one minute apart: the VaR horizon in bars.
const BAR: Duration = Duration::from_secs(60);

impl Default for Risk {
    fn default() -> Self {
        let g = GuardLimits::default();
        let p = PortfolioLimits::default();
        let f = |d: Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
        Risk {
            warning_size_factor: 0.5,
            max_order_qty: 10,
            max_order_notional: g.max_order_notional,
            collar_pct: f(g.collar_pct),
            collar_ticks: g.collar_ticks,
            max_orders_per_sec: g.max_orders_per_sec,
            day_drawdown_warning: f(g.day_drawdown_warning),
            day_drawdown_halt: f(g.day_drawdown_halt),
            peak_drawdown_warning: f(g.peak_drawdown_warning),
            peak_drawdown_halt: f(g.peak_drawdown_halt),
            concentration_max: p.concentration_max,
            concentration_min_gross: p.concentration_min_gross,
            correlated_max: p.correlated_max,
            correlations: p
                .correlations
                .iter()
                .map(|(a, b, rho)| Correlation {
                    a: a.clone(),
                    b: b.clone(),
                    rho: *rho,
                })
                .collect(),
            var_confidence: p.var_confidence,
            var_horizon: BAR * p.var_horizon_bars,
            var_max: p.var_max,
            account_drawdown_warning: f(p.drawdown_warning),
            account_drawdown_halt: f(p.drawdown_halt),
            account_drawdown_panic: f(p.drawdown_panic),
        }
    }
}

impl Risk {
    pub fn guard_limits(&self) -> GuardLimits {
        GuardLimits {
            max_order_qty: self.max_order_qty.into(),
            max_order_notional: self.max_order_notional,
            collar_pct: fraction(self.collar_pct),
            collar_ticks: self.collar_ticks,
            max_orders_per_sec: self.max_orders_per_sec,
            day_drawdown_warning: fraction(self.day_drawdown_warning),
            day_drawdown_halt: fraction(self.day_drawdown_halt),
            peak_drawdown_warning: fraction(self.peak_drawdown_warning),
            peak_drawdown_halt: fraction(self.peak_drawdown_halt),
        }
    }

    pub fn portfolio_limits(&self) -> PortfolioLimits {
        PortfolioLimits {
            concentration_max: self.concentration_max,
            concentration_min_gross: self.concentration_min_gross,
            correlations: self
                .correlations
                .iter()
                .map(|c| (c.a.clone(), c.b.clone(), c.rho))
                .collect(),
            correlated_max: self.correlated_max,
            var_confidence: self.var_confidence,
            var_horizon_bars: (self.var_horizon.as_secs() / BAR.as_secs()).max(1) as u32,
            var_max: self.var_max,
            drawdown_warning: fraction(self.account_drawdown_warning),
            drawdown_halt: fraction(self.account_drawdown_halt),
            drawdown_panic: fraction(self.account_drawdown_panic),
        }
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let key = |k: &str| format!("risk.{k}");
        if !(self.warning_size_factor > 0.0 && self.warning_size_factor <= 1.0) {
            return Err((
                key("warning_size_factor"),
                "must be above 0 and at most 1".into(),
            ));
        }
        if self.var_horizon < BAR {
            return Err((key("var_horizon"), "must be at least 1m (one bar)".into()));
        }
        for c in &self.correlations {
            for s in [&c.a, &c.b] {
                if !KNOWN_SYMBOLS.contains(&s.as_str()) {
                    return Err((
                        key("correlations"),
                        format!(
                            "unknown symbol {s:?}; use one of {}",
                            KNOWN_SYMBOLS.join(", ")
                        ),
                    ));
                }
            }
            if c.a == c.b {
                return Err((
                    key("correlations"),
                    format!("{} with itself is always 1", c.a),
                ));
            }
        }
        self.guard_limits()
            .validate()
            .map_err(|(k, what)| (key(k), what))?;
        self.portfolio_limits()
            .validate()
            .map_err(|what| (key("portfolio"), what))?;
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifier {
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// Notifications the outbox holds before it drops the oldest `trade` and
    /// `milestone` ones (`risk`, `error`, ... are never dropped).
    #[serde(default = "default_max_outbox")]
    pub max_outbox: usize,
    /// Retry backoff of a failed delivery: doubling from min to max, jittered.
    #[serde(with = "duration", default = "default_notify_backoff_min")]
    pub backoff_min: Duration,
    #[serde(with = "duration", default = "default_notify_backoff_max")]
    pub backoff_max: Duration,
    /// Account equity milestones in dollars (decimal strings), each notified
    /// once, the first time equity reaches it.
    #[serde(default)]
    pub milestones: Vec<Decimal>,
}

fn default_max_outbox() -> usize {
    10_000
}
fn default_notify_backoff_min() -> Duration {
    Duration::from_secs(1)
}
fn default_notify_backoff_max() -> Duration {
    Duration::from_secs(300)
}
fn default_rate_per_min() -> u32 {
    30
}
fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub kind: WebhookKind,
    /// The URL itself (a secret: it carries the webhook's credentials).
    #[serde(default)]
    pub url: Option<Secret>,
    /// Or the name of an environment variable holding it.
    #[serde(default)]
    pub url_env: Option<String>,
    /// Event kinds to send; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The webhook's name in logs, status and the outbox (never its URL);
    /// default `<kind><position>`, e.g. `discord1`.
    #[serde(default)]
    pub name: String,
    /// Requests per minute at most (a burst of as many).
    #[serde(default = "default_rate_per_min")]
    pub rate_per_min: u32,
    /// One request's time limit; no answer in time is retried.
    #[serde(with = "duration", default = "default_webhook_timeout")]
    pub timeout: Duration,
}

impl Webhook {
    /// Its name: `name`, or `<kind><position from 1>`.
    pub fn name(&self, index: usize) -> String {
        if self.name.is_empty() {
            let kind = match self.kind {
                WebhookKind::Discord => "discord",
                WebhookKind::Slack => "slack",
                WebhookKind::Json => "json",
            };
            format!("{kind}{}", index + 1)
        } else {
            self.name.clone()
        }
    }

    /// The URL (from `url`, or the variable `url_env` names).
    pub fn url(&self) -> Result<String, String> {
        match (&self.url, &self.url_env) {
            (Some(u), _) => Ok(u.0.clone()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(u),
                Ok(_) => Err(format!(
                    "the variable {var} does not hold an http(s):// URL"
                )),
                Err(_) => Err(format!("the variable {var} is not set")),
            },
            (None, None) => Err("no url".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    Discord,
    Slack,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub kind: BrokerKind,
    /// Paper fills: ticks of slippage against every order.
    #[serde(default = "default_slippage_ticks")]
    pub slippage_ticks: u32,
    /// Paper fills: commission per contract, in dollars (a decimal string).
    #[serde(default = "default_commission")]
    pub commission: Decimal,
    /// How long the broker has to answer an order; no answer is a broker
    /// failure (the circuit breaker counts it).
    #[serde(with = "duration", default = "default_broker_timeout")]
    pub timeout: Duration,
}

fn default_broker_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_slippage_ticks() -> u32 {
    1
}

fn default_commission() -> Decimal {
    Decimal::new(250, 2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    Paper,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    pub enabled: bool,
}

/// A value that must never be printed: `Debug`, `Display` and serialization show
/// `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Event kinds a webhook may filter on.
pub const NOTIFY_EVENTS: &[&str] = &commodore_actors::notifier::webhook::KINDS;

/// A configuration error, already worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(origin: &str, key: &str, what: impl fmt::Display) -> ConfigError {
    ConfigError(format!("error: {origin}: {key}: {what}"))
}

impl Config {
    /// Loads the defaults, then `files` in order, then the environment.
    pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
        // Each file on its own over the defaults: its errors are its own.
        for f in files {
            if !f.is_file() {
                return Err(error(
                    &f.display().to_string(),
                    "-",
                    "the file does not exist or is not a file",
                ));
            }
            let name = f.display().to_string();
            build(&[f.as_path()], false)
                .map_err(|e| reword(e, &name))?
                .validate(&name)?;
        }
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let cfg = build(&refs, true).map_err(|e| reword(e, ENV_NAME))?;
        let origin = if files.is_empty() && !env_is_set() {
            DEFAULT_NAME
        } else {
            ENV_NAME
        };
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Values that parse but make no sense; the error names the key.
    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let s = &self.supervision;
        let e = |key: &str, what: &str| Err(error(origin, key, what));
        if s.probe_interval.is_zero() {
            return e("supervision.probe_interval", "must be above zero");
        }
        if s.probe_timeout.is_zero() {
            return e("supervision.probe_timeout", "must be above zero");
        }
        if s.backoff_max < s.backoff_min {
            return e(
                "supervision.backoff_max",
                "must be at least supervision.backoff_min",
            );
        }
        if self.engine_supervision.threads > 1024 {
            return e(
                "engine_supervision.threads",
                "must be at most 1024 (0: automatic)",
            );
        }
        if s.max_restarts > 10_000 || self.engine_supervision.max_restarts > 10_000 {
            return e("supervision.max_restarts", "must be at most 10000");
        }
        let mut seen = std::collections::HashSet::new();
        for en in &self.engines {
            // Also a path segment (master/engines/<id>) and a file name
            // (<data_dir>/orders/<id>.log).
            let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if en.id.is_empty() || en.id.len() > 32 || !en.id.chars().all(ok_char) {
                return e(
                    "engines.id",
                    &format!(
                        "{:?} is not a valid id: 1 to 32 letters, digits, - or _",
                        en.id
                    ),
                );
            }
            if !seen.insert(&en.id) {
                return e("engines.id", &format!("{:?} appears twice", en.id));
            }
            if commodore_actors::model::contract(en.symbol()).is_none() {
                return e(
                    "engines.symbol",
                    &format!(
                        "engine {:?}: no contract {:?}; use one of {} (or set symbol)",
                        en.id,
                        en.symbol(),
                        commodore_actors::model::KNOWN_SYMBOLS.join(", ")
                    ),
                );
            }
            if en.capital <= Decimal::ZERO || en.capital > Decimal::from(1_000_000_000_000i64) {
                return e(
                    "engines.capital",
                    &format!(
                        "engine {:?}: must be above zero and at most 1000000000000",
                        en.id
                    ),
                );
            }
            if en.max_position == 0 || en.max_position > 10_000 {
                return e(
                    "engines.max_position",
                    &format!("engine {:?}: must be between 1 and 10000", en.id),
                );
            }
            for f in &en.feeds {
                if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
                    return e(
                        "engines.feeds.url",
                        &format!(
                            "engine {:?}: {:?} must start with http:// or https://",
                            en.id, f.url
                        ),
                    );
                }
                if f.every < Duration::from_secs(1)
                    || f.timeout.is_zero()
                    || f.timeout > f.every.max(Duration::from_secs(1)) * 10
                {
                    return e(
                        "engines.feeds.every",
                        &format!(
                            "engine {:?}: every must be at least 1s, timeout above zero",
                            en.id
                        ),
                    );
                }
                if f.attempts == 0 || f.attempts > 10 {
                    return e(
                        "engines.feeds.attempts",
                        &format!("engine {:?}: must be between 1 and 10", en.id),
                    );
                }
                if f.max_bytes < 1024 || f.max_bytes > 64 << 20 {
                    return e(
                        "engines.feeds.max_bytes",
                        &format!("engine {:?}: must be between 1024 and 67108864", en.id),
                    );
                }
            }
            if en.feeds.len() > 16 {
                return e(
                    "engines.feeds",
                    &format!("engine {:?}: at most 16 feeds", en.id),
                );
            }
            let mut total = 0.0;
            for (name, w) in &en.strategies {
                if !STRATEGIES.contains(&name.as_str()) {
                    return e(
                        "engines.strategies",
                        &format!(
                            "engine {:?}: unknown strategy {name:?}; use {}",
                            en.id,
                            STRATEGIES.join(", ")
                        ),
                    );
                }
                if !(0.0..=1.0).contains(w) {
                    return e(
                        "engines.strategies",
                        &format!(
                            "engine {:?}: weight of {name} must be between 0 and 1",
                            en.id
                        ),
                    );
                }
                total += w;
            }
            if total > 1.0 + 1e-9 {
                return e(
                    "engines.strategies",
                    &format!("engine {:?}: weights sum to {total}, at most 1", en.id),
                );
            }
        }
        if !(self.feed.speed > 0.0 && self.feed.speed <= 1_000_000.0) {
            return e("feed.speed", "must be above 0 and at most 1000000");
        }
        let p = &self.pipeline;
        if !(0.0..=1.0).contains(&p.immediate_threshold) {
            return e("pipeline.immediate_threshold", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&p.min_consensus) {
            return e("pipeline.min_consensus", "must be between 0 and 1");
        }
        if p.max_buffer == 0 || p.max_buffer > 1_000_000 {
            return e("pipeline.max_buffer", "must be between 1 and 1000000");
        }
        if p.batch_interval.is_zero() {
            return e("pipeline.batch_interval", "must be above zero");
        }
        let l = &self.llm;
        if !(l.endpoint.starts_with("http://") || l.endpoint.starts_with("https://")) {
            return e("llm.endpoint", "must start with http:// or https://");
        }
        if l.max_concurrency == 0 || l.max_concurrency > 256 {
            return e("llm.max_concurrency", "must be between 1 and 256");
        }
        if l.timeout.is_zero() || l.timeout > Duration::from_secs(600) {
            return e("llm.timeout", "must be above zero and at most 10m");
        }
        if l.daily_budget_usd < Decimal::ZERO
            || l.price_input_per_1k < Decimal::ZERO
            || l.price_output_per_1k < Decimal::ZERO
        {
            return e(
                "llm.daily_budget_usd",
                "budget and prices must not be negative",
            );
        }
        if l.max_response_bytes < 1024 || l.max_response_bytes > 16 << 20 {
            return e(
                "llm.max_response_bytes",
                "must be between 1024 and 16777216",
            );
        }
        if l.enabled
            && !l.api_key_env.is_empty()
            && std::env::var(&l.api_key_env).map_or(true, |v| v.is_empty())
        {
            return e(
                "llm.api_key_env",
                &format!("the environment variable {} is not set: export it, or set llm.api_key_env = \"\" for an endpoint without a key", l.api_key_env),
            );
        }
        let sn = &self.sentinels;
        if !(sn.move_pct > 0.0 && sn.move_pct <= 100.0) {
            return e("sentinels.move_pct", "must be above 0 and at most 100");
        }
        if !(sn.escalate_pct >= sn.move_pct && sn.escalate_pct <= 100.0) {
            return e(
                "sentinels.escalate_pct",
                "must be at least sentinels.move_pct and at most 100",
            );
        }
        if sn.window < Duration::from_secs(120) || sn.window > Duration::from_secs(86_400) {
            return e("sentinels.window", "must be between 2m and 24h");
        }
        if sn.close_warning > Duration::from_secs(6 * 3600) {
            return e("sentinels.close_warning", "must be at most 6h");
        }
        if sn.keywords.len() > 100 || sn.keywords.iter().any(|k| k.trim().is_empty()) {
            return e("sentinels.keywords", "at most 100 words, none empty");
        }
        if self.broker.slippage_ticks > 1000 {
            return e("broker.slippage_ticks", "must be at most 1000");
        }
        if self.broker.commission < Decimal::ZERO {
            return e("broker.commission", "must not be negative");
        }
        if self.breaker.failure_threshold == 0 {
            return e("breaker.failure_threshold", "must be at least 1");
        }
        if self.breaker.cooldown.is_zero() || self.breaker.cooldown > Duration::from_secs(86_400) {
            return e("breaker.cooldown", "must be above 0 and at most 24h");
        }
        if self.broker.timeout.is_zero() || self.broker.timeout > Duration::from_secs(60) {
            return e("broker.timeout", "must be above 0 and at most 60s");
        }
        if let Err((key, what)) = self.risk.validate() {
            return e(&key, &what);
        }
        if let Err((key, what)) = self.mode.tiers() {
            return e(&key, &what);
        }
        if self.mode.check_every.is_zero() || self.mode.check_every > Duration::from_secs(3600) {
            return e("mode.check_every", "must be above 0 and at most 1h");
        }
        let n = &self.notifier;
        if !(100..=1_000_000).contains(&n.max_outbox) {
            return e("notifier.max_outbox", "must be between 100 and 1000000");
        }
        if n.backoff_min.is_zero()
            || n.backoff_min > n.backoff_max
            || n.backoff_max > Duration::from_secs(3600)
        {
            return e(
                "notifier.backoff_max",
                "need 0 < backoff_min <= backoff_max <= 1h",
            );
        }
        if n.milestones.iter().any(|m| *m <= Decimal::ZERO)
            || n.milestones.windows(2).any(|w| w[0] >= w[1])
        {
            return e(
                "notifier.milestones",
                "dollar amounts above 0, in rising order",
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.notifier.webhooks.iter().enumerate() {
            let name = w.name(i);
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                || name.len() > 64
            {
                return e(
                    "notifier.webhooks.name",
                    "letters, digits, - and _ only, at most 64",
                );
            }
            if !names.insert(name.clone()) {
                return e("notifier.webhooks.name", &format!("{name:?} appears twice"));
            }
            if !(1..=600).contains(&w.rate_per_min) {
                return e(
                    "notifier.webhooks.rate_per_min",
                    "must be between 1 and 600",
                );
            }
            if w.timeout.is_zero() || w.timeout > Duration::from_secs(60) {
                return e(
                    "notifier.webhooks.timeout",
                    "must be above 0 and at most 60s",
                );
            }
            match (&w.url, &w.url_env) {
                (Some(url), None)
                    if !(url.0.starts_with("https://") || url.0.starts_with("http://")) =>
                {
                    return e(
                        "notifier.webhooks.url",
                        "must start with https:// or http://",
                    )
                }
                (Some(_), Some(_)) => {
                    return e("notifier.webhooks.url", "set url or url_env, not both")
                }
                (None, None) => {
                    return e(
                        "notifier.webhooks.url",
                        "set url, or url_env naming a variable that holds it",
                    )
                }
                _ => {}
            }
            if let Some(bad) = w
                .events
                .iter()
                .find(|k| !NOTIFY_EVENTS.contains(&k.as_str()))
            {
                return e(
                    "notifier.webhooks.events",
                    &format!(
                        "unknown event kind {bad:?}: use {}",
                        NOTIFY_EVENTS.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// The resolved configuration as TOML, secrets redacted (`check-config`).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
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

fn env_is_set() -> bool {
    std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("COMMODORE__"))
}

fn build(files: &[&Path], with_env: bool) -> Result<Config, config::ConfigError> {
    use config::{Environment, File, FileFormat};
    let mut b =
        config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
    for f in files {
        b = b.add_source(File::from(*f).format(FileFormat::Toml));
    }
    if with_env {
        b = b.add_source(
            Environment::with_prefix("COMMODORE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
    }
    b.build()?.try_deserialize()
}

/// Turns the `config` crate's error into `error: <origin>: <key>: <what>`.
fn reword(e: config::ConfigError, origin: &str) -> ConfigError {
    use config::ConfigError as E;
    match e {
        E::FileParse { cause, .. } => {
            // The crate's uri is a shortened path; ours is the path as given.
            let what = cause.to_string().lines().next().unwrap_or("").to_owned();
            error(origin, "-", format!("not valid TOML: {what}"))
        }
        E::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let key = key.unwrap_or_else(|| "-".to_owned());
            error(
                &origin_for(origin, &key),
                &key,
                format!("expected {expected}, found {unexpected}"),
            )
        }
        // The crate's origin is a shortened path; ours is the path as given.
        E::At {
            error: inner, key, ..
        } => {
            let what = match *inner {
                E::Message(m) => m,
                other => other.to_string(),
            };
            let (key, what) = unknown_key(key.as_deref().unwrap_or(""), &what);
            error(&origin_for(origin, &key), &key, what)
        }
        E::Message(m) => {
            let (key, what) = unknown_key("", &m);
            error(origin, &key, what)
        }
        other => error(origin, "-", other),
    }
}

/// For the environment, name the variable that holds `key`.
fn origin_for(origin: &str, key: &str) -> String {
    if origin == ENV_NAME && key != "-" {
        format!(
            "environment (COMMODORE__{})",
            key.to_uppercase().replace('.', "__")
        )
    } else {
        origin.to_owned()
    }
}

/// serde's "unknown field `x`, expected one of ..." → key `section.x` and a message
/// that says what to do.
fn unknown_key(section: &str, msg: &str) -> (String, String) {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let key = if section.is_empty() {
                field.to_owned()
            } else {
                format!("{section}.{field}")
            };
            let known = expected.trim_start_matches(", ").replace('`', "");
            return (key, format!("unknown key ({known})"));
        }
    }
    let key = if section.is_empty() {
        "-".to_owned()
    } else {
        section.to_owned()
    };
    (key, msg.to_owned())
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
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{s:?} has no known unit: use ms, s, m or h")),
    };
    Ok(d)
}

/// Formats a duration the way the config writes them.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 3_600_000 == 0 && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5").unwrap_err().contains("no known unit"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("not a duration"));
        for s in ["250ms", "1s", "90s", "5m", "2h"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn embedded_defaults_load_and_validate() {
        let c = build(&[], false).unwrap();
        c.validate(DEFAULT_NAME).unwrap();
        assert_eq!(
            c.engines.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["KC", "CC"]
        );
        assert_eq!(c.engine_supervision().strategy, Strategy::RestForOne);
        assert_eq!(c.root_supervision().intensity.max_restarts, 10);
        assert_eq!(c.control.listen, "127.0.0.1:7421".parse().unwrap());
    }

    #[test]
    fn secrets_never_print() {
        let w = Webhook {
            kind: WebhookKind::Slack,
            url: Some(Secret("https://hooks.example/T000/B000/XXXX".into())),
            url_env: None,
            events: vec![],
            name: String::new(),
            rate_per_min: 30,
            timeout: Duration::from_secs(5),
        };
        assert!(!format!("{w:?}").contains("XXXX"));
        let mut c = build(&[], false).unwrap();
        c.notifier.webhooks.push(w);
        let out = c.to_redacted_toml();
        assert!(out.contains("<redacted>") && !out.contains("XXXX"), "{out}");
    }

    #[test]
    fn unknown_key_wording() {
        let (k, w) = unknown_key(
            "supervision",
            "unknown field `max_restartz`, expected one of `max_restarts`, `period`",
        );
        assert_eq!(k, "supervision.max_restartz");
        assert!(
            w.starts_with("unknown key (expected one of max_restarts, period"),
            "{w}"
        );
    }
}
