//! The journal's one error type: every failure names the file it is about and,
//! where an operator can act, says what to do.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("journal {path}: cannot create its directory: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}: schema version {found} is newer than this commodore knows ({known}); run a newer commodore")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("journal {path}: corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "order log {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    OrderLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}: its last write failed: no order is journaled (or sent) until it answers again")]
    Failing { path: PathBuf },
}

/// Wraps a SQLite error of the journal at `path`.
pub(super) fn sqlite_at(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Sqlite {
        path: path.to_owned(),
        source,
    }
}
