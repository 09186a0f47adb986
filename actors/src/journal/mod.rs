//! The journal: one SQLite file (WAL) in `data_dir` that the daemon rebuilds its
//! state from on every start (crash-only: starting and recovering are one path).
//!
//! - `store.rs`: the file itself: versioned migrations, events, durable state.
//! - `actor.rs`: the `journal` worker that copies kernel events into the store in
//!   batches.

mod actor;
mod shared;
mod store;

pub use actor::{Flush, Journal, FLUSH_INTERVAL, MAX_BATCH};
pub use shared::SharedStore;
pub use store::{
    JournalError, OutboxRow, OutcomeRow, StateEntry, Store, DROPPABLE_KINDS, SCHEMA_VERSION,
};
