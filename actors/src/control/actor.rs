use super::lifecycle::Lifecycle;
use super::messages::{
    ControlError, EngineOutcome, PauseEngine, ResumeEngine, Shutdown, StartEngine, StopEngine,
};
use crate::clock::Clock;
use crate::events::OPERATOR;
use crate::journal::{EngineState, FlagRecord, JournalError, StateKey, Store};
use crate::kernel::{ChildSpec, Ctx, Handles, Kernel, KernelError, NodeState, Worker};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
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

/// How long a start waits for a stop still under way (its subtree's ordered
/// shutdown, bounded by the shutdown timeouts), asking again every
/// [`START_RETRY`].
const START_WAIT: Duration = Duration::from_secs(60);
const START_RETRY: Duration = Duration::from_millis(50);

pub struct ControlActor {
    store: Store,
    kernel: Kernel,
    lifecycle: Arc<Lifecycle>,
    engines: Arc<[String]>,
    /// Each engine's child spec under `engines`, to start it again once its
    /// record is gone (an engine is a temporary child: stopped or failed, its
    /// spec is deleted there, as in OTP).
    specs: Arc<BTreeMap<String, ChildSpec>>,
    paused: BTreeSet<String>,
    stopped: BTreeSet<String>,
    clock: Clock,
}

impl ControlActor {
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        lifecycle: Arc<Lifecycle>,
        engines: Vec<String>,
        specs: BTreeMap<String, ChildSpec>,
        clock: Clock,
    ) -> impl Fn() -> ControlActor + Send + Sync + 'static {
        let engines: Arc<[String]> = engines.into();
        let specs = Arc::new(specs);
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let paused = load_paused(&store).unwrap_or_else(|e| panic!("{e}"));
            let stopped = load_stopped(&store).unwrap_or_else(|e| panic!("{e}"));
            ControlActor {
                store,
                kernel: kernel.clone(),
                lifecycle: lifecycle.clone(),
                engines: engines.clone(),
                specs: specs.clone(),
                paused,
                stopped,
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
        let on = self.paused.contains(engine) || self.stopped.contains(engine);
        self.kernel.registry().set_paused(&engine_path(engine), on);
    }

    fn outcome(&self, engine: &str, changed: bool) -> EngineOutcome {
        EngineOutcome {
            engine: engine.to_owned(),
            paused: self.paused.contains(engine),
            stopped: self.stopped.contains(engine),
            changed,
        }
    }

    fn known(&self, engine: &str) -> Result<(), ControlError> {
        if self.engines.iter().any(|e| e == engine) {
            Ok(())
        } else {
            Err(ControlError::UnknownEngine {
                engine: engine.to_owned(),
                known: self.engines.join(", "),
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
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        // The registry is the tree's view of "paused"; make it match the journal.
        for id in self.engines.iter() {
            self.sync_paused(id);
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
        self.sync_paused(&m.engine);
        let (kernel, path) = (self.kernel.clone(), engine_path(&m.engine));
        ctx.spawn(async move {
            // Already stopped (or failed and gone): nothing to stop.
            if let Err(e) = kernel.terminate_child(&path).await {
                tracing::debug!(engine = %path, error = %e, "nothing to stop");
            }
        });
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
        if !was_stopped && !down {
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
        let kernel = self.kernel.clone();
        let spec = self.specs.get(&m.engine).cloned();
        ctx.spawn(async move { start_engine(kernel, path, spec).await });
        Ok(self.outcome(&m.engine, true))
    }
}

/// Starts the engine at `path`: its record's `restart_child` while the record
/// is there (held at the daemon's start), else `start_child` from its spec
/// (an engine stopped or failed in this run: a temporary child's record is
/// gone). A stop still under way is waited for, up to [`START_WAIT`].
async fn start_engine(kernel: Kernel, path: String, spec: Option<ChildSpec>) {
    let engines = format!("{}/{}", crate::paths::MASTER, crate::paths::ENGINES);
    let mut waited = Duration::ZERO;
    loop {
        match kernel.restart_child(&path).await {
            Ok(()) => return,
            Err(KernelError::Refused(why))
                if why.contains("is not stopped") && waited < START_WAIT =>
            {
                tokio::time::sleep(START_RETRY).await;
                waited += START_RETRY;
            }
            Err(_) => break,
        }
    }
    let Some(spec) = spec else {
        tracing::error!(engine = %path, "the engine cannot be started: no spec for it");
        return;
    };
    if let Err(e) = kernel.start_child(&engines, spec).await {
        tracing::error!(engine = %path, error = %e, "the engine could not be started");
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
