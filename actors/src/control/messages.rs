use actix::Message;

/// Stop opening positions in one engine; its data keeps flowing.
#[derive(Debug, Message)]
#[rtype(result = "Result<EngineOutcome, ControlError>")]
pub struct PauseEngine {
    pub engine: String,
    pub reason: String,
}

/// Let a paused engine open positions again.
#[derive(Debug, Message)]
#[rtype(result = "Result<EngineOutcome, ControlError>")]
pub struct ResumeEngine {
    pub engine: String,
    pub reason: String,
}

/// Pause one engine and close every position it holds (each contract month,
/// at market): what an operator does before removing it in a reload.
#[derive(Debug, Message)]
#[rtype(result = "Result<EngineOutcome, ControlError>")]
pub struct FlattenEngine {
    pub engine: String,
    pub reason: String,
}

/// Stop one engine's subtree; it stays stopped across restarts of the daemon.
#[derive(Debug, Message)]
#[rtype(result = "Result<EngineOutcome, ControlError>")]
pub struct StopEngine {
    pub engine: String,
    pub reason: String,
}

/// Start a stopped (or failed) engine again.
#[derive(Debug, Message)]
#[rtype(result = "Result<EngineOutcome, ControlError>")]
pub struct StartEngine {
    pub engine: String,
    pub reason: String,
}

/// Drain the tree in reverse start order, flush the journal, exit 0.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ControlError>")]
pub struct Shutdown {
    pub reason: String,
}

/// A live reload changed the engines (see `ControlActor`'s handler): the
/// subtrees in `start` are built anew (replaced or added), those in `remove`
/// go; `ids` is the engines' order after it. Journaled (`config_reloaded`,
/// with `detail`) before anything changes.
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub struct Reconfigure {
    pub start: Vec<(String, super::EngineSpec)>,
    pub remove: Vec<String>,
    pub ids: Vec<String>,
    /// The removed engines with their configured capital (the account's
    /// peak moves without them).
    pub forget: Vec<(String, rust_decimal::Decimal)>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOutcome {
    pub engine: String,
    pub paused: bool,
    pub stopped: bool,
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("unknown engine {engine:?}: the engines are {known}")]
    UnknownEngine { engine: String, known: String },
    #[error("engine {0} has failed (its supervisor gave up); it cannot be resumed: restart the daemon after fixing the cause")]
    EngineFailed(String),
    #[error("a shutdown is already under way")]
    ShuttingDown,
    #[error(
        "engine {0} is not running (stopped, failed or restarting): start it, then flatten it"
    )]
    EngineDown(String),
    #[error("nothing was changed: {0}")]
    Journal(String),
}
