//! What the tree starts from and what it leaves: the state recovered from the
//! journal before anything starts, and the last events written once the tree
//! has ended.
//!
//! Invariant: `run` and `replay` recover through [`recover`] alike (a replay's
//! journal is fresh, so it recovers to a first start), and both end with
//! [`final_flush`], however the tree ended.

use commodore_actors::control;
use commodore_actors::journal::{JournalError, Store};
use commodore_actors::kernel::Kernel;
use commodore_actors::mode;
use commodore_actors::model::{ModeState, RiskState, Tiers};
use commodore_actors::risk;
use std::path::{Path, PathBuf};

/// The journal in a data directory.
pub fn journal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("journal.sqlite")
}

/// What the last run left in the journal, read and checked before anything
/// starts (the actors read it again themselves when they start).
pub struct Recovered {
    pub last_seq: u64,
    pub risk: RiskState,
    pub mode: ModeState,
    pub paused: Vec<String>,
    /// Engines an operator stopped: built held, not started.
    pub stopped: Vec<String>,
}

/// Before anything opens a file in it: `data_dir` exists (created if need be)
/// and this process can write in it, and the journal's files and the order logs
/// already there can be written. `Err` names what cannot be written and what to
/// do: one clear refusal up front instead of every actor failing on its own.
/// The lock that makes a data dir one daemon's: `<data_dir>/commodore.lock`,
/// locked (`flock`, exclusive) for as long as the returned file is open, with
/// the holder's pid in it. A second `run` on the same data dir would
/// interleave two journals in one file: refused, naming the holder.
pub fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, String> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.join("commodore.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_owned()
            } else {
                format!("another commodore (pid {holder})")
            };
            return Err(format!(
                "{} is in use by {who}: one daemon per data dir (two would write one journal); stop it, or give this one another data_dir (COMMODORE__DATA_DIR)",
                data_dir.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()))
        }
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

pub fn writable_data_dir(data_dir: &Path) -> Result<(), String> {
    let fix = |what: &Path, e: std::io::Error| {
        format!(
            "{} is not writable by this process ({e}): commodore keeps its journal, order logs and token in data_dir; run it as the directory's owner or make it writable (chmod u+rwx), or set data_dir (COMMODORE__DATA_DIR) to a directory it can write",
            what.display()
        )
    };
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "cannot create {} ({e}): create it, writable by the user running commodore, or set data_dir (COMMODORE__DATA_DIR) to a directory it can write",
            data_dir.display()
        )
    })?;
    probe_dir(data_dir).map_err(|e| fix(data_dir, e))?;
    let orders = data_dir.join("orders");
    if orders.is_dir() {
        probe_dir(&orders).map_err(|e| fix(&orders, e))?;
    }
    let journal = journal_path(data_dir);
    let mut files: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|end| PathBuf::from(format!("{}{end}", journal.display())))
        .collect();
    if let Ok(logs) = std::fs::read_dir(&orders) {
        files.extend(logs.filter_map(Result::ok).map(|e| e.path()));
    }
    for f in files.iter().filter(|f| f.is_file()) {
        // Opened for writing, nothing written: the file is left as it was.
        std::fs::OpenOptions::new()
            .append(true)
            .open(f)
            .map_err(|e| fix(f, e))?;
    }
    Ok(())
}

