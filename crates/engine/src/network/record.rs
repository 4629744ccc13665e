//! A network as the engine records it (the `config` column of its row): its bridge, its
//! subnet and what its CNI configuration list holds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bridge network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Its id (64 hex digits).
    pub id: String,
    /// When it was created (nanoseconds since the epoch).
    pub created: i64,
    /// Always `bridge`.
    pub driver: String,
    /// The host's bridge interface.
    pub bridge: String,
    /// IPv4 subnet (`10.89.0.0/24`).
    pub subnet: String,
    /// Gateway (the bridge's address).
    pub gateway: String,
    /// Whether containers' traffic leaving the subnet is masqueraded (once for the network,
    /// see `masquerade`).
    pub ip_masq: bool,
    /// Whether the `firewall` plugin is in the list (the host's FORWARD chain drops by
    /// default, so each container's traffic must be let through).
    pub firewall: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
}
