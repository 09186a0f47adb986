//! A live reload (`SIGHUP`, `POST /v1/config/reload`, `ctl reload`): the same
//! `--config` files and the environment, read and checked whole, then applied
//! by each owner, or nothing at all.
//!
//! Invariants:
//! - **All or nothing.** An invalid configuration (every error listed), a key
//!   only a restart applies, or an engine removed while it holds a position or
//!   has orders pending: nothing changes, and the answer says why.
//! - **Journaled first.** `control` journals `config_reloaded` (the keys, never
//!   a value) before anything changes.
//! - **Each owner applies its part**, from the [`Live`] cells its factory and
//!   its instance read: an engine whose settings changed (its own keys, or the
//!   sections every engine reads: `pipeline`, `breaker`, `risk`, `sentinels`,
//!   `staleness`, `llm`, `mode`) gets a new subtree from its new spec through
//!   the kernel's dynamic children (stopped in order, deleted, started; it
//!   recovers from the journal as any restart does), as do engines added,
//!   while engines removed are stopped and deleted; `portfolio_risk` takes the
//!   new limits and capital (the peak moves with the capital, journaled: a
//!   reload is no drawdown); `mode` and `notifier` are restarted on their new
//!   settings (`mode` and the webhooks); the reconciliation and the sequencer
//!   read theirs as they run.

use super::engines::{llm_services, one_engine, subtree_config};
use super::Live;
use crate::config::diff::{changed_keys, needs_restart};
use crate::config::Config;
use commodore_actors::control::{ControlActor, Reconfigure};
use commodore_actors::engine::Threads;
use commodore_actors::journal::{Fsync, Store};
use commodore_actors::kernel::{Handle, Kernel};
use commodore_actors::paths;
use commodore_actors::risk::PortfolioRisk;
use commodore_actors::view::StatusView;
use commodore_actors::wiring::Wiring;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Sections every engine reads: a change there rebuilds every engine.
const EVERY_ENGINE: &[&str] = &[
    "pipeline.",
    "breaker.",
    "risk.",
    "sentinels.",
    "staleness.",
    "llm.",
    "mode.",
];

/// How long a reload waits for `control` to take it.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// The configuration does not load: every error found.
    Invalid(Vec<String>),
    /// Keys only a restart applies: each with why.
    NeedsRestart(Vec<String>),
    /// An engine to remove holds a position or has orders pending.
    Holding(String),
    /// The tree did not take it (shutting down, journal refused).
    Refused(String),
}

impl ReloadError {
    /// One line for the operator.
    pub fn message(&self) -> String {
        match self {
            ReloadError::Invalid(e) => format!(
                "the configuration is not valid ({} error(s)); nothing was changed",
                e.len()
            ),
            ReloadError::NeedsRestart(keys) => format!(
                "only a restart applies {}; nothing was changed (restart the daemon, or put them back)",
                keys.join(", ")
            ),
            ReloadError::Holding(why) => format!("{why}; nothing was changed"),
            ReloadError::Refused(why) => format!("the reload was not applied: {why}"),
        }
    }

