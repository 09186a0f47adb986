//! The notifier's outbox after a chaos run or a crash loop (`commodore
//! check-journal --delivered`): every notification due was delivered or is
//! still pending, none delivered was never due. Over the journal alone and
//! the receiver's list of the dedupe keys it answered 2xx to.

use super::invariants::{n, Check, Journal, LISTED};
use rusqlite::params;
use std::collections::BTreeMap;
use std::path::Path;

const OUTBOX: &str = "outbox_delivered_or_pending";

/// Every notification a webhook had to get is delivered (its dedupe key in
/// `delivered`, one key per line as the receiver logged each 2xx it
/// answered) or still pending in the outbox; nothing delivered was never
/// due. Due: every event with a notification kind after the notifier's
/// first start (it begins at the journal's end), for a webhook that wants
/// every kind. Duplicates (a kill between the answer and the row's removal:
/// at least once, same `Idempotency-Key`) are counted in the detail, and are
/// a failure only when `exactly_once`.
pub fn outbox_delivered_or_pending(
    path: &Path,
    delivered: &Path,
    exactly_once: bool,
) -> Result<Check, String> {
    use commodore_actors::kernel::{Event, EventKind};
    let j = Journal::open(path)?;
    let text = std::fs::read_to_string(delivered).map_err(|e| {
        format!(
            "cannot read the delivered keys {}: {e}",
            delivered.display()
        )
    })?;
    let mut got: BTreeMap<String, u32> = BTreeMap::new();
    for key in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *got.entry(key.to_owned()).or_default() += 1;
    }
    let first = j.count(
        "SELECT MIN(seq) FROM events WHERE kind = 'started' AND path = ?1",
        params![format!(
            "{}/{}",
            commodore_actors::paths::MASTER,
            commodore_actors::paths::NOTIFIER
        )],
    )?;
    let mut pending: BTreeMap<String, u32> = BTreeMap::new();
    {
        let mut stmt = j
            .conn
            .prepare("SELECT dedupe FROM outbox")
            .map_err(|e| j.sql(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| j.sql(e))?;
        for row in rows {
            *pending.entry(row.map_err(|e| j.sql(e))?).or_default() += 1;
        }
    }
    let mut stmt = j
        .conn
        .prepare("SELECT seq, kind, path FROM events WHERE seq > ?1 ORDER BY seq")
        .map_err(|e| j.sql(e))?;
    let rows = stmt
        .query_map(params![first as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| j.sql(e))?;
    let (mut due, mut missing, mut still) = (0u64, Vec::new(), 0u64);
    let mut expected = std::collections::BTreeSet::new();
    for row in rows {
        let (seq, kind, path) = row.map_err(|e| j.sql(e))?;
        let Some(kind) = kind
            .parse::<EventKind>()
            .ok()
            .or_else(|| commodore_actors::events::domain_kind(&kind))
        else {
            continue;
        };
        let event = Event {
            seq: seq as u64,
            at_ms: 0,
            kind,
            path,
            detail: String::new(),
        };
        if commodore_actors::notifier::webhook::kinds_of(&event).is_empty() {
            continue;
        }
        due += 1;
        let key = format!("event:{seq}");
        if got.contains_key(&key) {
        } else if pending.contains_key(&key) {
            still += 1;
        } else if missing.len() < LISTED {
            missing.push(format!(
                "{key} ({}) neither delivered nor pending",
                event.kind.as_str()
            ));
        } else {
            missing.push(String::new());
        }
        expected.insert(key);
    }
    let lost = missing.len();
    let mut problems: Vec<String> = missing.into_iter().filter(|m| !m.is_empty()).collect();
    if lost > problems.len() {
        problems.push(format!("{lost} lost in all"));
    }
    let phantoms: Vec<&String> = got
        .keys()
        .filter(|k| !expected.contains(*k) && k.starts_with("event:"))
        .filter(|k| {
            k.trim_start_matches("event:")
                .parse::<u64>()
                .is_ok_and(|s| s > first)
        })
        .collect();
    if let Some(k) = phantoms.first() {
        problems.push(format!(
            "{} delivered that no journaled event asked for, e.g. {k}",
            phantoms.len()
        ));
    }
    let twice = got.values().filter(|&&c| c > 1).count();
    if exactly_once && twice > 0 {
        problems.push(format!("{twice} delivered more than once"));
    }
    let checked = format!(
        "{} due after seq {first}: {} delivered, {still} pending in the outbox, {twice} delivered \
         twice (same Idempotency-Key)",
        n(due, "notification"),
        due - still - lost as u64
    );
    Ok(Check::of(OUTBOX, problems, checked))
}
