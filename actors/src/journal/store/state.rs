//! The `state` table: durable key/value rows (risk level, mode, pauses, the
//! notifier's cursor...), each with the reason and time it was set. A write
//! through `put_state_durable` survives power loss, not only a crash. Keys are
//! `StateKey`s and values their records' text (`journal/keys.rs`).

use super::{JournalError, Store};
use crate::journal::keys::{EngineState, StateKey};
use crate::kernel::Pending;
use rusqlite::{params, OptionalExtension};

fn put(
    tx: &rusqlite::Transaction<'_>,
    key: StateKey<'_>,
    value: &str,
    reason: &str,
    at_ms: u64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO state (key, value, reason, at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, reason = excluded.reason, at_ms = excluded.at_ms",
        params![key.name(), value, reason, at_ms as i64],
    )
    .map(|_| ())
}

/// One row of durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub key: String,
    pub value: String,
    pub reason: String,
    pub at_ms: u64,
}

impl Store {
    /// Writes a state value with `synchronous = FULL`: it survives power loss, not
    /// only a crash of the process. For risk level, mode and order changes.
    pub fn put_state_durable(
        &mut self,
        key: StateKey<'_>,
        value: &str,
        reason: &str,
        at_ms: u64,
    ) -> Result<(), JournalError> {
        self.durable(|tx| put(tx, key, value, reason, at_ms))
    }

    /// Removes a state value (durably); absent is fine.
    pub fn forget_state(&mut self, key: StateKey<'_>) -> Result<(), JournalError> {
        self.durable(|tx| {
            tx.execute("DELETE FROM state WHERE key = ?1", params![key.name()])
                .map(|_| ())
        })
    }

    /// `put_state_durable` and the event that reports it (with the events
    /// before it), in one transaction: both survive, or neither
    /// ([`EventBus::publish_durably`](crate::kernel::EventBus::publish_durably)).
    pub fn put_state_with_event(
        &mut self,
        pending: &Pending<'_>,
        key: StateKey<'_>,
        value: &str,
        reason: &str,
        at_ms: u64,
    ) -> Result<(), JournalError> {
        self.durable_with_events(pending, |tx| put(tx, key, value, reason, at_ms))
    }

    /// Several state values in one durable transaction, with one reason:
    /// facts that must change together (a peak and the capital it is
    /// measured on).
    pub fn put_states_durable(
        &mut self,
        entries: &[(StateKey<'_>, String)],
        reason: &str,
        at_ms: u64,
    ) -> Result<(), JournalError> {
        self.durable(|tx| {
            entries
                .iter()
                .try_for_each(|(key, value)| put(tx, *key, value, reason, at_ms))
        })
    }

    /// An event (with the events before it) alone, durably: an operator's
    /// command that changes no state but must be on record before it is
    /// answered.
    pub fn append_event_durably(&mut self, pending: &Pending<'_>) -> Result<(), JournalError> {
        self.durable_with_events(pending, |_| Ok(()))
    }

    /// A state value with its reason and time, if set.
    pub fn state_entry(&self, key: StateKey<'_>) -> Result<Option<StateEntry>, JournalError> {
        let key = key.name();
        let r = self
            .conn
            .query_row(
                "SELECT value, reason, at_ms FROM state WHERE key = ?1",
                params![key],
                |row| {
                    Ok(StateEntry {
                        key: key.clone(),
                        value: row.get(0)?,
                        reason: row.get(1)?,
                        at_ms: row.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional();
        self.sql(r)
    }

    /// Every engine's state of kind `what`, by key, with the engine's id.
    pub fn state_of_engines(
        &self,
        what: EngineState,
    ) -> Result<Vec<(String, StateEntry)>, JournalError> {
        let mut stmt = {
            let r = self.conn.prepare_cached(
                "SELECT key, value, reason, at_ms FROM state WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            );
            self.sql(r)?
        };
        let rows = stmt.query_map(params!["engine."], |row| {
            Ok(StateEntry {
                key: row.get(0)?,
                value: row.get(1)?,
                reason: row.get(2)?,
                at_ms: row.get::<_, i64>(3)? as u64,
            })
        });
        let rows = rows.map_err(|source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        })?;
        let rows = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| JournalError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        Ok(rows
            .into_iter()
            .filter_map(|e| match StateKey::parse(&e.key)?.engine()? {
                (id, w) if w == what => Some((id.to_owned(), e.clone())),
                _ => None,
            })
            .collect())
    }

    /// A state value and its reason, if set.
    pub fn state(&self, key: StateKey<'_>) -> Result<Option<(String, String)>, JournalError> {
        let r = self
            .conn
            .query_row(
                "SELECT value, reason FROM state WHERE key = ?1",
                params![key.name()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional();
        self.sql(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp;
    use super::*;

    #[test]
    fn durable_state_round_trips() {
        let p = temp("state");
        let mut s = Store::open(&p).unwrap();
        let risk = StateKey::RiskLevel;
        assert_eq!(s.state(risk).unwrap(), None);
        s.put_state_durable(risk, "HALT", "drawdown 6%", 1).unwrap();
        s.put_state_durable(risk, "PANIC", "operator", 2).unwrap();
        s.put_state_durable(StateKey::EnginePaused("KC"), "true", "r", 3)
            .unwrap();
        s.put_state_durable(StateKey::EngineBreaker("KC"), "closed:0", "b", 4)
            .unwrap();
        // A row no build of ours writes is not an engine's state.
        s.conn
            .execute(
                "INSERT INTO state (key, value, reason, at_ms) VALUES ('engine_x', 'false', 'not mine', 4)",
                [],
            )
            .unwrap();
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(
            s.state(risk).unwrap(),
            Some(("PANIC".into(), "operator".into()))
        );
        assert_eq!(s.state_entry(risk).unwrap().unwrap().at_ms, 2);
        let paused = s.state_of_engines(EngineState::Paused).unwrap();
        assert_eq!(paused.len(), 1, "{paused:?}");
        assert_eq!(
            (
                paused[0].0.as_str(),
                paused[0].1.key.as_str(),
                paused[0].1.value.as_str()
            ),
            ("KC", "engine.KC.paused", "true")
        );
    }
}
