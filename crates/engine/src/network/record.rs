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
    /// `bridge` (the engine's), or `cni` (imported).
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
    /// An imported CNI configuration list, used as it is (driver `cni`: a cluster network's
    /// configuration, as kubelet's nodes have in /etc/cni/net.d). Its plugins own the
    /// addresses, routes and NAT; bridge, subnet and gateway are empty.
    pub conflist: Option<serde_json::Value>,
}

impl Network {
    /// Whether the network is an imported CNI configuration (not one of the engine's
    /// bridges).
    pub fn imported(&self) -> bool {
        self.conflist.is_some()
    }
}
