use super::lifecycle::Lifecycle;
use super::messages::{
    ControlError, EngineOutcome, FlattenEngine, PauseEngine, Reconfigure, ResumeEngine, Shutdown,
    StartEngine, StopEngine,
};
use crate::clock::Clock;
use crate::events::{CONFIG_RELOADED, OPERATOR};
use crate::journal::{EngineState, FlagRecord, JournalError, StateKey, Store};
use crate::kernel::{ChildSpec, Ctx, Handle, Handles, Kernel, KernelError, NodeState, Worker};
use crate::risk::{PortfolioRisk, Recapitalize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// An engine's path in the tree.
pub fn engine_path(id: &str) -> String {
    crate::paths::engine(id)
}

/// The engines paused on purpose, from the journal (first start, worker restart
/// and process restart are one path).
pub fn load_paused(store: &Store) -> Result<BTreeSet<String>, JournalError> {
    load_flagged(store, EngineState::Paused)
}

/// The engines an operator stopped, from the journal: they are built held
/// (not started) when the daemon starts.
pub fn load_stopped(store: &Store) -> Result<BTreeSet<String>, JournalError> {
    load_flagged(store, EngineState::Stopped)
}

fn load_flagged(store: &Store, what: EngineState) -> Result<BTreeSet<String>, JournalError> {
    let mut set = BTreeSet::new();
    for (id, e) in store.state_of_engines(what)? {
        match FlagRecord::decode(&e.value) {
            Ok(FlagRecord(true)) => {
                set.insert(id);
            }
            Ok(FlagRecord(false)) => {}
            Err(what) => {
                return Err(JournalError::Corrupt {
                    path: store.path().to_owned(),
                    what: format!("{}: {what}", e.key),
                })
            }
        }
    }
    Ok(set)
}

/// How often a start asks again while a stop is still under way (its
/// subtree's ordered shutdown, bounded by the shutdown timeouts), and how many
/// times at most (60 s).
const START_RETRY: Duration = Duration::from_millis(50);
const START_TRIES: u32 = 1_200;
/// How long a reload waits for an engine's old subtree to stop (its
/// children's shutdown timeouts bound it).
const RETIRE_WITHIN: Duration = Duration::from_secs(60);

/// One engine's child spec under `engines` and the flag that holds it there.
/// `control` keeps both: the spec to start the engine again once its record is
/// gone (an engine is a temporary child: stopped or failed, its record is
/// deleted, as in OTP), the flag so that `engines`, if started again, holds
/// exactly the engines stopped now.
#[derive(Clone)]
pub struct EngineSpec {
    pub spec: ChildSpec,
    pub held: Arc<AtomicBool>,
    /// The engine actor (stable across its restarts): an operator's flatten.
    pub engine: Handle<crate::engine::actor::Engine>,
}

/// The engines as configured now: their ids in the config's order, and
/// each one's child spec and hold flag. Shared by `control`'s factory (a
/// restarted `control` finds the engines a reload changed) and changed by
/// `control` alone, on a [`Reconfigure`].
#[derive(Clone, Default)]
pub struct EngineBook {
    pub ids: Vec<String>,
    pub specs: BTreeMap<String, EngineSpec>,
}

pub struct ControlActor {
    store: Store,
    kernel: Kernel,
    lifecycle: Arc<Lifecycle>,
    book: Arc<RwLock<EngineBook>>,
    risk: Handle<PortfolioRisk>,
    paused: BTreeSet<String>,
    stopped: BTreeSet<String>,
    /// Bumped by every stop and start of an engine: a start still under way
    /// gives up once a later command superseded it.
    commands: BTreeMap<String, u64>,
    /// Engines whose start is under way.
    starting: BTreeSet<String>,
    clock: Clock,
}

impl ControlActor {
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        lifecycle: Arc<Lifecycle>,
        book: Arc<RwLock<EngineBook>>,
        risk: Handle<PortfolioRisk>,
        clock: Clock,
    ) -> impl Fn() -> ControlActor + Send + Sync + 'static {
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let paused = load_paused(&store).unwrap_or_else(|e| panic!("{e}"));
            let stopped = load_stopped(&store).unwrap_or_else(|e| panic!("{e}"));
            ControlActor {
                store,
                kernel: kernel.clone(),
                lifecycle: lifecycle.clone(),
                book: book.clone(),
                risk: risk.clone(),
                paused,
                stopped,
                commands: BTreeMap::new(),
                starting: BTreeSet::new(),
                clock,
            }
        }
    }

    /// Journals `key = value` with an operator event, both or neither.
    fn journal_flag(
        &mut self,
        key: StateKey<'_>,
        value: bool,
        detail: String,
        reason: &str,
        path: &str,
    ) -> Result<(), ControlError> {
        let (store, now) = (&mut self.store, self.clock.now_ms());
        self.kernel
            .events()
            .publish_durably(OPERATOR, path, detail, |pending| {
                store.put_state_with_event(pending, key, &FlagRecord(value).encode(), reason, now)
            })
            .map(|_| ())
            .map_err(|e| ControlError::Journal(e.to_string()))
    }

    /// The registry's "paused on purpose": paused, or stopped (nothing opens
    /// while a stopped engine drains, and /readyz counts it as meant).
    fn sync_paused(&self, engine: &str) {
        let (path, stopped) = (engine_path(engine), self.stopped.contains(engine));
        let registry = self.kernel.registry();
        registry.set_paused(&path, self.paused.contains(engine) || stopped);
        registry.set_stopped(&path, stopped);
        if let Some(e) = self.book().specs.get(engine) {
            e.held.store(stopped, Ordering::Release);
        }
    }

    /// A new stop or start of `engine`; returns its number.
    fn command(&mut self, engine: &str) -> u64 {
        let n = self.commands.entry(engine.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn superseded(&self, engine: &str, n: u64) -> bool {
        self.commands.get(engine) != Some(&n)
    }

    fn stop_subtree(&self, engine: &str, ctx: &mut Ctx<'_, Self>) {
        let (kernel, path) = (self.kernel.clone(), engine_path(engine));
        ctx.spawn(async move {
            // Already stopped (or failed and gone): nothing to stop.
            if let Err(e) = kernel.terminate_child(&path).await {
                tracing::debug!(engine = %path, error = %e, "nothing to stop");
            }
        });
    }

    /// Start number `n` of `engine`: its record's `restart_child` while the
    /// record is there (held since the daemon started, or stopping: asked
    /// again until the stop is done), else `start_child` from its spec. Each
    /// step runs on this actor, and gives up once a later command superseded
    /// it.
    fn start_subtree(&mut self, engine: String, n: u64, tries: u32, ctx: &mut Ctx<'_, Self>) {
        if self.superseded(&engine, n) {
            self.starting.remove(&engine);
            return;
        }
        let (kernel, path) = (self.kernel.clone(), engine_path(&engine));
        ctx.spawn_then(
            async move { kernel.restart_child(&path).await },
            move |c: &mut Self, ctx, r| c.restarted(engine, n, tries, r, ctx),
        );
    }

    fn restarted(
        &mut self,
        engine: String,
        n: u64,
        tries: u32,
        r: Result<(), KernelError>,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let path = engine_path(&engine);
        let state = self.kernel.registry().state(&path);
        match r {
            _ if self.superseded(&engine, n) => {
                self.starting.remove(&engine);
            }
            Ok(()) => {
                self.starting.remove(&engine);
            }
            Err(_) if state == Some(NodeState::Stopping) && tries < START_TRIES => {
                ctx.run_later(START_RETRY, move |c, ctx| {
                    c.start_subtree(engine, n, tries + 1, ctx)
                });
            }
            // Running already (another start won), or still stopping after
            // a minute: nothing more to do here.
            Err(e)
                if state != Some(NodeState::Failed)
                    && state.is_some_and(|s| s != NodeState::Stopped) =>
            {
                self.starting.remove(&engine);
                tracing::info!(engine = %path, ?state, error = %e, "engine not started again");
            }
            // No record (stopped or failed in this run): from its spec.
            Err(_) => {
                let Some(spec) = self.book().specs.get(&engine).map(|e| e.spec.clone()) else {
                    self.starting.remove(&engine);
                    return tracing::error!(engine = %path, "the engine cannot be started: no spec for it");
                };
                let kernel = self.kernel.clone();
                let engines = format!("{}/{}", crate::paths::MASTER, crate::paths::ENGINES);
                ctx.spawn_then(
                    async move { kernel.start_child(&engines, spec).await },
                    move |c: &mut Self, ctx, r| {
                        c.starting.remove(&engine);
                        if let Err(e) = r {
                            tracing::error!(engine = %engine_path(&engine), error = %e, "the engine could not be started");
                        } else if c.superseded(&engine, n) && c.stopped.contains(&engine) {
                            // A stop came while it started: it ends stopped.
                            c.stop_subtree(&engine, ctx);
                        }
                    },
                );
            }
        }
    }

    fn outcome(&self, engine: &str, changed: bool) -> EngineOutcome {
        EngineOutcome {
            engine: engine.to_owned(),
            paused: self.paused.contains(engine),
            stopped: self.stopped.contains(engine),
            changed,
        }
    }

    fn book(&self) -> std::sync::RwLockReadGuard<'_, EngineBook> {
        self.book.read().unwrap_or_else(|e| e.into_inner())
    }

    fn known(&self, engine: &str) -> Result<(), ControlError> {
        let book = self.book();
        if book.ids.iter().any(|e| e == engine) {
            Ok(())
        } else {
            Err(ControlError::UnknownEngine {
                engine: engine.to_owned(),
                known: book.ids.join(", "),
            })
        }
    }

    fn set(
        &mut self,
        engine: &str,
        paused: bool,
        reason: &str,
        path: &str,
    ) -> Result<EngineOutcome, ControlError> {
        let changed = self.paused.contains(engine) != paused;
        if changed {
            let verb = if paused { "paused" } else { "resumed" };
            self.journal_flag(
                StateKey::EnginePaused(engine),
                paused,
                format!("engine {engine} {verb}: {reason}"),
                reason,
                path,
            )?;
            if paused {
                self.paused.insert(engine.to_owned());
            } else {
                self.paused.remove(engine);
            }
            self.sync_paused(engine);
            tracing::info!(actor = path, engine, %reason, "engine {verb}");
        }
        Ok(self.outcome(engine, changed))
    }
}

