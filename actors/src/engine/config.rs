//! One engine's configuration (what the daemon builds from `[[engines]]` and
//! the shared sections), and its breaker as configured or as journaled.

use super::pipeline::{Allocation, RouterConfig};
use crate::journal::{BreakerRecord, SharedStore, StateKey};
use crate::model::{ContractSpec, GuardLimits, Kind, PortfolioLimits, StrategySpec, Tiers};
use crate::risk::order::Limits;
use crate::risk::Breaker;
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::time::Duration;

/// `roll.days_before_first_notice` by default.
pub const DEFAULT_ROLL_DAYS: u16 = 5;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub id: String,
    pub spec: ContractSpec,
    pub router: RouterConfig,
    /// The batch interval in wall time (the configured interval / feed speed:
    /// the pipeline runs on the market's clock).
    pub batch_every: Duration,
    pub allocation: Allocation,
    /// Its strategies, in order (`[[engines.strategies]]`); their weights
    /// are the allocation's.
    pub strategies: Vec<StrategySpec>,
    pub limits: Limits,
    pub journal: PathBuf,
    /// HTTP news sources polled beside the bundled data.
    pub feeds: Vec<super::poller::FeedConfig>,
    /// The engine risk guard's per-order rules and drawdown thresholds.
    pub guard: GuardLimits,
    /// The portfolio checks every opening order passes.
    pub portfolio: PortfolioLimits,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// The capital tiers: the current mode's size factor, open positions and
    /// strategies apply to every decision.
    pub tiers: Tiers,
    /// A position is rolled to the next listed month this many business
    /// days before its month's first notice day
    /// (`roll.days_before_first_notice`).
    pub roll_days: u16,
}

impl EngineConfig {
    /// One KC engine alone in its portfolio, as benchmarks and tests drive it:
    /// the daemon's defaults, but no order-rate limit (every signal may be an
    /// order), no concentration limit (it holds all the exposure there is),
    /// and batches only when asked (`BatchDue`).
    pub fn alone(journal: PathBuf) -> EngineConfig {
        let strategies = vec![
            StrategySpec::default_of(Kind::News, Decimal::new(5, 1)),
            StrategySpec::default_of(Kind::Momentum, Decimal::new(5, 1)),
        ];
        EngineConfig {
            id: "KC".into(),
            spec: crate::model::contract("KC").expect("KC is a known contract"),
            router: RouterConfig {
                immediate_threshold: 0.85,
                min_consensus: 0.6,
                max_buffer: 1000,
            },
            batch_every: Duration::from_secs(3600),
            allocation: Allocation::of(Decimal::from(250_000), &strategies),
            strategies,
            limits: Limits {
                max_position: Decimal::from(10),
                warning_factor: Decimal::new(5, 1),
            },
            journal,
            feeds: vec![],
            guard: GuardLimits {
                max_orders_per_sec: 0,
                ..GuardLimits::default()
            },
            portfolio: PortfolioLimits {
                concentration_max: 1.0,
                ..PortfolioLimits::default()
            },
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
            tiers: Tiers::default(),
            roll_days: DEFAULT_ROLL_DAYS,
        }
    }

    /// The same engine running `strategies` instead (their weights the
    /// allocation's).
    pub fn with_strategies(mut self, strategies: Vec<StrategySpec>) -> EngineConfig {
        self.allocation = Allocation::of(self.allocation.capital, &strategies);
        self.strategies = strategies;
        self
    }

    pub fn path(&self) -> String {
        crate::paths::engine(&self.id)
    }

    pub(super) fn breaker(&self) -> Breaker {
        Breaker::new(
            self.breaker_threshold,
            self.breaker_cooldown.as_millis() as u64,
        )
    }
}

/// The breaker as journaled; one this version cannot read is taken as open
/// from now (the safe side), and said so.
pub(super) fn load_breaker(cfg: &EngineConfig, store: &SharedStore, now_ms: u64) -> Breaker {
    let key = StateKey::EngineBreaker(&cfg.id);
    let entry = store
        .with(|s| s.state_entry(key))
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(entry) = entry else {
        return cfg.breaker();
    };
    let (threshold, cooldown) = (
        cfg.breaker_threshold,
        cfg.breaker_cooldown.as_millis() as u64,
    );
    let rec = BreakerRecord::decode(&entry.value);
    rec.map(|r| Breaker::from_record(threshold, cooldown, r)).unwrap_or_else(|| {
        tracing::error!(engine = %cfg.id, key = %key, value = %entry.value, "unreadable breaker state in the journal: taken as open");
        let mut b = cfg.breaker();
        for _ in 0..threshold {
            b.on_failure(now_ms);
        }
        b
    })
}
