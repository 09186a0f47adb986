//! `[control]`, the operator's HTTP API, and `[faults]`, the fault injection it
//! can switch on and the crash point of recovery drills. An address that
//! parses is accepted here and bound (or refused) by the daemon; a crash
//! point must name one (`point` or `point#n`).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub listen: SocketAddr,
    /// Empty: `<data_dir>/control.token`.
    pub token_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    #[serde(with = "super::flags")]
    pub enabled: bool,
    /// A crash point (`roll.journaled#2`): the process aborts, as `kill -9`
    /// would kill it, the nth time it gets there. For recovery drills; empty:
    /// none.
    pub crash_at: String,
}

impl Faults {
    pub(super) fn validate(&self) -> Result<(), super::Invalid> {
        match commodore_actors::kernel::CrashPoint::parse(&self.crash_at) {
            Ok(_) => Ok(()),
            Err(e) => Err(("faults.crash_at".to_owned(), e)),
        }
    }
}
