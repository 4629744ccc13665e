//! The default network (`--network bridge`, or none given): made on first use. Its name,
//! bridge and subnet are `strata`, `strata0` (the next free `strataN` if the host has a
//! `strata0` already, another root's) and a free subnet (10.88.0.0/16 unless taken, as
//! podman's own bridge takes it, then 10.89.0.0/24 upwards: free of the host's routes; a
//! network's bridge is made with it, under a host-wide lock, so another root's network
//! shows at once), unless
//! the engine's root says otherwise in `<root>/networks/default.json`:
//!
//! ```json
//! {"name": "testnet", "bridge": "st-test0", "subnet": "10.123.0.0/24"}
//! ```
//!
//! (every key optional), which keeps engines with different roots (parallel test roots)
//! apart.

use super::conflist;
use crate::engine::Engine;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The default network's name when none is configured.
pub const NAME: &str = "strata";
/// Its bridge when none is configured.
pub const BRIDGE: &str = "strata0";
/// The subnet it takes when free (podman's default).
pub const SUBNET: &str = "10.88.0.0/16";

/// `<root>/networks/default.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The default network's name.
    pub name: Option<String>,
    /// Its bridge interface.
    pub bridge: Option<String>,
    /// Its subnet.
    pub subnet: Option<String>,
}

impl Settings {
    /// The engine's settings (all defaults when the file is absent).
    pub fn load(e: &Engine) -> Result<Settings> {
        let p = conflist::dir(e).join("default.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|err| {
                Error::Invalid(format!(
                    "network: {} does not parse: {err} [layer: node]",
                    p.display()
                ))
            }),
            Err(_) => Ok(Settings::default()),
        }
    }

    /// The default network's name.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(NAME)
    }
}
