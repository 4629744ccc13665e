//! A CRI container configuration as the engine's: the command (CRI `command` replaces the
//! image's entrypoint, `args` its cmd), environment, mounts with their propagation, the
//! terminal and stdin, the log path under the pod's log directory, resources and the
//! security context.

use crate::meta;
use k8s_cri::v1::{
    security_profile::ProfileType, ContainerConfig as CriConfig, LinuxContainerSecurityContext,
    MountPropagation, NamespaceMode, NamespaceOption,
};
use std::path::PathBuf;
use strata_engine::container::config::{
    ContainerConfig, DeviceMapping, MountKind, MountSpec, Resources,
};
use strata_engine::pod::Pod;
use strata_engine::Error;

/// The engine's configuration of container `c` of pod `p`, for image `image`.
pub fn convert(c: &CriConfig, p: &Pod, image: &str) -> Result<ContainerConfig, Error> {
    let m = c.metadata.clone().unwrap_or_default();
    let mut annotations = meta::container_annotations(&m, &c.annotations);
    annotations.insert(meta::IMAGE.into(), image.into());
    let log_dir = meta::get(&p.config.annotations, meta::LOG_DIRECTORY);
    let log_path = (!log_dir.is_empty() && !c.log_path.is_empty())
        .then(|| PathBuf::from(&log_dir).join(&c.log_path));
    if let Some(dir) = log_path.as_ref().and_then(|l| l.parent()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("log directory {}", dir.display()), e))?;
    }
    let mut out = ContainerConfig {
        image: image.into(),
        entrypoint: (!c.command.is_empty()).then(|| c.command.clone()),
        command: c.args.clone(),
        env: c
            .envs
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect(),
        workdir: (!c.working_dir.is_empty()).then(|| c.working_dir.clone()),
        labels: c.labels.clone().into_iter().collect(),
        annotations,
        tty: c.tty,
        interactive: c.stdin,
        mounts: c.mounts.iter().map(mount).collect::<Result<_, _>>()?,
        devices: c
            .devices
            .iter()
            .map(|d| DeviceMapping {
                host_path: d.host_path.clone(),
                container_path: d.container_path.clone(),
                permissions: d.permissions.clone(),
            })
            .collect(),
        pod: Some(p.id.clone()),
        log_path,
        ..Default::default()
    };
    if let Some(l) = &c.linux {
        if let Some(r) = &l.resources {
            out.resources = crate::resources::merge(&Resources::default(), r);
            out.oom_score_adj = oom_score_adj(r.oom_score_adj);
        }
        if let Some(s) = &l.security_context {
            security(&mut out, s)?;
            if let Some(ns) = &s.namespace_options {
                out.pid_target = pid_target(ns, p)?;
            }
        }
    }
    Ok(out)
}

/// The container's PID namespace: TARGET joins another container's (an ephemeral debug
/// container's); NODE must be the pod's too. The other modes follow the pod's (kubelet sets
/// them alike).
fn pid_target(ns: &NamespaceOption, p: &Pod) -> Result<Option<String>, Error> {
    match NamespaceMode::try_from(ns.pid) {
        Ok(NamespaceMode::Target) if ns.target_id.is_empty() => Err(Error::Invalid(
            "pid namespace mode TARGET without a target_id".into(),
        )),
        Ok(NamespaceMode::Target) => Ok(Some(ns.target_id.clone())),
        Ok(NamespaceMode::Node) if !p.uses_host("pid") => Err(Error::Invalid(format!(
            "the host's PID namespace for a container of pod {}, which is not in it",
            p.name
        ))),
        _ => Ok(None),
    }
}

fn mount(m: &k8s_cri::v1::Mount) -> Result<MountSpec, Error> {
    if m.container_path.is_empty() || m.host_path.is_empty() {
        return Err(Error::Invalid(format!(
            "mount {:?} -> {:?}: both paths are needed",
            m.host_path, m.container_path
        )));
    }
    let propagation = match MountPropagation::try_from(m.propagation) {
        Ok(MountPropagation::PropagationHostToContainer) => RSLAVE,
        Ok(MountPropagation::PropagationBidirectional) => RSHARED,
        _ => "rprivate",
    };
    let mut options = vec![propagation.to_string()];
    if m.selinux_relabel {
        options.push("z".into());
    }
    Ok(MountSpec {
        kind: MountKind::Bind,
        source: m.host_path.clone(),
        target: m.container_path.clone(),
        readonly: m.readonly,
        options,
    })
}

/// The OOM score adjustment to ask for: kubelet's value when the host allows it; a negative
/// one (guaranteed pods) needs CAP_SYS_RESOURCE, which root lacks on some hosts (this one):
/// it becomes 0, the neutral value.
fn oom_score_adj(v: i64) -> Option<i32> {
    let v = v.clamp(-1000, 1000) as i32;
    match v {
        0 => None,
        v if v < 0 && !can_lower_oom_score() => Some(0),
        v => Some(v),
    }
}

