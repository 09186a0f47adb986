//! The control API's bearer token: `COMMODORE_CONTROL_TOKEN`, else the token file
//! (`control.token_file`, default `<data_dir>/control.token`). The daemon creates
//! the file (mode 0600, a fresh random token) when it is absent; `ctl` only reads.

use crate::config::Config;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const ENV: &str = "COMMODORE_CONTROL_TOKEN";
/// Random bytes in a generated token (hex-encoded: 64 characters).
const TOKEN_BYTES: usize = 32;
/// Longest token accepted (a header has to carry it).
const MAX_TOKEN_LEN: usize = 4096;
/// The shortest token the daemon accepts: anything shorter is guessable.
const MIN_TOKEN_LEN: usize = 16;

/// Where the token came from, to name it in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env => write!(f, "{ENV}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

pub struct Token {
    pub value: String,
    pub source: Source,
}

pub fn token_path(cfg: &Config) -> PathBuf {
    if cfg.control.token_file.as_os_str().is_empty() {
        cfg.data_dir.join("control.token")
    } else {
        cfg.control.token_file.clone()
    }
}

fn from_env() -> Result<Option<Token>, String> {
    match std::env::var(ENV) {
        Ok(v) if v.trim().is_empty() => Err(format!(
            "{ENV} is set but empty: unset it (the token file is used then) or set a token"
        )),
        Ok(v) => Ok(Some(Token {
            value: checked(v.trim(), &Source::Env)?,
            source: Source::Env,
        })),
        Err(_) => Ok(None),
    }
}

fn checked(v: &str, source: &Source) -> Result<String, String> {
    // Visible ASCII only: it travels in an HTTP header.
    if v.len() > MAX_TOKEN_LEN || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the token in {source} is not usable: at most {MAX_TOKEN_LEN} visible ASCII characters, no spaces"
        ));
    }
    Ok(v.to_owned())
}

fn read(path: &Path) -> Result<Option<String>, String> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the control token {}: {e}",
                path.display()
            ))
        }
    };
    if let Ok(meta) = f.metadata() {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            // As ssh does with private keys: a token others can read is no secret.
            return Err(format!(
                "the control token file {} is accessible by others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    let mut s = String::new();
    f.take(MAX_TOKEN_LEN as u64 + 2)
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read the control token {}: {e}", path.display()))?;
    let v = s.trim();
    if v.is_empty() {
        return Err(format!(
            "the control token file {} is empty: delete it (the daemon writes a new one on start) or write a token into it",
            path.display()
        ));
    }
    checked(v, &Source::File(path.to_owned())).map(Some)
}

/// The daemon refuses a guessable token (a client sends whatever it has:
/// the daemon's answer says whether it is the one).
fn long_enough(t: Token) -> Result<Token, String> {
    if t.value.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token in {} is too short: at least {MIN_TOKEN_LEN} characters (a token the daemon makes has {})",
            t.source,
            2 * TOKEN_BYTES
        ));
    }
    Ok(t)
}

/// A fresh token from the operating system's randomness.
fn fresh() -> Result<String, String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a control token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The daemon's token: the environment's, the file's, or a new file's.
pub fn for_daemon(cfg: &Config) -> Result<Token, String> {
    if let Some(t) = from_env()? {
        return long_enough(t);
    }
    let path = token_path(cfg);
    let source = Source::File(path.clone());
    if let Some(v) = read(&path)? {
        return long_enough(Token { value: v, source });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {} for the control token: {e}", dir.display()))?;
    }
    let value = fresh()?;
    // create_new: two daemons starting at once cannot overwrite each other's token.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(format!("{value}\n").as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("cannot write the control token {}: {e}", path.display()))?;
            tracing::info!(file = %path.display(), "created a control token (mode 0600)");
            Ok(Token { value, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(&path)? {
            Some(v) => Ok(Token { value: v, source }),
            None => Err(format!("the control token {} vanished while starting", path.display())),
        },
        Err(e) => Err(format!(
            "cannot create the control token {}: {e}; check that the directory is writable, or set {ENV}",
            path.display()
        )),
    }
}

/// The client's token: the environment's or the file's; never creates one.
/// Why the client has no token.
#[derive(Debug)]
pub enum ClientTokenError {
    /// None anywhere: the daemon has not run with this config.
    Missing(String),
    /// One exists but cannot be used (unreadable, empty, bad characters, mode).
    Unusable(String),
}

pub fn for_client(cfg: &Config) -> Result<Token, ClientTokenError> {
    if let Some(t) = from_env().map_err(ClientTokenError::Unusable)? {
        return Ok(t);
    }
    let path = token_path(cfg);
    match read(&path).map_err(ClientTokenError::Unusable)? {
        Some(v) => Ok(Token {
            value: v,
            source: Source::File(path),
        }),
        None => Err(ClientTokenError::Missing(format!(
            "no control token: {ENV} is not set and {} does not exist; start the daemon once (it writes the file) or set {ENV}",
            path.display()
        ))),
    }
}

/// Compares in constant time (`subtle`): how long it takes does not tell
/// where the first difference is. A token of another length is refused at
/// once: its length is all that tells (a generated token is 64 hex digits).
pub fn matches(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_exact() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abd"));
        assert!(!matches("abc", "ab"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abc", ""));
        assert!(!matches("", "x"));
    }

    #[test]
    fn fresh_tokens_are_long_and_differ() {
        let (a, b) = (fresh().unwrap(), fresh().unwrap());
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert_ne!(a, b);
    }
}
