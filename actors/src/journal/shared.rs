//! One journal connection shared by the actors of one engine (they run on the
//! same thread): half the connections, half the SQLite memory per engine.
//! Its writes are orders and fills, so every commit is `synchronous = FULL`.
//! Crash-only like the rest: a connection that fails a call is dropped and the
//! next call opens a new one.

use super::store::{JournalError, Store};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct SharedStore {
    path: PathBuf,
    conn: Mutex<Option<Store>>,
}

impl SharedStore {
    pub fn new(path: &Path) -> SharedStore {
        SharedStore {
            path: path.to_owned(),
            conn: Mutex::new(None),
        }
    }

    /// Runs `f` on the connection (opening it if needed). An error drops the
    /// connection, so the next call starts from a fresh one.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(Store::open_durable(&self.path)?);
        }
        let r = f(slot.as_mut().expect("opened above"));
        if r.is_err() {
            *slot = None;
        }
        r
    }
}
