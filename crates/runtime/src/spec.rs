//! Loading a bundle's `config.json` and the checks that must pass before anything is created.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// A time namespace offset: (clock, seconds, nanoseconds).
pub type TimeOffset = (String, i64, u32);

/// A loaded bundle: its absolute directory, the parsed spec, the raw config bytes and the
/// absolute rootfs path.
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// The parsed configuration.
    pub spec: Spec,
    /// The configuration as read (kept in the state directory for later commands).
    pub raw: Vec<u8>,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// What oci-spec 0.7 cannot read: time offsets and per-mount id mappings.
    pub extras: Extras,
}

/// Parts of the config read from the raw JSON because oci-spec 0.7 has no field for them.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// `linux.timeOffsets` as (clock, seconds, nanoseconds).
    pub time_offsets: Vec<TimeOffset>,
    /// `mounts[].uidMappings/gidMappings`, index-aligned with `mounts` (idmapped mounts).
    pub mount_idmaps: Vec<Option<crate::rootfs::idmap::IdMap>>,
}

/// Reads and checks `<dir>/config.json`.
pub fn load_bundle(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::Spec(format!("bundle {}: {e}", dir.display())))?;
    let cfg = dir.join("config.json");
    let raw = std::fs::read(&cfg).map_err(|e| {
        Error::Spec(if e.kind() == std::io::ErrorKind::NotFound {
            format!("bundle {}: config.json not found", dir.display())
        } else {
            format!("bundle {}: config.json: {e}", dir.display())
        })
    })?;
    let (spec, extras) =
        parse_full(&raw).map_err(|e| Error::Spec(format!("{}: {e}", cfg.display())))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Spec(format!("{}: root is missing", cfg.display())))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Spec(format!(
                "bundle {}: rootfs {} is not a directory",
                dir.display(),
                rootfs.display()
            )))
        }
        Err(e) => {
            return Err(Error::Spec(format!(
                "bundle {}: rootfs {}: {e}",
                dir.display(),
                rootfs.display()
            )))
        }
    }
    Ok(Bundle {
        dir,
        spec,
        raw,
        rootfs,
        extras,
    })
}

/// Parses a configuration, taking `linux.timeOffsets` out first: the spec gives each clock an
/// object (`{"secs": 1, "nanosecs": 0}`), which oci-spec 0.7 cannot read.
pub fn parse_full(raw: &[u8]) -> std::result::Result<(Spec, Extras), String> {
    let has = |k: &[u8]| raw.windows(k.len()).any(|w| w == k);
    if !has(b"timeOffsets") && !has(b"uidMappings") && !has(b"gidMappings") {
        return Ok((parse(raw)?, Extras::default()));
    }
    parse_with_extras(raw)
}

/// [`parse_full`] of a configuration with time offsets or idmapped mounts, through a JSON
/// value. Never inlined: its deserializer's frame (~15 KiB) would otherwise sit on the stack
/// under every parse, the common one included, and stack pages count in the runtime's peak
/// memory.
#[inline(never)]
fn parse_with_extras(raw: &[u8]) -> std::result::Result<(Spec, Extras), String> {
    let mut v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| format!("malformed config: {e}"))?;
    let mut offsets = Vec::new();
    if let Some(o) = v
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .and_then(|l| l.remove("timeOffsets"))
    {
        for (clock, val) in o.as_object().into_iter().flatten() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(format!("timeOffsets: unknown clock {clock:?}"));
            }
            let secs = val.get("secs").and_then(|x| x.as_i64()).unwrap_or(0);
            let ns = val.get("nanosecs").and_then(|x| x.as_u64()).unwrap_or(0) as u32;
            offsets.push((clock.clone(), secs, ns));
        }
    }
    let mount_idmaps = crate::rootfs::idmap::from_config(&v);
    let spec: Spec = serde_json::from_value(v).map_err(|e| format!("malformed config: {e}"))?;
    validate(&spec)?;
    if !offsets.is_empty()
        && !namespaces(&spec)
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Time)
    {
        return Err("timeOffsets need a time namespace".into());
    }
    Ok((
        spec,
        Extras {
            time_offsets: offsets,
            mount_idmaps,
        },
    ))
}