    /// Every error, one per line (the `errors` of a 422).
    pub fn errors(&self) -> Vec<String> {
        match self {
            ReloadError::Invalid(e) => e.clone(),
            ReloadError::NeedsRestart(keys) => keys
                .iter()
                .map(|k| format!("{k}: needs a restart to change"))
                .collect(),
            other => vec![other.message()],
        }
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reloaded {
    /// The keys whose values changed (never a value).
    pub changed: Vec<String>,
    /// Engines rebuilt on their new settings, added and removed.
    pub replaced: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Re-reads and applies the configuration; one reload at a time.
pub struct Reloader {
    files: Vec<PathBuf>,
    current: tokio::sync::Mutex<Config>,
    kernel: Kernel,
    view: Arc<StatusView>,
    wiring: Wiring,
    risk: Handle<PortfolioRisk>,
    control: Handle<ControlActor>,
    live: Arc<Live>,
    journal: PathBuf,
    fsync: Fsync,
    /// The engine ids the API and the status lines list (config order).
    ids: Arc<RwLock<Vec<String>>>,
}

impl Reloader {
    pub fn new(
        files: Vec<PathBuf>,
        cfg: Config,
        kernel: &Kernel,
        tree: &super::Tree,
        journal: PathBuf,
        ids: Arc<RwLock<Vec<String>>>,
    ) -> Reloader {
        Reloader {
            files,
            current: tokio::sync::Mutex::new(cfg),
            kernel: kernel.clone(),
            view: tree.view.clone(),
            wiring: tree.wiring.clone(),
            risk: tree.risk.clone(),
            control: tree.control.clone(),
            live: tree.live.clone(),
            journal,
            fsync: Fsync::On,
            ids,
        }
    }

    /// Reads, checks and applies; `Err` changes nothing.
    pub async fn reload(&self, why: &str) -> Result<Reloaded, ReloadError> {
        let mut current = self.current.lock().await;
        let new = Config::load_all(&self.files)
            .map_err(|errors| ReloadError::Invalid(errors.into_iter().map(|e| e.0).collect()))?;
        let changed = changed_keys(&current, &new);
        let restart: Vec<String> = changed
            .iter()
            .filter(|k| needs_restart(k))
            .cloned()
            .collect();
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart(restart));
        }
        let mut plan = Reloaded {
            changed: changed.clone(),
            ..Reloaded::default()
        };
        if changed.is_empty() {
            tracing::info!(%why, "configuration reloaded: nothing changed");
            return Ok(plan);
        }
        let every = changed
            .iter()
            .any(|k| EVERY_ENGINE.iter().any(|p| k.starts_with(p)));
        for e in &new.engines {
            match current.engines.iter().find(|o| o.id == e.id) {
                None => plan.added.push(e.id.clone()),
                Some(_) => {
                    let own = format!("engines.{}.", e.id);
                    if every || changed.iter().any(|k| k.starts_with(&own)) {
                        plan.replaced.push(e.id.clone());
                    }
                }
            }
        }
        let forget: Vec<(String, rust_decimal::Decimal)> = current
            .engines
            .iter()
            .filter(|o| !new.engines.iter().any(|e| e.id == o.id))
            .map(|o| (o.id.clone(), o.capital))
            .collect();
        plan.removed = forget.iter().map(|(id, _)| id.clone()).collect();
        refuse_unless_flat(&self.journal, &plan.removed)?;

        // The new engines' subtrees, each on a thread of its own (as a
        // restarted engine gets), with the same hold flags.
        let held = |id: &str| -> Arc<AtomicBool> {
            self.live
                .engines
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .specs
                .get(id)
                .map(|s| s.held.clone())
                .unwrap_or_default()
        };
        // The engines share one LLM path: a new one (limiter, day's budget)
        // only when `llm` changed, and then every engine is rebuilt on it.
        let llm_changed = changed.iter().any(|k| k.starts_with("llm."));
        let llm = if llm_changed {
            llm_services(&new, &self.kernel, self.wiring.wall)
        } else {
            self.live
                .llm
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        };
        let sub = subtree_config(
            &new,
            &self.risk,
            &self.wiring,
            Threads::OwnThread,
            // A reload happens in `run`, whose fill seed is 0.
            (self.fsync, 0),
            (
                llm.clone(),
                super::engines::engine_ib(
                    &new,
                    self.live
                        .ib
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .as_ref(),
                ),
            ),
        );
        let mut start = Vec::new();
        let (mut routes, mut targets) = (
            self.live.routes.borrow().clone(),
            self.live.targets.borrow().clone(),
        );
        routes.retain(|r| !plan.removed.contains(&r.engine));
        targets.retain(|t| !plan.removed.contains(&t.engine));
        for id in plan.replaced.iter().chain(&plan.added) {
            let e = new.engines.iter().find(|e| &e.id == id).expect("planned");
            let built = one_engine(
                &new,
                e,
                &sub,
                &self.kernel,
                &self.view,
                &self.journal,
                held(id),
            );
            routes.retain(|r| &r.engine != id);
            targets.retain(|t| &t.engine != id);
            routes.push(built.route);
            targets.push(built.target);
            start.push((id.clone(), built.spec));
        }
        for id in &plan.added {
            self.wiring.account.expect(id);
        }
        let ids: Vec<String> = new.engines.iter().map(|e| e.id.clone()).collect();
        // Settings first: what restarts or starts below is built on them.
        self.live.portfolio.send_replace(super::capitalized(&new));
        self.live
            .reconcile
            .send_replace(super::reconcile_config(&new));
        let webhooks = super::webhook_config(&new).map_err(|e| ReloadError::Invalid(vec![e]))?;
        let detail = format!("config reloaded ({why}): {}", changed.join(", "));
        self.control
            .ask_timeout(
                Reconfigure {
                    start,
                    remove: plan.removed.clone(),
                    ids: ids.clone(),
                    forget,
                    detail,
                },
                ASK_TIMEOUT,
            )
            .await
            .map_err(|e| ReloadError::Refused(format!("control did not answer: {e}")))?
            .map_err(|e| ReloadError::Refused(e.to_string()))?;
        self.live.routes.send_replace(routes);
        self.live.targets.send_replace(targets);
        for id in &plan.removed {
            self.view.latency.forget(id);
        }
        if llm_changed {
            *self.live.llm.write().unwrap_or_else(|e| e.into_inner()) = llm;
        }
        *self.ids.write().unwrap_or_else(|e| e.into_inner()) = ids;
        if changed.iter().any(|k| k.starts_with("mode.")) {
            self.live.mode.send_replace(super::mode_settings(&new));
            self.restart(paths::MODE).await;
        }
        if changed.iter().any(|k| k.starts_with("notifier.")) {
            self.live.webhooks.send_replace(webhooks);
            self.restart(paths::NOTIFIER).await;
        }
        tracing::info!(%why, changed = ?plan.changed, replaced = ?plan.replaced, added = ?plan.added, removed = ?plan.removed, "configuration reloaded");
        *current = new;
        Ok(plan)
    }

    /// Restarts the master's child `name` on its new settings.
    async fn restart(&self, name: &str) {
        let path = paths::master_child(name);
        if let Err(e) = self.kernel.terminate_child(&path).await {
            tracing::warn!(actor = %path, error = %e, "not stopped for the reload");
        }
        self.kernel
            .wait_stopped(&path, Duration::from_secs(30))
            .await;
        if let Err(e) = self.kernel.restart_child(&path).await {
            tracing::error!(actor = %path, error = %e, "not started again after the reload");
        }
    }
}

/// Refuses to remove an engine that holds a position or has orders
/// pending (from the journal: what its fills say).
fn refuse_unless_flat(journal: &std::path::Path, removed: &[String]) -> Result<(), ReloadError> {
    if removed.is_empty() {
        return Ok(());
    }
    let store = Store::open(journal)
        .map_err(|e| ReloadError::Refused(format!("the journal cannot be read: {e}")))?;
    for id in removed {
        let h = store
            .holdings(id)
            .map_err(|e| ReloadError::Refused(format!("engine {id}: {e}")))?;
        let pending = store.pending_count(id).unwrap_or(0);
        if !h.positions.is_empty() || pending > 0 {
            let held: Vec<String> = h
                .positions
                .iter()
                .map(|(s, q)| format!("{} {s}", q.normalize()))
                .collect();
            return Err(ReloadError::Holding(format!(
                "engine {id} cannot be removed: it holds {} with {pending} order(s) pending; flatten it first (`commodore ctl flatten {id}`, or POST /v1/engines/{id}/flatten), reload once it is flat (or put it back in the config)",
                if held.is_empty() { "nothing".to_owned() } else { held.join(", ") }
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::journal::OutcomeRow;
    use commodore_actors::model::{client_order_id, Fill, Order, Outcome, Side};
    use rust_decimal::Decimal;

    #[test]
    fn an_engine_is_removed_only_when_flat_with_nothing_pending() {
        let dir =
            std::env::temp_dir().join(format!("commodore-reload-flat-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("journal.sqlite");
        let mut s = Store::open(&journal).unwrap();
        let order = |seq: u64, side: Side| Order {
            limit: None,
            client_order_id: client_order_id("KC", "news", seq, "KC"),
            engine: "KC".into(),
            strategy: "news".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            side,
            qty: Decimal::from(2),
            ref_price: Decimal::from(300),
            at_ms: seq,
        };
        let executed = |seq: u64| OutcomeRow {
            engine: "KC".into(),
            decision_seq: seq,
            symbol: "KC".into(),
            strategy: "news".into(),
            outcome: Outcome::Executed,
            detail: String::new(),
            at_ms: seq,
        };
        let fill = |o: &Order| Fill {
            part: 1,
            client_order_id: o.client_order_id.clone(),
            engine: "KC".into(),
            symbol: "KC".into(),
            side: o.side,
            qty: o.qty,
            price: o.ref_price,
            commission: Decimal::ZERO,
            at_ms: o.at_ms,
        };
        let ids = ["KC".to_owned()];
        assert_eq!(refuse_unless_flat(&journal, &ids), Ok(()), "never traded");
        let buy = order(1, Side::Buy);
        s.insert_order(&buy, &executed(1), 1).unwrap();
        let e = refuse_unless_flat(&journal, &ids).unwrap_err();
        assert!(
            e.message()
                .contains("holds nothing with 1 order(s) pending"),
            "{e:?}"
        );
        s.record_fill(&fill(&buy)).unwrap();
        let e = refuse_unless_flat(&journal, &ids).unwrap_err();
        assert!(
            e.message().starts_with("engine KC cannot be removed: it holds 2 KC with 0 order(s) pending; flatten it first (`commodore ctl flatten KC`"),
            "{e:?}"
        );
        let sell = order(2, Side::Sell);
        s.insert_order(&sell, &executed(2), 2).unwrap();
        s.record_fill(&fill(&sell)).unwrap();
        assert_eq!(refuse_unless_flat(&journal, &ids), Ok(()), "flat again");
        assert_eq!(refuse_unless_flat(&journal, &[]), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
