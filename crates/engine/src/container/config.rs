//! What the user asked for when creating a container: podman's and docker's `create`/`run`
//! options, stored as given (the OCI config is generated from it and the image at start).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A container's configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    /// The image id (config digest) it was created from.
    pub image_id: String,
    /// `--entrypoint` (replaces the image's; an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    /// The command (replaces the image's Cmd when given).
    pub command: Vec<String>,
    /// `-e`/`--env-file`, `KEY=value`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u user[:group]`.
    pub user: Option<String>,
    /// `--group-add`: more supplementary groups (gids, or names in the image's
    /// /etc/group), of the container's process and its execs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--pid host`: the host's PID namespace instead of one of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pid_host: bool,
    /// `--ipc host`: the host's IPC namespace instead of one of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipc_host: bool,
    /// `--security-opt apparmor=NAME`: the AppArmor profile of its processes (a loaded
    /// one, or `unconfined`), where the host has AppArmor on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// The cgroup it goes under (its pod's `cgroup_parent`; see [`crate::pod::PodConfig`]).
    pub cgroup_parent: Option<String>,
    /// Its cgroup is a systemd scope (the runtime's `--systemd-cgroup`).
    pub systemd_cgroup: bool,
    /// `-t`.
    pub tty: bool,
    /// The terminal's first size, rows and columns (docker's `HostConfig.ConsoleSize`), so
    /// that the process sees it before the client's first resize.
    pub console_size: Option<(u16, u16)>,
    /// `-i`.
    pub interactive: bool,
    /// `-v`, `--mount`, `--tmpfs`.
    pub mounts: Vec<MountSpec>,
    /// `-p`.
    pub ports: Vec<PortMapping>,
    /// `-P`: publish every exposed port on a random host port.
    pub publish_all: bool,
    /// `--network`.
    pub network: NetworkMode,
    /// `--network-alias`: more names its network's peers find it by (docker-compose's
    /// service names).
    pub network_aliases: Vec<String>,
    /// Networks joined besides the first (`network connect`), in order: their interfaces
    /// are eth1, eth2, ...
    pub extra_networks: Vec<ExtraNetwork>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host host:ip`.
    pub add_hosts: Vec<String>,
    /// Resource limits.
    pub resources: Resources,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--security-opt seccomp=<file>` (the profile's path), `unconfined`, or none (default).
    pub seccomp: Option<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--restart`.
    pub restart: RestartPolicy,
    /// `--stop-signal` (else the image's StopSignal, else SIGTERM).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (else 10).
    pub stop_timeout: Option<u32>,
    /// `--init`: a minimal init as PID 1 that reaps and forwards signals.
    pub init: bool,
    /// `--rm`: removed when it exits.
    pub auto_remove: bool,
    /// The pod it belongs to (id).
    pub pod: Option<String>,
    /// Whether it is a pod's infra container.
    pub infra: bool,
    /// `--platform` it was pulled for.
    pub platform: Option<String>,
    /// Rotate the log past this many bytes (0: never).
    pub log_max_size: u64,
    /// Where its log goes (else `<root>/containers/<id>/ctr.log`): the CRI's log path.
    pub log_path: Option<std::path::PathBuf>,
    /// `--annotation`: given to the runtime in the OCI config beside the labels (the CRI
    /// keeps its own metadata here).
    pub annotations: BTreeMap<String, String>,
    /// `--sysctl`: namespaced kernel parameters set in the container's namespaces.
    pub sysctls: BTreeMap<String, String>,
    /// `--oom-score-adj` (only values the host allows: no negative one here).
    pub oom_score_adj: Option<i32>,
    /// Paths hidden in the container instead of the default list (the CRI's masked paths).
    pub masked_paths: Option<Vec<String>>,
    /// Paths read-only in the container instead of the default list.
    pub readonly_paths: Option<Vec<String>>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_options: Vec<String>,
    /// `--device`: host devices made available in the container.
    pub devices: Vec<DeviceMapping>,
    /// The container (id) whose PID namespace a pod's container joins instead of the pod's
    /// (the CRI's TARGET mode: an ephemeral debug container sees its target's processes).
    pub pid_target: Option<String>,
    /// `--isolation vm`: the container runs in a microVM with its own kernel (Kata's
    /// isolation) instead of sharing the host's.
    pub isolation: Option<String>,
}

impl ContainerConfig {
    /// Whether the container runs in a VM.
    pub fn in_vm(&self) -> bool {
        self.isolation.as_deref() == Some("vm")
    }
}

/// One `--device HOST[:CONTAINER][:PERMISSIONS]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceMapping {
    /// The device (or a directory of devices) on the host.
    pub host_path: String,
    /// Where it appears in the container (the host path if empty).
    pub container_path: String,
    /// What the container may do with it: any of `r`, `w`, `m` (mknod); `rwm` if empty.
    pub permissions: String,
}

/// One mount of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume); empty for tmpfs.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    #[serde(default)]
    pub readonly: bool,
    /// Extra options (tmpfs size/mode, bind propagation, `z`/`Z` accepted).
    #[serde(default)]
    pub options: Vec<String>,
}

/// Kinds of mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host directory or file.
    Bind,
    /// A named (or anonymous) volume.
    Volume,
    /// A tmpfs.
    Tmpfs,
}

/// `-p [ip:][hostPort:]containerPort[/proto]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Host address ("" for all).
    #[serde(default)]
    pub host_ip: String,
    /// Host port (0: pick a free one).
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// `--network`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode", content = "name")]
pub enum NetworkMode {
    /// The default bridge network (or the named one).
    #[default]
    Default,
    /// A named network.
    Bridge(String),
    /// The host's network namespace.
    Host,
    /// Only a loopback interface.
    None,
    /// Another container's network namespace (id).
    Container(String),
    /// The pod's namespace (set when the container joins a pod).
    Pod,
}

/// A network a container joins besides its first one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExtraNetwork {
    /// The network's name.
    pub name: String,
    /// More names its peers on that network find it by.
    pub aliases: Vec<String>,
}

/// Resource limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Resources {
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (memory + swap; -1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpus` (fractional CPUs).
    pub cpus: Option<f64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit` (-1 unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit name=soft[:hard]`.
    pub ulimits: Vec<Ulimit>,
    /// Huge page limits in bytes by page size (`2MB`, `1GB`: the hugetlb controller's names).
    pub hugepage_limits: BTreeMap<String, u64>,
    /// cgroup v2 files written as they are (`memory.high` = `...`): the CRI's `unified`.
    pub unified: BTreeMap<String, String>,
}

/// One `--ulimit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Name as docker spells it (`nofile`, `nproc`, ...).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// `--restart`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name", content = "maxRetries")]
pub enum RestartPolicy {
    /// Never restart.
    #[default]
    No,
    /// Restart after a non-zero exit, at most N times (0: no limit).
    OnFailure(u32),
    /// Always restart (also after a reboot, on the next engine command).
    Always,
    /// Always, unless the user stopped it.
    UnlessStopped,
}

impl RestartPolicy {
    /// Its docker name.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }
}