/// Creates and removes a file in `dir`: the one sure test of writing there
/// (permission bits say nothing of a read-only mount, ACLs or root).
fn probe_dir(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".commodore-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// The newest market time the journal at `path` holds (0 when empty): where
/// `run`'s market clock resumes.
pub fn journal_market_ms(path: &Path) -> Result<u64, JournalError> {
    Store::open(path)?.last_at_ms()
}

/// Before the daemon opens its journal: a data dir that shows a previous run
/// (the `orders/` directory every run leaves, or the journal's write-ahead
/// log) must have a journal with something in it, unless `fresh` (then the
/// old order logs are moved aside, never replayed into the new journal); an
/// existing journal must pass SQLite's `quick_check`. `Err` names what is
/// missing and what to do. (A control token alone shows nothing: an operator
/// may provide one before the first run.)
pub fn journal_present(data_dir: &Path, journal: &Path, fresh: bool) -> Result<(), String> {
    let size = std::fs::metadata(journal).map(|m| m.len()).ok();
    let orders = data_dir.join("orders");
    let logs: Vec<PathBuf> = std::fs::read_dir(&orders)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    let wal = journal.with_extension("sqlite-wal");
    let mut shows = Vec::new();
    if orders.is_dir() {
        shows.push(format!("{} ({} order logs)", orders.display(), logs.len()));
    }
    if wal.is_file() {
        shows.push(wal.display().to_string());
    }
    let missing = match size {
        None => Some("is missing"),
        Some(0) => Some("is empty"),
        Some(_) => None,
    };
    match (missing, shows.is_empty(), fresh) {
        (Some(what), false, false) => Err(format!(
            "{} {what}, but {} shows a previous run: restore the journal (from `commodore backup`), or start empty on purpose with `commodore run --fresh`",
            journal.display(),
            shows.join(" and ")
        )),
        (Some(_), false, true) if !logs.is_empty() => {
            let aside = data_dir.join("orders.before-fresh");
            if aside.exists() {
                return Err(format!(
                    "{} exists from an earlier --fresh: move it away first",
                    aside.display()
                ));
            }
            std::fs::rename(&orders, &aside)
                .map_err(|e| format!("cannot move {} aside: {e}", orders.display()))?;
            tracing::warn!(moved_to = %aside.display(), "run --fresh: the previous run's order logs are kept aside, not replayed");
            Ok(())
        }
        (Some(_), _, _) => Ok(()),
        (None, _, _) => quick_check(journal),
    }
}

/// SQLite's `quick_check` on the journal: `Err` names the file and the first
/// problem.
fn quick_check(journal: &Path) -> Result<(), String> {
    let verdict = rusqlite::Connection::open(journal)
        .and_then(|c| c.query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0)));
    match verdict {
        Ok(v) if v == "ok" => Ok(()),
        Ok(v) => Err(format!(
            "{} is damaged ({v}): restore it from a backup (`commodore backup`), or move it away and start with `commodore run --fresh`",
            journal.display()
        )),
        Err(e) => Err(format!(
            "{} cannot be read as a journal ({e}): restore it from a backup, or move it away and start with `commodore run --fresh`",
            journal.display()
        )),
    }
}

/// Marks the data dir as used by a run (the `orders/` directory), so that a
/// journal lost later is noticed ([`journal_present`]).
pub fn mark_run(data_dir: &Path) -> Result<(), String> {
    let orders = data_dir.join("orders");
    std::fs::create_dir_all(&orders).map_err(|e| format!("cannot create {}: {e}", orders.display()))
}

/// `now_ms`: the time a level or mode never journaled starts from.
pub fn recover(path: &Path, tiers: &Tiers, now_ms: u64) -> Result<Recovered, JournalError> {
    let store = Store::open(path)?;
    Ok(Recovered {
        last_seq: store.last_seq()?,
        risk: risk::load(&store, now_ms)?,
        mode: mode::load(&store, tiers, now_ms)?,
        paused: control::load_paused(&store)?.into_iter().collect(),
        stopped: control::load_stopped(&store)?.into_iter().collect(),
    })
}

/// Runs once the tree has ended, however it ended: the journal worker stopped with
/// its subtree, so the last events (the master's own) are written here.
///
/// Then the write-ahead log is merged into `journal.sqlite` and emptied, so
/// the file alone holds everything (a copy of it is a whole journal), even
/// if some connection of the tree was never closed.
pub fn final_flush(path: &Path, kernel: &Kernel) {
    // What the throttle counted in windows still open is summed up now.
    kernel.events().sum_up_all();
    let flushed = Store::open(path).and_then(|mut s| {
        let last = s.last_seq()?;
        s.append_events(&kernel.events().recent(last, usize::MAX))?;
        s.checkpoint()
    });
    match flushed {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            journal = %path.display(),
            "the journal's write-ahead log could not be merged in full: keep journal.sqlite-wal beside it"
        ),
        Err(e) => tracing::error!("final journal flush failed: {e}"),
    }
}

/// `commodore backup DEST`: a consistent copy of the journal at `journal`
/// into `dest`, while the daemon runs or not; `Err((status, why))`: 2 a
/// path to fix, 1 the copy failed.
pub fn backup(journal: &Path, dest: &Path) -> Result<(), (u8, String)> {
    if !journal.is_file() {
        return Err((
            2,
            format!(
                "no journal at {}: check data_dir (--config), or start the daemon once",
                journal.display()
            ),
        ));
    }
    if dest.exists() {
        return Err((
            2,
            format!(
                "{} exists: give a new file (a backup never overwrites)",
                dest.display()
            ),
        ));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err((2, format!("{}: no such directory", dir.display())));
        }
    }
    Store::open(journal)
        .and_then(|s| s.backup_to(dest))
        .map_err(|e| (1, format!("backup to {}: {e}", dest.display())))
}
