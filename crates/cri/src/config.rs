//! The server's configuration (`/etc/strata/cri.toml`), every field with a default so an
//! empty file (or none) serves.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `cri.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {
    /// The gRPC socket kubelet and crictl connect to.
    pub socket: PathBuf,
    /// The engine's persistent root (containers, pods, the image store); else `strata`'s
    /// `--root`.
    pub root: Option<PathBuf>,
    /// The engine's run-time root; else `strata`'s `--runroot`.
    pub runroot: Option<PathBuf>,
    /// The registries file (mirrors per host name, insecure registries, the default
    /// registry): the image layer's `registries.toml`; else `strata`'s `--registries-conf`.
    pub registries: Option<PathBuf>,
    /// The engine network pods join (empty: the engine's default bridge network).
    pub network: String,
    /// Where CNI plugins are (searched first, before the engine's own plugin directories).
    pub cni_bin_dir: PathBuf,
    /// Where the cluster network's CNI configuration is (a Kubernetes node's
    /// `/etc/cni/net.d`); empty: pods join `network`, the engine's own.
    pub cni_conf_dir: PathBuf,
    /// Runtime handlers (RuntimeClass names) this node answers to; "" is the default, and
    /// [`VM_HANDLER`] runs the pod in a microVM of its own.
    pub runtime_handlers: Vec<String>,
    /// `cgroupfs` or `systemd`.
    pub cgroup_driver: String,
    /// Where the streaming server (exec, attach, port-forward) listens.
    pub stream_address: String,
    /// Longest log line before it is split (bytes).
    pub max_log_line_size: usize,
}

/// The runtime handler (a Kubernetes RuntimeClass's `handler`) whose pods are VMs with
/// their own kernel, in which all their containers run (Kata's role).
pub const VM_HANDLER: &str = "strata-vm";

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: "/run/strata/cri.sock".into(),
            root: None,
            runroot: None,
            registries: None,
            network: String::new(),
            cni_bin_dir: "/usr/lib/cni".into(),
            cni_conf_dir: PathBuf::new(),
            runtime_handlers: vec![String::new(), VM_HANDLER.into()],
            cgroup_driver: "cgroupfs".into(),
            stream_address: "127.0.0.1:0".into(),
            max_log_line_size: 16 * 1024,
        }
    }
}

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(s) => Self::parse(&s).map_err(|e| format!("cri config {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cri config {}: {e}", path.display())),
        }
    }

    /// Parses a configuration.
    pub fn parse(s: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(s).map_err(|e| e.message().to_string())?;
        if !matches!(c.cgroup_driver.as_str(), "cgroupfs" | "systemd") {
            return Err(format!(
                "cgroup_driver {:?}: use cgroupfs or systemd",
                c.cgroup_driver
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults_and_fields_override_them() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("socket = \"/tmp/x.sock\"\ncgroup_driver = \"systemd\"").unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(c.cgroup_driver, "systemd");
        assert!(Config::parse("cgroup_driver = \"cgroupv3\"")
            .unwrap_err()
            .contains("cgroupfs or systemd"));
        assert!(Config::parse("sockett = \"x\"")
            .unwrap_err()
            .contains("sockett"));
    }
}
