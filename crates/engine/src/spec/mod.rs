//! The OCI config of a container: the image's config and the user's options merged as docker
//! merges them (Entrypoint/Cmd, Env, User, WorkingDir, StopSignal), with docker's
//! confinement defaults (see [`security`]) and its namespaces, mounts and limits.

pub mod apparmor;
pub mod devices;
pub mod image_config;
pub mod resources;
pub mod security;
pub mod user;

use crate::container::config::ContainerConfig;
use crate::error::{Error, Result};
use image_config::ImageConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default PATH when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a namespace is had: a new one, or joined by path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ns {
    /// A new namespace.
    New,
    /// Join the namespace at this path.
    Join(String),
    /// The host's (no namespace of this type).
    Host,
}

/// A mount resolved to a host source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMount {
    /// Host path (bind), or "tmpfs".
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// `bind` or `tmpfs`.
    pub kind: &'static str,
    /// Mount options (`rbind`, `ro`, `size=..`).
    pub options: Vec<String>,
}

/// Everything the config is made from.
pub struct SpecInput<'a> {
    /// The user's options.
    pub config: &'a ContainerConfig,
    /// The image's config.
    pub image: &'a ImageConfig,
    /// The mounted root filesystem (to resolve users; the config names it `rootfs`).
    pub rootfs: &'a Path,
    /// Hostname.
    pub hostname: String,
    /// Network namespace.
    pub net: Ns,
    /// IPC namespace.
    pub ipc: Ns,
    /// UTS namespace.
    pub uts: Ns,
    /// PID namespace.
    pub pid: Ns,
    /// Mounts: volumes, binds, tmpfs, and /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub mounts: Vec<HostMount>,
    /// The cgroup path (`/strata/<id>`).
    pub cgroup_path: String,
    /// A parsed `--security-opt seccomp=FILE` profile (None: the default).
    pub seccomp_profile: Option<Value>,
    /// A static init (`--init`) to run as PID 1, bind-mounted at [`INIT_PATH`].
    pub init: Option<PathBuf>,
}

/// Where `--init`'s binary appears in the container.
pub const INIT_PATH: &str = "/run/strata-init";

/// The process's argv: docker's Entrypoint/Cmd rules (a given command replaces Cmd; a given
/// entrypoint replaces Entrypoint and drops the image's Cmd).
pub fn argv(c: &ContainerConfig, img: &ImageConfig) -> Result<Vec<String>> {
    let entry: Vec<String> = match &c.entrypoint {
        Some(e) => e.clone(),
        None => img.entrypoint.clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !c.command.is_empty() {
        c.command.clone()
    } else if c.entrypoint.is_some() {
        vec![]
    } else {
        img.cmd.clone().unwrap_or_default()
    };
    let v: Vec<String> = entry.into_iter().chain(cmd).collect();
    if v.is_empty() {
        return Err(Error::Invalid(
            "no command: the image has no Entrypoint or Cmd, give one after the image name".into(),
        ));
    }
    Ok(v)
}

/// Environment: the image's, then the user's (which win), then PATH, HOSTNAME, HOME and TERM
/// where missing.
pub fn env(
    c: &ContainerConfig,
    img: &ImageConfig,
    hostname: &str,
    home: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut set = |kv: &str| {
        let k = kv.split_once('=').map_or(kv, |(k, _)| k);
        out.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != k);
        out.push(kv.to_string());
    };
    for e in img.env.iter().chain(&c.env) {
        set(e);
    }
    let has = |out: &Vec<String>, k: &str| out.iter().any(|e| e.starts_with(&format!("{k}=")));
    if !has(&out, "PATH") {
        out.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&out, "HOSTNAME") {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&out, "HOME") {
        out.push(format!("HOME={}", home.unwrap_or("/")));
    }
    if c.tty && !has(&out, "TERM") {
        out.push("TERM=xterm".into());
    }
    out
}

fn ns_entry(kind: &str, ns: &Ns) -> Option<Value> {
    match ns {
        Ns::New => Some(json!({"type": kind})),
        Ns::Join(p) => Some(json!({"type": kind, "path": p})),
        Ns::Host => None,
    }
}

fn default_mounts(c: &ContainerConfig) -> Vec<Value> {
    let sys_opts = if c.privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if c.privileged {
        m.push(json!({"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "nosuid"]}));
    } else {
        m.push(json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}));
    }
    m.extend([
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ]);
    if c.read_only {
        for d in ["/tmp", "/var/tmp", "/run"] {
            m.push(json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}));
        }
    }
    m
}

