//! What the engine tests share: one engine subtree's settings, on the test's
//! thread, with sentinels that never trigger and a paper broker without
//! slippage or commission (or a test's own broker), and the level and mode
//! they start at.
#![allow(dead_code)] // each test binary uses a different part

use commodore_actors::engine::broker::BrokerFactory;
use commodore_actors::engine::sentinel::SentinelConfig;
use commodore_actors::engine::{self, SubtreeConfig};
use commodore_actors::kernel::{Handle, SupervisorConfig};
use commodore_actors::model::{ModeState, RiskLevel, RiskState, Tier};
use commodore_actors::wiring::Wiring;
use rust_decimal::Decimal;
use std::time::Duration;

/// NORMAL (or `level`) and BALANCED, fixed: sizes × 1 (NANO would make
/// every order one contract).
pub fn levels(level: RiskLevel) -> (RiskState, ModeState) {
    let mut risk = RiskState::initial(0);
    risk.level = level;
    let mode = ModeState {
        current: Tier::BALANCED,
        auto: false,
        since_ms: 0,
    };
    (risk, mode)
}

/// The subtree's settings: staleness judged after `max_gap` (zero: never),
/// `broker` (none: the paper broker beside the journal).
pub fn subtree(
    wiring: Wiring,
    supervision: SupervisorConfig,
    max_gap: Duration,
    broker: Option<BrokerFactory>,
) -> SubtreeConfig {
    SubtreeConfig {
        supervision,
        sentinels: SentinelConfig {
            move_pct: 50.0,
            escalate_pct: 90.0,
            window_bars: 30,
            keywords: vec![],
            close_warning_min: 0,
            max_gap,
        },
        risk: Handle::new(),
        llm: None,
        placement: engine::Threads::ParentThread,
        fills: engine::paper::FillModel::immediate(0),
        ib: None,
        commission: Decimal::ZERO,
        broker_timeout: Duration::from_secs(2),
        broker,
        wiring,
        fsync: commodore_actors::journal::Fsync::On,
    }
}

/// One engine subtree under a `test` root, on the journal at `path`.
pub struct Tree {
    pub _root: commodore_actors::kernel::Root,
    pub kernel: commodore_actors::kernel::Kernel,
    pub h: commodore_actors::engine::EngineHandles,
    pub view: std::sync::Arc<commodore_actors::view::StatusView>,
    pub wiring: Wiring,
    pub path: std::path::PathBuf,
}

/// Starts engine `cfg` (its journal at `cfg.journal`) as `test/<id>` with
/// `sub`'s settings and the view `view`, and lets it settle.
pub async fn start(
    cfg: commodore_actors::engine::EngineConfig,
    sub: &SubtreeConfig,
    kernel: commodore_actors::kernel::Kernel,
    view: std::sync::Arc<commodore_actors::view::StatusView>,
) -> Tree {
    use commodore_actors::kernel::{ChildSpec, Strategy, SupervisorSpec};
    let path = cfg.journal.clone();
    let (spec, h) = engine::subtree_with_handles(std::sync::Arc::new(cfg), sub, &kernel, &view);
    let root = crate::common::start(
        SupervisorSpec::new("test", crate::common::cfg(Strategy::OneForOne))
            .child(ChildSpec::supervisor(spec)),
        &kernel,
    )
    .await;
    crate::common::idle(crate::common::ms(10)).await;
    Tree {
        _root: root,
        kernel,
        h,
        view,
        wiring: sub.wiring.clone(),
        path,
    }
}
