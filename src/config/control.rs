//! `[control]`, the operator's HTTP API, and `[faults]`, the fault injection it
//! can switch on. Neither has a value to check beyond its type: an address that
//! parses is accepted here and bound (or refused) by the daemon.

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
}
