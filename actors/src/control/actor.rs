use super::lifecycle::Lifecycle;
use super::messages::{ControlError, EngineOutcome, PauseEngine, ResumeEngine, Shutdown};
use crate::clock::Clock;
use crate::events::OPERATOR;
use crate::journal::{EngineState, JournalError, PausedRecord, StateKey, Store};
use crate::kernel::{Ctx, Handles, Kernel, NodeState, Worker};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// An engine's path in the tree.
pub fn engine_path(id: &str) -> String {
    crate::paths::engine(id)
}

/// The engines paused on purpose, from the journal (first start, worker restart
/// and process restart are one path).
pub fn load_paused(store: &Store) -> Result<BTreeSet<String>, JournalError> {
    let mut paused = BTreeSet::new();
    for (id, e) in store.state_of_engines(EngineState::Paused)? {
        match PausedRecord::decode(&e.value) {
            Ok(PausedRecord(true)) => {
                paused.insert(id);
            }
            Ok(PausedRecord(false)) => {}
            Err(what) => {
                return Err(JournalError::Corrupt {
                    path: store.path().to_owned(),
                    what: format!("{}: {what}", e.key),
                })
            }
        }
    }
    Ok(paused)
}

pub struct ControlActor {
    store: Store,
    kernel: Kernel,
    lifecycle: Arc<Lifecycle>,
    engines: Arc<[String]>,
    paused: BTreeSet<String>,
    clock: Clock,
}

impl ControlActor {
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        lifecycle: Arc<Lifecycle>,
        engines: Vec<String>,
        clock: Clock,
    ) -> impl Fn() -> ControlActor + Send + Sync + 'static {
        let engines: Arc<[String]> = engines.into();
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let paused = load_paused(&store).unwrap_or_else(|e| panic!("{e}"));
            ControlActor {
                store,
                kernel: kernel.clone(),
                lifecycle: lifecycle.clone(),
                engines: engines.clone(),
                paused,
                clock,
            }
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
            let (store, now) = (&mut self.store, self.clock.now_ms());
            self.kernel
                .events()
                .publish_durably(
                    OPERATOR,
                    path,
                    format!("engine {engine} {verb}: {reason}"),
                    |pending| {
                        store.put_state_with_event(
                            pending,
                            StateKey::EnginePaused(engine),
                            &PausedRecord(paused).encode(),
                            reason,
                            now,
                        )
                    },
                )
                .map_err(|e| ControlError::Journal(e.to_string()))?;
            if paused {
                self.paused.insert(engine.to_owned());
            } else {
                self.paused.remove(engine);
            }
            self.kernel
                .registry()
                .set_paused(&engine_path(engine), paused);
            tracing::info!(actor = path, engine, %reason, "engine {verb}");
        }
        Ok(EngineOutcome {
            engine: engine.to_owned(),
            paused,
            changed,
        })
    }
}

impl Worker for ControlActor {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        // The registry is the tree's view of "paused"; make it match the journal.
        for id in self.engines.iter() {
            self.kernel
                .registry()
                .set_paused(&engine_path(id), self.paused.contains(id));
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