/// The OCI config (config.json) of a container.
pub fn generate(i: &SpecInput<'_>) -> Result<Value> {
    let c = i.config;
    let user_spec = c.user.clone().unwrap_or_else(|| i.image.user.clone());
    let user = user::resolve_with_groups(i.rootfs, &user_spec, &c.group_add)?;
    let mut args = argv(c, i.image)?;
    if i.init.is_some() {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let cwd = c
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| {
            if i.image.working_dir.is_empty() {
                "/".into()
            } else {
                i.image.working_dir.clone()
            }
        });
    if !cwd.starts_with('/') {
        return Err(Error::Invalid(format!(
            "working directory {cwd:?} is not an absolute path"
        )));
    }
    let caps =
        security::capabilities(c.privileged, &c.cap_add, &c.cap_drop).map_err(Error::Invalid)?;
    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env(c, i.image, &i.hostname, user.home.as_deref()),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": resources::rlimits(&c.resources.ulimits),
        "noNewPrivileges": c.no_new_privileges,
    });
    if let (true, Some((rows, cols))) = (c.tty, c.console_size) {
        process["consoleSize"] = json!({"height": rows, "width": cols});
    }
    if user.uid != 0 {
        // A non-root user keeps only the bounding set (docker: no effective capabilities).
        process["capabilities"]["effective"] = json!([]);
        process["capabilities"]["permitted"] = json!([]);
    }
    let devices = devices::linux_devices(&c.devices, c.in_vm())?;
    let mut mounts = default_mounts(c);
    for m in &i.mounts {
        mounts.retain(|x| x["destination"] != json!(m.target));
        mounts.push(json!({
            "destination": m.target,
            "type": m.kind,
            "source": m.source,
            "options": m.options,
        }));
    }
    if let Some(init) = &i.init {
        mounts.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }
    mounts.extend(devices.binds.iter().cloned());
    let mut namespaces: Vec<Value> = vec![json!({"type": "mount"})];
    namespaces.extend(ns_entry("pid", &i.pid));
    namespaces.extend(ns_entry("network", &i.net));
    namespaces.extend(ns_entry("ipc", &i.ipc));
    namespaces.extend(ns_entry("uts", &i.uts));
    let mut res = resources::linux_resources(&c.resources);
    let mut rules = security::device_rules(c.privileged);
    if !c.privileged {
        if let Value::Array(r) = &mut rules {
            r.extend(devices.rules);
        }
    }
    res.insert("devices".into(), rules);
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": i.cgroup_path,
        "resources": res,
    });
    if !devices.nodes.is_empty() {
        linux["devices"] = Value::Array(devices.nodes);
    }
    // A shared mount's mounts reach the host only if the container's root is shared too
    // (the runtime otherwise makes it a slave of the host's), as containerd does.
    if i.mounts
        .iter()
        .any(|m| m.options.iter().any(|o| o == "rshared" || o == "shared"))
    {
        linux["rootfsPropagation"] = json!("rshared");
    }
    if !c.sysctls.is_empty() {
        linux["sysctl"] = json!(c.sysctls);
    }
    if let Some(adj) = c.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    if let Some(p) = apparmor::process_profile(c.apparmor_profile.as_deref()) {
        process["apparmorProfile"] = json!(p);
    }
    if !c.privileged {
        linux["maskedPaths"] = match &c.masked_paths {
            Some(p) => json!(p),
            None => json!(security::MASKED_PATHS),
        };
        linux["readonlyPaths"] = match &c.readonly_paths {
            Some(p) => json!(p),
            None => json!(security::READONLY_PATHS),
        };
        let profile = match (&c.seccomp, &i.seccomp_profile) {
            (Some(s), _) if s == "unconfined" => None,
            (_, Some(p)) => Some(p.clone()),
            _ => Some(security::default_seccomp(&caps)),
        };
        if let Some(p) = profile {
            linux["seccomp"] = p;
        }
    }
    let mut spec = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": "rootfs", "readonly": c.read_only},
        "mounts": mounts,
        "linux": linux,
        "annotations": c.labels.iter().chain(&c.annotations).collect::<BTreeMap<_, _>>(),
    });
    // A joined UTS namespace keeps its hostname (a pod's, set by its infra).
    if i.uts == Ns::New {
        spec["hostname"] = json!(i.hostname);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(entry: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        let v = |x: Option<&[&str]>| x.map(|a| a.iter().map(|s| s.to_string()).collect());
        ImageConfig {
            entrypoint: v(entry),
            cmd: v(cmd),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_merge_as_docker_does() {
        let mut c = ContainerConfig::default();
        let i = img(Some(&["/init"]), Some(&["serve"]));
        assert_eq!(argv(&c, &i).unwrap(), ["/init", "serve"]);
        c.command = vec!["other".into()];
        assert_eq!(argv(&c, &i).unwrap(), ["/init", "other"]);
        c.command.clear();
        c.entrypoint = Some(vec!["/bin/sh".into()]);
        assert_eq!(
            argv(&c, &i).unwrap(),
            ["/bin/sh"],
            "a new entrypoint drops the image's Cmd"
        );
        c.entrypoint = Some(vec![]);
        assert!(argv(&c, &i).is_err());
    }

    #[test]
    fn env_user_values_win_and_defaults_fill_in() {
        let c = ContainerConfig {
            env: vec!["A=2".into(), "B=3".into()],
            tty: true,
            ..Default::default()
        };
        let i = ImageConfig {
            env: vec!["A=1".into(), "PATH=/x".into()],
            ..Default::default()
        };
        let e = env(&c, &i, "h1", Some("/root"));
        assert_eq!(
            e,
            [
                "PATH=/x",
                "A=2",
                "B=3",
                "HOSTNAME=h1",
                "HOME=/root",
                "TERM=xterm"
            ]
        );
    }

    #[test]
    fn a_full_config_has_the_docker_defaults() {
        let t = tempfile::tempdir().unwrap();
        let c = ContainerConfig {
            command: vec!["true".into()],
            ..Default::default()
        };
        let i = ImageConfig::default();
        let s = generate(&SpecInput {
            config: &c,
            image: &i,
            rootfs: t.path(),
            hostname: "abc".into(),
            net: Ns::Join("/run/netns/x".into()),
            ipc: Ns::New,
            uts: Ns::New,
            pid: Ns::New,
            mounts: vec![HostMount {
                source: "/etc/hosts-of-c".into(),
                target: "/etc/hosts".into(),
                kind: "bind",
                options: vec!["bind".into(), "ro".into()],
            }],
            cgroup_path: "/strata/abc".into(),
            seccomp_profile: None,
            init: None,
        })
        .unwrap();
        assert_eq!(s["process"]["args"], json!(["true"]));
        assert_eq!(s["hostname"], "abc");
        assert_eq!(
            s["linux"]["namespaces"][2],
            json!({"type": "network", "path": "/run/netns/x"})
        );
        assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(s["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            security::DEFAULT_CAPS.len()
        );
        assert!(s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/etc/hosts"));
        assert!(
            s["linux"]["rootfsPropagation"].is_null(),
            "the runtime's default"
        );
        assert!(s["process"]["user"]["additionalGids"]
            .as_array()
            .unwrap()
            .is_empty());
        // It is a valid OCI config.
        let _: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
    }

    #[test]
    fn a_shared_mount_shares_the_root_and_added_groups_join_the_user() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/group"), "root:x:0:\nwheel:x:10:\n").unwrap();
        let c = ContainerConfig {
            command: vec!["true".into()],
            group_add: vec!["1234".into(), "wheel".into()],
            ..Default::default()
        };
        let i = ImageConfig::default();
        let input = |options: Vec<String>, c: &ContainerConfig| {
            generate(&SpecInput {
                config: c,
                image: &i,
                rootfs: t.path(),
                hostname: "abc".into(),
                net: Ns::New,
                ipc: Ns::New,
                uts: Ns::New,
                pid: Ns::New,
                mounts: vec![HostMount {
                    source: "/srv/data".into(),
                    target: "/data".into(),
                    kind: "bind",
                    options,
                }],
                cgroup_path: "/strata/abc".into(),
                seccomp_profile: None,
                init: None,
            })
        };
        let s = input(vec!["rbind".into(), "rshared".into()], &c).unwrap();
        assert_eq!(s["linux"]["rootfsPropagation"], "rshared");
        assert_eq!(s["process"]["user"]["additionalGids"], json!([1234, 10]));
        let s = input(vec!["rbind".into(), "rslave".into()], &c).unwrap();
        assert!(s["linux"]["rootfsPropagation"].is_null());
        let bad = ContainerConfig {
            group_add: vec!["nosuchgroup".into()],
            ..c.clone()
        };
        let err = input(vec![], &bad).unwrap_err().to_string();
        assert!(err.contains("--group-add \"nosuchgroup\""), "{err}");
    }
}
