//! Turning `linux.cgroupsPath` (or its absence, or systemd's `slice:prefix:name`) into a path
//! inside each hierarchy.

/// Expands a systemd slice name into its path: `machine-foo.slice` gives
/// `/machine.slice/machine-foo.slice`.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    if slice == "-.slice" || slice.is_empty() {
        return Ok("/".into());
    }
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(format!(
            "invalid systemd slice {slice:?}: must end in .slice"
        ));
    };
    if stem.contains('/') {
        return Err(format!("invalid systemd slice {slice:?}"));
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(format!("invalid systemd slice {slice:?}"));
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// systemd's `slice:prefix:name` cgroupsPath as the slice and the unit (`prefix-name.scope`, or
/// `name` itself when it is a slice); no cgroupsPath gives `system.slice` and `strata-<id>.scope`.
pub fn systemd_unit(cgroups_path: Option<&str>, id: &str) -> Result<(String, String), String> {
    let p = cgroups_path.unwrap_or("");
    let (slice, prefix, name) = if p.is_empty() {
        ("system.slice", "strata", id)
    } else {
        let parts: Vec<&str> = p.split(':').collect();
        if parts.len() != 3 {
            return Err(format!(
                "cgroupsPath {p:?}: with --systemd-cgroup it must be slice:prefix:name"
            ));
        }
        (parts[0], parts[1], parts[2])
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    expand_slice(slice)?;
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(format!("cgroupsPath {p:?}: invalid unit name"));
    }
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok((slice.to_string(), unit))
}

/// The container's cgroup path relative to a hierarchy root, before joining with the runtime's
/// own cgroup for relative paths. `systemd` selects the `slice:prefix:name` syntax.
pub fn container_path(
    cgroups_path: Option<&str>,
    id: &str,
    systemd: bool,
) -> Result<String, String> {
    let p = cgroups_path.unwrap_or("");
    if systemd {
        let (slice, unit) = systemd_unit(cgroups_path, id)?;
        let base = expand_slice(&slice)?;
        return Ok(format!("{}/{}", base.trim_end_matches('/'), unit));
    }
    if p.is_empty() {
        return Ok(id.to_string());
    }
    if p.split('/').any(|c| c == "..") {
        return Err(format!("cgroupsPath {p:?} must not contain '..'"));
    }
    Ok(p.to_string())
}

/// The runtime's own cgroup in a hierarchy, from the text of /proc/self/cgroup
/// (`hierarchy_controllers`: the v1 controllers of the hierarchy; ignored for v2).
pub fn own_cgroup(self_cgroup: &str, hierarchy_controllers: &[String], v2: bool) -> String {
    let s = self_cgroup;
    for line in s.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or("/"));
        if v2 {
            if ctrls.is_empty() {
                return path.to_string();
            }
        } else if ctrls
            .split(',')
            .map(|c| c.trim_start_matches("name="))
            .any(|c| hierarchy_controllers.iter().any(|h| h == c))
        {
            return path.to_string();
        }
    }
    "/".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("machine-libpod.slice").unwrap(),
            "/machine.slice/machine-libpod.slice"
        );
        assert!(expand_slice("bad").is_err());
        assert!(expand_slice("a--b.slice").is_err());
    }

    #[test]
    fn own_cgroup_per_hierarchy() {
        let text = "4:memory:/a/b\n3:cpu,cpuacct:/c\n1:name=systemd:/s\n0::/u\n";
        assert_eq!(own_cgroup(text, &["memory".into()], false), "/a/b");
        assert_eq!(own_cgroup(text, &["cpuacct".into()], false), "/c");
        assert_eq!(own_cgroup(text, &["systemd".into()], false), "/s");
        assert_eq!(own_cgroup(text, &[], true), "/u");
        assert_eq!(own_cgroup("", &["pids".into()], false), "/");
    }

    #[test]
    fn paths() {
        assert_eq!(container_path(None, "c1", false).unwrap(), "c1");
        assert_eq!(container_path(Some("/a/b"), "c1", false).unwrap(), "/a/b");
        assert!(container_path(Some("/a/../b"), "c1", false).is_err());
        assert_eq!(
            container_path(Some("machine.slice:libpod:abc"), "c1", true).unwrap(),
            "/machine.slice/libpod-abc.scope"
        );
        assert!(container_path(Some("x"), "c1", true).is_err());
    }
}
