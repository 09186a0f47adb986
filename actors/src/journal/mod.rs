//! The journal: one SQLite file (WAL) in `data_dir` that the daemon rebuilds its
//! state from on every start (crash-only: starting and recovering are one path).
//!
//! - `store/`: the file itself: versioned migrations, then one file per table
//!   family (events, durable state, orders and outcomes, fills, the notifier's
//!   outbox).
//! - `actor.rs`: the `journal` worker that copies kernel events into the store in
//!   batches.
//! - `orderlog.rs`: an engine's orders, journaled durably before they are sent,
//!   moved into the store's `orders` at the connection's next use.
//! - `keys.rs`: the durable state's keys and the text of their values, the
//!   one place either is spelled.
//! - `shared.rs`: the connection an engine and its executor share.

mod actor;
mod keys;
mod orderlog;
mod shared;
mod store;

pub use actor::{Compact, Flush, Journal, ARCHIVE_PASS, FLUSH_INTERVAL, MAX_BATCH};
pub use keys::{
    BreakerRecord, CursorRecord, DecimalRecord, EngineState, FlagRecord, GuardMarks, LevelRecord,
    ModeRecord, ReconcileRecord, RollRecord, StateKey, WriteCheckRecord,
};
pub use orderlog::{LoggedOrder, OrderLog};
pub use shared::{order_log_path, SharedStore};
#[cfg(test)]
pub(crate) use store::testing;
pub use store::{
    archive_path, orders_archive_path, Archived, ArchivedOrders, Carried, DayCounts, Fate, Fsync,
    JournalError, OutboxRow, OutboxTrim, OutcomeRow, StateEntry, Store, SCHEMA_VERSION,
};
