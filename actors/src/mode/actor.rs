use crate::events::MODE_CHANGED;
use crate::journal::{JournalError, Store};
use crate::kernel::{Ctx, Handles, Kernel, Worker};
use crate::model::{now_ms, ModeChoice, ModeState};
use crate::view::StatusView;
use actix::Message;
use std::path::PathBuf;
use std::sync::Arc;

/// The journal key of the mode (value: `auto:NANO` or `manual:MICRO`).
pub const MODE_KEY: &str = "mode";

/// The operator's choice of mode.
#[derive(Debug, Message)]
#[rtype(result = "Result<ModeOutcome, ModeError>")]
pub struct SetMode {
    pub choice: ModeChoice,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeOutcome {
    pub changed: bool,
    pub mode: ModeState,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("the mode was not changed: {0}")]
    Journal(String),
}

/// Reads the mode from the journal (first start, worker restart and process
/// restart are one path).
pub fn load(store: &Store) -> Result<ModeState, JournalError> {
    match store.state_entry(MODE_KEY)? {
        None => Ok(ModeState::initial(now_ms())),
        Some(e) => ModeState::decode(&e.value, e.at_ms).map_err(|what| JournalError::Corrupt {
            path: store.path().to_owned(),
            what: format!("{MODE_KEY}: {what}"),
        }),
    }
}

pub struct ModeActor {
    store: Store,
    kernel: Kernel,
    view: Arc<StatusView>,
    state: ModeState,
}

impl ModeActor {
    pub fn factory(
        journal: PathBuf,
        kernel: Kernel,
        view: Arc<StatusView>,
    ) -> impl Fn() -> ModeActor + Send + Sync + 'static {
        move || {
            let store = Store::open(&journal).unwrap_or_else(|e| panic!("{e}"));
            let state = load(&store).unwrap_or_else(|e| panic!("{e}"));
            ModeActor {
                store,
                kernel: kernel.clone(),
                view: view.clone(),
                state,
            }
        }
    }
}

impl Worker for ModeActor {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.view.set_mode(self.state.clone());
    }
}

impl Handles<SetMode> for ModeActor {
    fn handle(&mut self, m: SetMode, ctx: &mut Ctx<'_, Self>) -> Result<ModeOutcome, ModeError> {
        let Some(next) = self.state.chosen(m.choice, now_ms()) else {
            return Ok(ModeOutcome {
                changed: false,
                mode: self.state.clone(),
            });
        };
        self.store
            .put_state_durable(MODE_KEY, &next.encode(), &m.reason, next.since_ms)
            .map_err(|e| ModeError::Journal(e.to_string()))?;
        let detail = format!("{} -> {}: {}", self.state.encode(), next.encode(), m.reason);
        self.state = next;
        self.view.set_mode(self.state.clone());
        tracing::info!(actor = ctx.path(), mode = %self.state.encode(), "mode changed");
        self.kernel
            .events()
            .publish(MODE_CHANGED, ctx.path(), detail);
        Ok(ModeOutcome {
            changed: true,
            mode: self.state.clone(),
        })
    }
}