impl Worker for ControlActor {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        // The registry is the tree's view of "paused"; make it match the journal.
        let ids = self.book().ids.clone();
        let engines = format!("{}/{}", crate::paths::MASTER, crate::paths::ENGINES);
        let engines_up = self.kernel.registry().state(&engines) == Some(NodeState::Running);
        for id in ids.iter() {
            self.sync_paused(id);
            // Started again mid-run (a restart of control drops the steps a
            // predecessor had under way): bring each engine where the journal
            // says it belongs. At the daemon's start `engines` is not up yet
            // and there is nothing to do. An engine with no record while
            // `engines` runs was between its old subtree and its new one when
            // a predecessor died in a reload: started from the book's spec.
            let state = self.kernel.registry().state(&engine_path(id));
            let stopped = self.stopped.contains(id);
            if stopped
                && matches!(
                    state,
                    Some(NodeState::Running | NodeState::Paused | NodeState::Starting)
                )
            {
                self.command(id);
                self.stop_subtree(id, ctx);
            } else if !stopped
                && (state == Some(NodeState::Stopped) || (state.is_none() && engines_up))
            {
                let n = self.command(id);
                self.starting.insert(id.clone());
                self.start_subtree(id.clone(), n, 0, ctx);
            }
        }
    }
}

impl Handles<PauseEngine> for ControlActor {
    fn handle(
        &mut self,
        m: PauseEngine,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<EngineOutcome, ControlError> {
        self.known(&m.engine)?;
        self.set(&m.engine, true, &m.reason, ctx.path())
    }
}

impl Handles<FlattenEngine> for ControlActor {
    /// Pauses the engine (journaled, so nothing new opens, across restarts
    /// too), then tells it to close every position it holds.
    fn handle(
        &mut self,
        m: FlattenEngine,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<EngineOutcome, ControlError> {
        self.known(&m.engine)?;
        let path = engine_path(&m.engine);
        let running = matches!(
            self.kernel.registry().state(&path),
            Some(NodeState::Running | NodeState::Paused)
        );
        let handle = self.book().specs.get(&m.engine).map(|s| s.engine.clone());
        let Some(engine) = handle.filter(|_| running && !self.stopped.contains(&m.engine)) else {
            return Err(ControlError::EngineDown(m.engine));
        };
        let outcome = self.set(&m.engine, true, &m.reason, ctx.path())?;
        let flatten = crate::engine::messages::Flatten {
            reason: m.reason.clone(),
        };
        if engine.tell(flatten).is_err() {
            return Err(ControlError::EngineDown(m.engine));
        }
        tracing::warn!(actor = ctx.path(), engine = %m.engine, reason = %m.reason, "engine flattening: every position closes at market");
        Ok(EngineOutcome {
            changed: true,
            ..outcome
        })
    }
}

impl Handles<ResumeEngine> for ControlActor {
    fn handle(
        &mut self,
        m: ResumeEngine,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<EngineOutcome, ControlError> {
        self.known(&m.engine)?;
        if self.kernel.registry().state(&engine_path(&m.engine)) == Some(NodeState::Failed) {
            return Err(ControlError::EngineFailed(m.engine));
        }
        self.set(&m.engine, false, &m.reason, ctx.path())
    }
}

impl Handles<StopEngine> for ControlActor {
    /// Journals the stop, then stops the engine's subtree in its ordered
    /// shutdown: nothing new opens meanwhile, and each child (the executor
    /// with its in-flight orders first) has its shutdown timeout to finish.
    fn handle(
        &mut self,
        m: StopEngine,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<EngineOutcome, ControlError> {
        self.known(&m.engine)?;
        if self.lifecycle.is_stopping() {
            return Err(ControlError::ShuttingDown);
        }
        let changed = !self.stopped.contains(&m.engine);
        if changed {
            self.journal_flag(
                StateKey::EngineStopped(&m.engine),
                true,
                format!("engine {} stopped: {}", m.engine, m.reason),
                &m.reason,
                ctx.path(),
            )?;
            self.stopped.insert(m.engine.clone());
            tracing::info!(actor = ctx.path(), engine = %m.engine, reason = %m.reason, "engine stopped");
        }
        self.command(&m.engine);
        self.sync_paused(&m.engine);
        self.stop_subtree(&m.engine, ctx);
        Ok(self.outcome(&m.engine, changed))
    }
}

impl Handles<StartEngine> for ControlActor {
    /// A stopped (or failed) engine starts again: journaled first, then its
    /// subtree started, after a stop still under way has finished.
    fn handle(
        &mut self,
        m: StartEngine,
        ctx: &mut Ctx<'_, Self>,
    ) -> Result<EngineOutcome, ControlError> {
        self.known(&m.engine)?;
        if self.lifecycle.is_stopping() {
            return Err(ControlError::ShuttingDown);
        }
        let path = engine_path(&m.engine);
        let down = matches!(
            self.kernel.registry().state(&path),
            None | Some(NodeState::Stopped | NodeState::Stopping | NodeState::Failed)
        );
        let was_stopped = self.stopped.contains(&m.engine);
        // Running, or a start already under way: nothing to do.
        if !was_stopped && (!down || self.starting.contains(&m.engine)) {
            return Ok(self.outcome(&m.engine, false));
        }
        let detail = format!("engine {} started: {}", m.engine, m.reason);
        if was_stopped {
            self.journal_flag(
                StateKey::EngineStopped(&m.engine),
                false,
                detail,
                &m.reason,
                ctx.path(),
            )?;
            self.stopped.remove(&m.engine);
        } else {
            let store = &mut self.store;
            self.kernel
                .events()
                .publish_durably(OPERATOR, ctx.path(), detail, |pending| {
                    store.append_event_durably(pending)
                })
                .map_err(|e| ControlError::Journal(e.to_string()))?;
        }
        tracing::info!(actor = ctx.path(), engine = %m.engine, reason = %m.reason, "engine started");
        self.sync_paused(&m.engine);
        let n = self.command(&m.engine);
        self.starting.insert(m.engine.clone());
        self.start_subtree(m.engine.clone(), n, 0, ctx);
        Ok(self.outcome(&m.engine, true))
    }
}

impl Handles<Shutdown> for ControlActor {
    fn handle(&mut self, m: Shutdown, ctx: &mut Ctx<'_, Self>) -> Result<(), ControlError> {
        if self.lifecycle.is_stopping() {
            return Err(ControlError::ShuttingDown);
        }
        tracing::info!(actor = ctx.path(), reason = %m.reason, "shutdown asked by the operator");
        // Journaled before the answer; a journal that cannot take it does not
        // stand in the way of a shutdown (the journal worker writes it later).
        let store = &mut self.store;
        let detail = format!("shutdown: {}", m.reason);
        if let Err(e) =
            self.kernel
                .events()
                .publish_durably(OPERATOR, ctx.path(), detail.clone(), |pending| {
                    store.append_event_durably(pending)
                })
        {
            tracing::error!(actor = ctx.path(), error = %e, "the shutdown event was not journaled");
            self.kernel.events().publish(OPERATOR, ctx.path(), detail);
        }
        if self.lifecycle.begin_shutdown() {
            Ok(())
        } else {
            Err(ControlError::ShuttingDown)
        }
    }
}

impl Handles<Reconfigure> for ControlActor {
    /// Journals the reload, then replaces the engines' subtrees: each one
    /// replaced or removed is stopped in its ordered shutdown (as by `stop`)
    /// and its record deleted; `portfolio_risk` takes the new capital (the
    /// engines starting again wait for their first publish); then the new
    /// subtrees start (held, if the engine is stopped on purpose). An engine
    /// restarted this way recovers from the journal like any restart.
    fn handle(&mut self, m: Reconfigure, ctx: &mut Ctx<'_, Self>) -> Result<(), ControlError> {
        if self.lifecycle.is_stopping() {
            return Err(ControlError::ShuttingDown);
        }
        let store = &mut self.store;
        self.kernel
            .events()
            .publish_durably(CONFIG_RELOADED, ctx.path(), m.detail.clone(), |pending| {
                store.append_event_durably(pending)
            })
            .map_err(|e| ControlError::Journal(e.to_string()))?;
        tracing::info!(actor = ctx.path(), detail = %m.detail, "configuration reloaded");
        let mut down: Vec<String> = m.start.iter().map(|(id, _)| id.clone()).collect();
        down.extend(m.remove.iter().cloned());
        for id in &down {
            self.command(id);
            self.starting.remove(id);
        }
        {
            let mut book = self.book.write().unwrap_or_else(|e| e.into_inner());
            book.ids = m.ids;
            for id in &m.remove {
                book.specs.remove(id);
            }
            for (id, spec) in &m.start {
                spec.held
                    .store(self.stopped.contains(id), Ordering::Release);
                book.specs.insert(id.clone(), spec.clone());
            }
        }
        for id in &m.remove {
            self.paused.remove(id);
            self.stopped.remove(id);
            let path = engine_path(id);
            self.kernel.registry().set_paused(&path, false);
            self.kernel.registry().set_stopped(&path, false);
        }
        let wait_for: Vec<String> = m
            .start
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !self.stopped.contains(id))
            .collect();
        let starts: Vec<(String, ChildSpec)> =
            m.start.into_iter().map(|(id, e)| (id, e.spec)).collect();
        let (kernel, risk, forget) = (self.kernel.clone(), self.risk.clone(), m.forget);
        let removed = m.remove;
        ctx.spawn_then(
            async move {
                for id in &down {
                    let path = engine_path(id);
                    // Not running (stopped, failed, never started): nothing to
                    // stop. A temporary child's record goes once it stopped;
                    // one held since the start is deleted.
                    let _ = kernel.terminate_child(&path).await;
                    if !kernel.wait_stopped(&path, RETIRE_WITHIN).await {
                        tracing::error!(engine = %path, "still stopping after {RETIRE_WITHIN:?}: its new subtree may not start");
                    }
                    let _ = kernel.delete_child(&path).await;
                    if removed.contains(id) {
                        // Gone for good: not listed as a stopped engine.
                        kernel.forget_ended(&path);
                    }
                }
                let _ = risk.ask(Recapitalize { wait_for, forget }).await;
                let engines = format!("{}/{}", crate::paths::MASTER, crate::paths::ENGINES);
                let mut failed = Vec::new();
                for (id, spec) in starts {
                    if let Err(e) = kernel.start_child(&engines, spec).await {
                        failed.push(format!("{id}: {e}"));
                    }
                }
                failed
            },
            |c: &mut Self, ctx, failed| {
                let ids = c.book().ids.clone();
                for id in &ids {
                    c.sync_paused(id);
                }
                for f in failed {
                    tracing::error!(actor = ctx.path(), "an engine of the reloaded configuration could not be started: {f}");
                }
            },
        );
        Ok(())
    }
}