/// Parses and validates a configuration.
pub fn parse(raw: &[u8]) -> std::result::Result<Spec, String> {
    let spec: Spec = serde_json::from_slice(raw).map_err(|e| format!("malformed config: {e}"))?;
    validate(&spec)?;
    Ok(spec)
}

/// Checks what the OCI runtime spec requires of a configuration before it is run.
pub fn validate(spec: &Spec) -> std::result::Result<(), String> {
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(format!("unsupported ociVersion {v:?} (need 1.x)"));
    }
    if let Some(p) = spec.process() {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err("process.args must not be empty".into());
        }
        if !p.cwd().is_absolute() {
            return Err(format!(
                "process.cwd {:?} must be an absolute path",
                p.cwd().display()
            ));
        }
    }
    if let Some(linux) = spec.linux() {
        let mut seen = Vec::new();
        for ns in linux.namespaces().iter().flatten() {
            if seen.contains(&ns.typ()) {
                return Err(format!("namespace {} listed twice", ns.typ()));
            }
            seen.push(ns.typ());
        }
        let has_userns = seen.contains(&LinuxNamespaceType::User);
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_maps && !has_userns {
            return Err("uidMappings/gidMappings need a user namespace".into());
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            crate::process::sysctl::check_namespaced(key, &seen)?;
        }
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(format!(
                "mount destination {:?} must be absolute",
                m.destination().display()
            ));
        }
    }
    Ok(())
}

/// Adds an allow rule for every device the spec creates (`linux.devices`) to the device rules
/// of `res`, as runc does at create and update. Nothing changes when `res` has no device rules.
/// FIFOs get none: the device cgroup knows only block and character devices.
pub fn allow_spec_devices(res: &mut oci_spec::runtime::LinuxResources, spec: &Spec) {
    if let Some(mut rules) = res.devices().clone() {
        let devs = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
        let devs = devs.into_iter().flatten();
        for d in devs.filter(|d| d.typ() != oci_spec::runtime::LinuxDeviceType::P) {
            rules.push(oci_spec::runtime::LinuxDeviceCgroup::from(d));
        }
        res.set_devices(Some(rules));
    }
}

/// The namespace entries of a spec, `(type, optional path)`.
pub fn namespaces(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|v| v.iter().map(|n| (n.typ(), n.path().clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]}
        })
    }

    #[test]
    fn accepts_minimal_config_and_ignores_unknown_fields() {
        let mut v = base();
        v["someFutureField"] = serde_json::json!({"x": 1});
        parse(v.to_string().as_bytes()).unwrap();
    }

    #[test]
    fn rejects_malformed_json() {
        let e = parse(b"{\"ociVersion\": ").unwrap_err();
        assert!(e.starts_with("malformed config"), "{e}");
    }

    #[test]
    fn rejects_empty_args_relative_cwd_and_duplicate_namespaces() {
        let mut v = base();
        v["process"]["args"] = serde_json::json!([]);
        assert!(parse(v.to_string().as_bytes())
            .unwrap_err()
            .contains("args"));
        let mut v = base();
        v["process"]["cwd"] = serde_json::json!("tmp");
        assert!(parse(v.to_string().as_bytes()).unwrap_err().contains("cwd"));
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}]);
        assert!(parse(v.to_string().as_bytes())
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn rejects_non_namespaced_sysctl() {
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"});
        assert!(parse(v.to_string().as_bytes())
            .unwrap_err()
            .contains("kernel.panic"));
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"kernel.msgmax": "8192"});
        parse(v.to_string().as_bytes()).unwrap();
    }

    #[test]
    fn time_offsets_are_read_from_the_spec_form() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "time"}]);
        v["linux"]["timeOffsets"] =
            serde_json::json!({"monotonic": {"secs": 86400, "nanosecs": 5}});
        let (_, o) = parse_full(v.to_string().as_bytes()).unwrap();
        assert_eq!(o.time_offsets, vec![("monotonic".to_string(), 86400, 5)]);
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
        assert!(parse_full(v.to_string().as_bytes())
            .unwrap_err()
            .contains("time namespace"));
    }
}