/// The capability's number (linux/capability.h).
const CAP_SYS_RESOURCE: u32 = 24;

/// Whether this process may set a negative OOM score adjustment (CAP_SYS_RESOURCE).
fn can_lower_oom_score() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("CapEff:"))
                .and_then(|l| u64::from_str_radix(l[7..].trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// The AppArmor profile a security context asks for: its `apparmor` field, else the
/// deprecated `apparmor_profile` (`runtime/default`, `unconfined`, `localhost/NAME`). The
/// runtime default is none here (Strata loads no profile of its own).
// The deprecated field is still what older kubelets and critest's "deprecated" specs send.
#[allow(deprecated)]
fn apparmor(s: &LinuxContainerSecurityContext) -> Result<Option<String>, Error> {
    let localhost = |name: &str| match name.trim_start_matches("localhost/") {
        "" => Err(Error::Invalid(
            "a Localhost apparmor profile with no name".into(),
        )),
        n => Ok(Some(n.to_string())),
    };
    if let Some(p) = &s.apparmor {
        return match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::Unconfined) => Ok(Some("unconfined".into())),
            Ok(ProfileType::Localhost) => localhost(&p.localhost_ref),
            _ => Ok(None),
        };
    }
    match s.apparmor_profile.as_str() {
        "" | "runtime/default" => Ok(None),
        "unconfined" => Ok(Some("unconfined".into())),
        p if p.starts_with("localhost/") => localhost(p),
        p => Err(Error::Invalid(format!(
            "apparmor profile {p:?}: use runtime/default, unconfined or localhost/NAME"
        ))),
    }
}

/// The mount options of the CRI's propagation modes (private is the default).
const RSLAVE: &str = "rslave";
const RSHARED: &str = "rshared";

/// The CRI propagation a bind mount's options stand for (ContainerStatus reports it).
pub fn propagation_of(options: &[String]) -> MountPropagation {
    if options.iter().any(|o| o == RSHARED) {
        MountPropagation::PropagationBidirectional
    } else if options.iter().any(|o| o == RSLAVE) {
        MountPropagation::PropagationHostToContainer
    } else {
        MountPropagation::PropagationPrivate
    }
}

