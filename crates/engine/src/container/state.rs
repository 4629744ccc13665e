//! What the engine knows about a container's life: its status and the facts of its last run.
//! The truth about a running container is its monitor (alive or not, its exit record); this
//! record is brought up to date from it whenever a command looks (see `status`).

use super::config::PortMapping;
use serde::{Deserialize, Serialize};
use strata_monitor::MonitorPid;

/// A container's status, docker's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or reset for a restart).
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Its process ended.
    Exited,
    /// Being removed.
    Removing,
    /// Broken beyond repair (its creation failed half-way).
    Dead,
}

impl Status {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }

    /// Whether a process of it may run (its monitor is alive).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The network a container was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkState {
    /// The network namespace path (made by the engine, or the pod's / another container's).
    pub netns: Option<String>,
    /// The network's name.
    pub network: Option<String>,
    /// IPv4 address with prefix (`10.89.0.5/24`).
    pub ip: Option<String>,
    /// Gateway.
    pub gateway: Option<String>,
    /// MAC address of eth0.
    pub mac: Option<String>,
    /// Whether the CNI ADD completed (a DEL is owed as soon as `network` is set).
    pub attached: bool,
    /// The ports published for this run, host ports resolved (`-p`, `-P`, host port 0).
    pub ports: Vec<PortMapping>,
    /// The CNI result of the ADD, given back as `prevResult` at DEL.
    pub cni_result: Option<serde_json::Value>,
    /// Its attachments to more networks (`network connect`), each recorded before its ADD.
    pub extra: Vec<ExtraAttachment>,
}

/// An attachment of a container's namespace to one more network: an interface besides eth0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExtraAttachment {
    /// The network's name.
    pub network: String,
    /// The interface in the container (`eth1`, ...).
    pub ifname: String,
    /// IPv4 address with prefix, once the ADD completed.
    pub ip: Option<String>,
    /// The network's gateway (not the container's default route, which stays eth0's).
    pub gateway: Option<String>,
    /// The interface's MAC address.
    pub mac: Option<String>,
    /// The CNI result of the ADD, given back as `prevResult` at DEL.
    pub cni_result: Option<serde_json::Value>,
}

/// A container's run-time state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerState {
    /// Status.
    pub status: Status,
    /// The init's host pid while it runs.
    pub pid: i32,
    /// The monitor of its current or last run.
    pub monitor: Option<MonitorPid>,
    /// When it last started (RFC 3339).
    pub started_at: Option<String>,
    /// When it last exited (RFC 3339).
    pub finished_at: Option<String>,
    /// Its last exit code.
    pub exit_code: Option<i32>,
    /// Whether the OOM killer ended its last run.
    pub oom_killed: bool,
    /// Restarts done by its restart policy.
    pub restart_count: u32,
    /// Whether the user stopped it (for `unless-stopped`).
    pub stopped_by_user: bool,
    /// Whether its root filesystem is mounted.
    pub rootfs_mounted: bool,
    /// Its network.
    pub net: NetworkState,
    /// The cause of its last failure, naming the layer (`... [layer: cgroup]`).
    pub error: Option<String>,
}
