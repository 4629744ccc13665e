//! The options of `create` and `run` (podman's and docker's spelling), and the container
//! configuration they make.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use strata_engine::container::config::{ContainerConfig, ExtraNetwork, NetworkMode, Resources};
use strata_engine::container::parse;

/// Options shared by `create` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateArgs {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=value, or KEY to take the caller's value).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=value lines).
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User (name or uid, with an optional :group).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// PID namespace: `host` shares the host's (its processes are visible and signalable).
    #[arg(long, value_name = "host")]
    pub pid: Option<String>,
    /// IPC namespace: `host` shares the host's (System V IPC and POSIX queues).
    #[arg(long, value_name = "host")]
    pub ipc: Option<String>,
    /// Another supplementary group of the process and its execs (a gid, or a name in the
    /// image's /etc/group); repeatable.
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Bind mount a host path or a named volume: SOURCE:DEST[:ro|rw|z|Z], or DEST alone for
    /// an anonymous volume.
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a mount: type=bind|volume|tmpfs,source=..,target=..[,readonly].
    #[arg(long)]
    pub mount: Vec<String>,
    /// Publish a container's port: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp].
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every exposed port on a random host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Network: bridge, host, none, container:NAME, or a network's name; more networks'
    /// names after it (comma-separated or repeated) are joined too (eth1, ...).
    #[arg(long, alias = "net", value_delimiter = ',')]
    pub network: Vec<String>,
    /// The cgroup to put the container's under (a path under each hierarchy; default
    /// /strata, or its pod's).
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Container host name.
    #[arg(long, short = 'h')]
    pub hostname: Option<String>,
    /// Hosts, DNS and sysctls.
    #[command(flatten)]
    pub names: NameFlags,
    /// Tune the container's OOM preference (-1000 to 1000; this host refuses negative values).
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap).
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Number of CPUs (fractional, e.g. 1.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options: NAME=SOFT[:HARD].
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add a host device: HOST[:CONTAINER][:PERMISSIONS], permissions any of r, w, m.
    #[arg(long)]
    pub device: Vec<String>,
    /// How the container is isolated: `container` (namespaces on the host's kernel, the
    /// default) or `vm` (a microVM with its own kernel, as Kata runs pods).
    #[arg(long)]
    pub isolation: Option<String>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Security options: seccomp=PROFILE.json|unconfined, apparmor=PROFILE|unconfined (where
    /// the host has AppArmor on), no-new-privileges.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,
    /// Overwrite the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Run the container in an existing pod.
    #[arg(long)]
    pub pod: Option<String>,
    /// Set metadata: KEY=VALUE.
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Add an annotation (KEY=VALUE) to the container's OCI configuration.
    #[arg(long = "annotation")]
    pub annotation: Vec<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the stop signal before killing the container.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    /// Platform of the image (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull policy: always, missing, never.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Log options: max-size=SIZE.
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Accepted for compatibility (the OCI runtime is built in).
    #[arg(long, hide = true)]
    pub runtime: Option<String>,
    /// The image to run.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn network_mode(s: &str) -> NetworkMode {
    match s {
        "bridge" | "default" | "" => NetworkMode::Default,
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other => match other.strip_prefix("container:") {
            Some(c) => NetworkMode::Container(c.to_string()),
            None => NetworkMode::Bridge(other.to_string()),
        },
    }
}

impl CreateArgs {
    /// The networks after the first `--network`: bridge networks joined besides it.
    fn extra_networks(&self) -> Result<Vec<ExtraNetwork>> {
        let Some((first, rest)) = self.network.split_first() else {
            return Ok(Vec::new());
        };
        if rest.is_empty() {
            return Ok(Vec::new());
        }
        if !matches!(
            network_mode(first),
            NetworkMode::Bridge(_) | NetworkMode::Default
        ) {
            bail!(
                "--network {first} cannot be combined with other networks: only bridge networks join together"
            );
        }
        rest.iter()
            .map(|n| match network_mode(n) {
                NetworkMode::Bridge(name) => Ok(ExtraNetwork {
                    name,
                    aliases: Vec::new(),
                }),
                _ => bail!("--network {n}: only a network's name can follow the first network"),
            })
            .collect()
    }

    /// The container configuration these options ask for.
    pub fn config(&self) -> Result<ContainerConfig> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(parse::env_file(f)?);
        }
        env.extend(self.env.iter().filter_map(|e| parse::env(e)));
        let mut mounts = Vec::new();
        for v in &self.volume {
            mounts.push(parse::volume(v)?);
        }
        for m in &self.mount {
            mounts.push(parse::mount(m)?);
        }
        for t in &self.tmpfs {
            mounts.push(parse::tmpfs(t)?);
        }
        let ports = self
            .publish
            .iter()
            .map(|p| parse::port(p))
            .collect::<strata_engine::Result<Vec<_>>>()?;
        let mut seccomp = None;
        let mut apparmor = None;
        let mut nnp = false;
        for o in &self.security_opt {
            match o.split_once(['=', ':']) {
                Some(("seccomp", p)) => seccomp = Some(p.to_string()),
                _ if o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true" => nnp = true,
                Some(("apparmor", p)) => apparmor = Some(p.to_string()),
                Some(("label", _)) => {}
                _ => bail!("invalid --security-opt {o:?}: use seccomp=PROFILE|unconfined, apparmor=PROFILE|unconfined or no-new-privileges"),
            }
        }
        let mut labels = BTreeMap::new();
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mut log_max_size = 0;
        for o in &self.log_opt {
            match o.split_once('=') {
                Some(("max-size", v)) => log_max_size = parse::size(v)? as u64,
                Some(("max-file", _)) | Some(("path", _)) | Some(("tag", _)) => {}
                _ => bail!("invalid --log-opt {o:?}: use max-size=SIZE"),
            }
        }
        if !matches!(self.pull.as_str(), "always" | "missing" | "never" | "newer") {
            bail!(
                "invalid --pull {:?}: use always, missing or never",
                self.pull
            );
        }
        if let Some(s) = &self.stop_signal {
            strata_engine::container::stop::parse_signal(s)?;
        }
        let entrypoint = self.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![]
            } else if e.trim_start().starts_with('[') {
                serde_json::from_str(e).unwrap_or_else(|_| vec![e.clone()])
            } else {
                vec![e.clone()]
            }
        });
        Ok(ContainerConfig {
            image: self.image.clone(),
            entrypoint,
            command: self.command.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            group_add: self.group_add.clone(),
            pid_host: host_mode("--pid", self.pid.as_deref())?,
            ipc_host: host_mode("--ipc", self.ipc.as_deref())?,
            apparmor_profile: apparmor,
            hostname: self.hostname.clone(),
            labels,
            annotations: self
                .annotation
                .iter()
                .map(|a| {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            tty: self.tty,
            interactive: self.interactive,
            mounts,
            ports,
            publish_all: self.publish_all,
            network: self
                .network
                .first()
                .map(|n| network_mode(n))
                .unwrap_or_default(),
            network_aliases: Vec::new(),
            cgroup_parent: self.cgroup_parent.clone(),
            systemd_cgroup: false,
            // The caller's terminal size from the start (its resizes follow on attach).
            console_size: self.tty.then(|| crate::tty::size(0)).flatten(),
            extra_networks: self.extra_networks()?,
            dns: self.names.dns.clone(),
            dns_search: self.names.dns_search.clone(),
            dns_options: self.names.dns_option.clone(),
            sysctls: parse_pairs("--sysctl", &self.names.sysctl)?,
            oom_score_adj: self.oom_score_adj,
            masked_paths: None,
            readonly_paths: None,
            add_hosts: self.names.add_host.clone(),
            resources: Resources {
                memory: self.memory.as_deref().map(parse::size).transpose()?,
                memory_swap: match self.memory_swap.as_deref() {
                    Some("-1") => Some(-1),
                    Some(s) => Some(parse::size(s)?),
                    None => None,
                },
                cpus: self.cpus,
                cpu_shares: self.cpu_shares,
                cpuset_cpus: self.cpuset_cpus.clone(),
                pids_limit: self.pids_limit,
                ulimits: self
                    .ulimit
                    .iter()
                    .map(|u| parse::ulimit(u))
                    .collect::<strata_engine::Result<_>>()?,
                ..Default::default()
            },
            devices: self
                .device
                .iter()
                .map(|d| parse::device(d))
                .collect::<strata_engine::Result<_>>()?,
            pid_target: None,
            isolation: self.isolation.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            read_only: self.read_only,
            seccomp,
            no_new_privileges: nnp,
            restart: self
                .restart
                .as_deref()
                .map(parse::restart)
                .transpose()?
                .unwrap_or_default(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            init: self.init,
            auto_remove: self.rm,
            pod: self.pod.clone(),
            infra: false,
            platform: self.platform.clone(),
            log_max_size,
            log_path: None,
            image_id: String::new(),
        })
    }
}

/// A `--pid`/`--ipc` mode: `host`, or the default (`private`, or none).
fn host_mode(flag: &str, mode: Option<&str>) -> anyhow::Result<bool> {
    match mode {
        None | Some("private") | Some("") => Ok(false),
        Some("host") => Ok(true),
        Some(m) => bail!("{flag} {m:?}: use host (or private, the default)"),
    }
}

/// The flags a container and a pod share for its /etc/hosts, /etc/resolv.conf and
/// namespaced kernel parameters (a pod's apply to its containers).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NameFlags {
    /// Add a host to /etc/hosts: HOST:IP.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS resolver options (`ndots:2`).
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set a namespaced kernel parameter: NAME=VALUE (net.*, kernel.shm*, ...).
    #[arg(long)]
    pub sysctl: Vec<String>,
}

/// `NAME=VALUE` flags as a map (`--sysctl`).
pub fn parse_pairs(flag: &str, v: &[String]) -> Result<BTreeMap<String, String>> {
    v.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid {flag} {kv:?}: use NAME=VALUE"),
        })
        .collect()
}