fn security(out: &mut ContainerConfig, s: &LinuxContainerSecurityContext) -> Result<(), Error> {
    out.privileged = s.privileged;
    // The lists kubelet sends (its defaults, or none for an unmasked /proc); none sent: ours.
    out.masked_paths = (!s.masked_paths.is_empty()).then(|| s.masked_paths.clone());
    out.readonly_paths = (!s.readonly_paths.is_empty()).then(|| s.readonly_paths.clone());
    out.read_only = s.readonly_rootfs;
    out.no_new_privileges = s.no_new_privs;
    if let Some(caps) = &s.capabilities {
        out.cap_add = caps.add_capabilities.clone();
        out.cap_drop = caps.drop_capabilities.clone();
    }
    let group = s.run_as_group.as_ref().map(|g| g.value);
    if s.run_as_user.is_none() && s.run_as_username.is_empty() && group.is_some() {
        return Err(Error::Invalid(
            "run_as_group needs run_as_user or run_as_username".into(),
        ));
    }
    out.group_add = s.supplemental_groups.iter().map(i64::to_string).collect();
    out.apparmor_profile = apparmor(s)?;
    out.user = match (&s.run_as_user, s.run_as_username.as_str(), group) {
        (Some(u), _, Some(g)) => Some(format!("{}:{g}", u.value)),
        (Some(u), _, None) => Some(u.value.to_string()),
        (None, "", _) => None,
        (None, name, Some(g)) => Some(format!("{name}:{g}")),
        (None, name, None) => Some(name.to_string()),
    };
    out.seccomp = match &s.seccomp {
        Some(p) => match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::Unconfined) => Some("unconfined".into()),
            Ok(ProfileType::Localhost) => {
                let path = p.localhost_ref.trim_start_matches("localhost/");
                if path.is_empty() {
                    return Err(Error::Invalid(
                        "a Localhost seccomp profile with no path".into(),
                    ));
                }
                if !std::path::Path::new(path).is_file() {
                    return Err(Error::Invalid(format!(
                        "seccomp profile {path}: no such file on the node [layer: seccomp]"
                    )));
                }
                Some(path.to_string())
            }
            _ => None,
        },
        // No profile asked for is none at all, as containerd has it (kubelet asks for
        // RuntimeDefault or Unconfined explicitly).
        None => Some("unconfined".into()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::{
        Capability, Device, HugepageLimit, Int64Value, KeyValue, LinuxContainerResources,
        SecurityProfile,
    };

    fn pod(log_dir: &str) -> Pod {
        let mut p = Pod {
            id: "p1".into(),
            name: "k8s_POD_x".into(),
            created: 0,
            config: Default::default(),
            infra: "i".into(),
        };
        p.config
            .annotations
            .insert(meta::LOG_DIRECTORY.into(), log_dir.into());
        p
    }

    #[test]
    fn command_args_env_and_security_map_to_the_engine() {
        let dir = std::env::temp_dir().join(format!("strata-cri-cc-{}", std::process::id()));
        let c = CriConfig {
            command: vec!["sh".into()],
            args: vec!["-c".into(), "true".into()],
            envs: vec![KeyValue {
                key: "A".into(),
                value: "b=c".into(),
            }],
            log_path: "app/0.log".into(),
            devices: vec![Device {
                container_path: "/dev/fuse".into(),
                host_path: "/dev/fuse".into(),
                permissions: "r".into(),
            }],
            linux: Some(k8s_cri::v1::LinuxContainerConfig {
                resources: Some(LinuxContainerResources {
                    cpu_quota: 50_000,
                    cpu_period: 100_000,
                    memory_limit_in_bytes: 64 << 20,
                    hugepage_limits: vec![HugepageLimit {
                        page_size: "2MB".into(),
                        limit: 4 << 20,
                    }],
                    unified: [("memory.high".to_string(), "max".to_string())].into(),
                    ..Default::default()
                }),
                security_context: Some(LinuxContainerSecurityContext {
                    run_as_user: Some(Int64Value { value: 1000 }),
                    run_as_group: Some(Int64Value { value: 100 }),
                    capabilities: Some(Capability {
                        add_capabilities: vec!["NET_ADMIN".into()],
                        drop_capabilities: vec!["CHOWN".into()],
                        ..Default::default()
                    }),
                    seccomp: Some(SecurityProfile {
                        profile_type: ProfileType::Localhost as i32,
                        localhost_ref: "/etc/passwd".into(),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let out = convert(&c, &pod(dir.to_str().unwrap()), "busybox").unwrap();
        assert_eq!(out.entrypoint, Some(vec!["sh".to_string()]));
        assert_eq!(out.command, vec!["-c", "true"]);
        assert_eq!(out.env, vec!["A=b=c"]);
        assert_eq!(out.user.as_deref(), Some("1000:100"));
        assert_eq!(out.cap_add, vec!["NET_ADMIN"]);
        assert_eq!(out.seccomp.as_deref(), Some("/etc/passwd"));
        assert_eq!(out.apparmor_profile, None);
        assert_eq!(out.resources.cpus, Some(0.5));
        assert_eq!(out.resources.memory, Some(64 << 20));
        assert_eq!(out.resources.hugepage_limits["2MB"], 4 << 20);
        assert_eq!(out.resources.unified["memory.high"], "max");
        assert_eq!(out.devices[0].permissions, "r");
        assert_eq!(out.log_path, Some(dir.join("app/0.log")));
        assert!(dir.join("app").is_dir(), "the log's directory is made");
        std::fs::remove_dir_all(&dir).unwrap();
        let no_log = convert(&CriConfig::default(), &pod(""), "busybox").unwrap();
        assert_eq!((no_log.log_path, no_log.entrypoint), (None, None));
    }

    #[test]
    #[allow(deprecated)]
    fn apparmor_seccomp_and_groups_of_a_security_context() {
        let sc = |f: &dyn Fn(&mut LinuxContainerSecurityContext)| {
            let mut s = LinuxContainerSecurityContext::default();
            f(&mut s);
            let mut out = ContainerConfig::default();
            security(&mut out, &s).map(|_| out)
        };
        let out = sc(&|_| {}).unwrap();
        assert_eq!(
            out.seccomp.as_deref(),
            Some("unconfined"),
            "no profile is none"
        );
        assert_eq!(out.apparmor_profile, None);
        let out = sc(&|s| {
            s.seccomp = Some(SecurityProfile {
                profile_type: ProfileType::RuntimeDefault as i32,
                ..Default::default()
            });
            s.supplemental_groups = vec![1234, 5678];
            s.apparmor = Some(SecurityProfile {
                profile_type: ProfileType::Localhost as i32,
                localhost_ref: "localhost/deny-write".into(),
            });
            // The field wins over the deprecated one.
            s.apparmor_profile = "unconfined".into();
        })
        .unwrap();
        assert_eq!(out.seccomp, None, "the runtime's default");
        assert_eq!(out.group_add, ["1234", "5678"]);
        assert_eq!(out.apparmor_profile.as_deref(), Some("deny-write"));
        let out = sc(&|s| s.apparmor_profile = "localhost/p1".into()).unwrap();
        assert_eq!(out.apparmor_profile.as_deref(), Some("p1"));
        let out = sc(&|s| s.apparmor_profile = "runtime/default".into()).unwrap();
        assert_eq!(out.apparmor_profile, None);
        assert!(sc(&|s| s.apparmor_profile = "bogus".into()).is_err());
        assert!(sc(&|s| s.apparmor_profile = "localhost/".into()).is_err());
        assert!(sc(&|s| s.run_as_group = Some(Int64Value { value: 1 })).is_err());
    }
}
