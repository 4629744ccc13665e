//! The user's spelling of container options, as podman and docker accept them: sizes,
//! `-p`, `-v`, `--mount`, `--tmpfs`, `--ulimit`, `--restart`, `--env-file`. Shared by the CLI
//! and the Docker-compatible API.

use super::config::{DeviceMapping, MountKind, MountSpec, PortMapping, RestartPolicy, Ulimit};
use crate::error::{Error, Result};

fn bad(what: &str, v: &str, hint: &str) -> Error {
    Error::Invalid(format!("invalid {what} {v:?}: {hint}"))
}

/// A size: a number with an optional unit `b`, `k`, `m`, `g` (powers of 1024, any case,
/// an optional trailing `b`/`ib`): `512m`, `1g`, `64MiB`, `1048576`.
pub fn size(v: &str) -> Result<i64> {
    let s = v.trim().to_ascii_lowercase();
    let s = s
        .strip_suffix("ib")
        .or_else(|| {
            s.strip_suffix('b')
                .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        })
        .unwrap_or(&s);
    let (num, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1i64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        Some('t') => (&s[..s.len() - 1], 1 << 40),
        Some('b') => (&s[..s.len() - 1], 1),
        _ => (s, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| bad("size", v, "use a number with an optional unit: 512m, 1g"))?;
    if n < 0.0 || !n.is_finite() {
        return Err(bad("size", v, "a size cannot be negative"));
    }
    Ok((n * mult as f64) as i64)
}

/// `-p [ip:][hostPort:]containerPort[/proto]`; a host port range is not supported.
pub fn port(v: &str) -> Result<PortMapping> {
    let (spec, proto) = match v.rsplit_once('/') {
        Some((s, p)) => (s, p.to_ascii_lowercase()),
        None => (v, "tcp".to_string()),
    };
    if proto != "tcp" && proto != "udp" {
        return Err(bad("port mapping", v, "the protocol is tcp or udp"));
    }
    let num = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("port mapping", v, "ports are numbers from 1 to 65535"))
    };
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) = r
            .split_once("]:")
            .ok_or_else(|| bad("port mapping", v, "close the IPv6 address with ]"))?;
        (ip.to_string(), rest.to_string())
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 => (String::new(), parts[0].to_string()),
            2 => (String::new(), spec.to_string()),
            3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
            _ => {
                return Err(bad(
                    "port mapping",
                    v,
                    "use [ip:][hostPort:]containerPort[/tcp|udp]",
                ))
            }
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad(
            "port mapping",
            v,
            "the host address is not an IP address",
        ));
    }
    let (host, ctr) = match rest.split_once(':') {
        Some((h, c)) => (if h.is_empty() || h == "0" { 0 } else { num(h)? }, num(c)?),
        None => (0, num(&rest)?),
    };
    Ok(PortMapping {
        host_ip: ip,
        host_port: host,
        container_port: ctr,
        protocol: proto,
    })
}

fn mount_options(opts: &str, m: &mut MountSpec, v: &str) -> Result<()> {
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => m.readonly = true,
            "rw" => m.readonly = false,
            "z" | "Z" | "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave"
            | "nocopy" | "U" => m.options.push(o.to_string()),
            _ => {
                return Err(bad(
                    "volume",
                    v,
                    &format!("unknown option {o:?} (use ro, rw, z, Z)"),
                ))
            }
        }
    }
    Ok(())
}

/// `-v src:dst[:opts]` (src a host path, or a volume name), or `-v dst` (an anonymous volume).
pub fn volume(v: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.len() {
        1 => ("", parts[0], ""),
        2 => (parts[0], parts[1], ""),
        3 => (parts[0], parts[1], parts[2]),
        _ => return Err(bad("volume", v, "use SOURCE:DESTINATION[:ro]")),
    };
    if !dst.starts_with('/') {
        return Err(bad(
            "volume",
            v,
            "the destination must be an absolute path in the container",
        ));
    }
    let kind = if src.starts_with('/') || src.starts_with('.') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let source = if src.is_empty() {
        format!("anon-{}", crate::ids::new_id())
    } else if kind == MountKind::Volume {
        crate::ids::check_name("volume", src)?;
        src.to_string()
    } else {
        src.to_string()
    };
    let mut m = MountSpec {
        kind,
        source,
        target: dst.to_string(),
        readonly: false,
        options: vec![],
    };
    mount_options(opts, &mut m, v)?;
    Ok(m)
}

/// `--mount type=bind|volume|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..]`.
pub fn mount(v: &str) -> Result<MountSpec> {
    let mut m = MountSpec {
        kind: MountKind::Volume,
        source: String::new(),
        target: String::new(),
        readonly: false,
        options: vec![],
    };
    for kv in v.split(',') {
        let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => {
                m.kind = match val {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    _ => return Err(bad("mount", v, "type is bind, volume or tmpfs")),
                }
            }
            "source" | "src" => m.source = val.to_string(),
            "target" | "destination" | "dst" => m.target = val.to_string(),
            "readonly" | "ro" => m.readonly = val.is_empty() || val == "true" || val == "1",
            "tmpfs-size" => m.options.push(format!("size={}", size(val)?)),
            "tmpfs-mode" => m.options.push(format!("mode={val}")),
            "bind-propagation" => m.options.push(val.to_string()),
            "volume-nocopy" | "consistency" | "Z" | "z" => {}
            _ => return Err(bad("mount", v, &format!("unknown key {k:?}"))),
        }
    }
    if !m.target.starts_with('/') {
        return Err(bad(
            "mount",
            v,
            "target= must be an absolute path in the container",
        ));
    }
    match m.kind {
        MountKind::Volume if m.source.is_empty() => {
            m.source = format!("anon-{}", crate::ids::new_id())
        }
        MountKind::Bind if !m.source.starts_with('/') => {
            return Err(bad("mount", v, "a bind mount needs an absolute source="))
        }
        _ => {}
    }
    Ok(m)
}

/// `--tmpfs /path[:opts]`.
pub fn tmpfs(v: &str) -> Result<MountSpec> {
    let (dst, opts) = v.split_once(':').unwrap_or((v, ""));
    if !dst.starts_with('/') {
        return Err(bad("tmpfs", v, "the path must be absolute"));
    }
    Ok(MountSpec {
        kind: MountKind::Tmpfs,
        source: String::new(),
        target: dst.to_string(),
        readonly: false,
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` (podman's and docker's form).
pub fn device(v: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = v.split(':').collect();
    let perms = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, target, permissions) = match parts.as_slice() {
        [h] => (*h, "", ""),
        [h, p] if perms(p) => (*h, "", *p),
        [h, t] => (*h, *t, ""),
        [h, t, p] => (*h, *t, *p),
        _ => return Err(bad("device", v, "use HOST[:CONTAINER][:PERMISSIONS]")),
    };
    if !host.starts_with('/') {
        return Err(bad("device", v, "the host path must be absolute"));
    }
    Ok(DeviceMapping {
        host_path: host.into(),
        container_path: target.into(),
        permissions: permissions.into(),
    })
}

/// `--ulimit name=soft[:hard]`.
pub fn ulimit(v: &str) -> Result<Ulimit> {
    let (name, vals) = v
        .split_once('=')
        .ok_or_else(|| bad("ulimit", v, "use name=soft[:hard]"))?;
    if super::super::spec::resources::rlimit_name(name).is_none() {
        return Err(bad(
            "ulimit",
            v,
            "unknown limit name (nofile, nproc, core, memlock, stack, ...)",
        ));
    }
    let n = |s: &str| -> Result<u64> {
        if s == "-1" || s == "unlimited" {
            return Ok(u64::MAX);
        }
        s.parse()
            .map_err(|_| bad("ulimit", v, "limits are numbers"))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (n(s)?, n(h)?),
        None => (n(vals)?, n(vals)?),
    };
    if soft > hard {
        return Err(bad("ulimit", v, "the soft limit is above the hard one"));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--restart no|on-failure[:N]|always|unless-stopped`.
pub fn restart(v: &str) -> Result<RestartPolicy> {
    let (name, max) = v.split_once(':').unwrap_or((v, ""));
    match name {
        "no" | "" if max.is_empty() => Ok(RestartPolicy::No),
        "always" if max.is_empty() => Ok(RestartPolicy::Always),
        "unless-stopped" if max.is_empty() => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => Ok(RestartPolicy::OnFailure(if max.is_empty() {
            0
        } else {
            max.parse()
                .map_err(|_| bad("restart policy", v, "the retry count is a number"))?
        })),
        _ => Err(bad(
            "restart policy",
            v,
            "use no, on-failure[:N], always or unless-stopped",
        )),
    }
}

/// The `KEY=value` lines of an env file (comments and blank lines skipped; a bare `KEY`
/// takes the value from the caller's environment, as docker does).
pub fn env_file(path: &str) -> Result<Vec<String>> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("env file {path}: {e}")))?;
    Ok(s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if l.contains('=') {
                Some(l.to_string())
            } else {
                std::env::var(l).ok().map(|v| format!("{l}={v}"))
            }
        })
        .collect())
}

/// `-e KEY=value`, or `-e KEY` taking the caller's value (dropped if unset).
pub fn env(v: &str) -> Option<String> {
    if v.contains('=') {
        Some(v.to_string())
    } else {
        std::env::var(v).ok().map(|x| format!("{v}={x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        let d = device("/dev/fuse").unwrap();
        assert_eq!(
            (d.container_path.as_str(), d.permissions.as_str()),
            ("", "")
        );
        let d = device("/dev/fuse:r").unwrap();
        assert_eq!(
            (d.container_path.as_str(), d.permissions.as_str()),
            ("", "r")
        );
        let d = device("/dev/fuse:/dev/f:rw").unwrap();
        assert_eq!(
            (d.container_path.as_str(), d.permissions.as_str()),
            ("/dev/f", "rw")
        );
        assert!(device("dev/fuse").is_err());
        assert!(device("/a:/b:rw:x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512m").unwrap(), 512 << 20);
        assert_eq!(size("1G").unwrap(), 1 << 30);
        assert_eq!(size("64MiB").unwrap(), 64 << 20);
        assert_eq!(size("100").unwrap(), 100);
        assert_eq!(size("1.5k").unwrap(), 1536);
        for b in ["", "x", "-1m", "12q"] {
            assert!(size(b).is_err(), "{b}");
        }
    }

    #[test]
    fn ports() {
        let p = port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (
                p.host_ip.as_str(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ),
            ("127.0.0.1", 8080, 80, "udp")
        );
        assert_eq!(port("8080:80").unwrap().host_port, 8080);
        assert_eq!(port("80").unwrap().host_port, 0);
        assert_eq!(port("127.0.0.1::80").unwrap().host_port, 0);
        assert_eq!(port("[::1]:81:80").unwrap().host_ip, "::1");
        for b in ["0", "70000", "a:b", "1:2:3:4", "80/sctp", "300.1.1.1:80:80"] {
            assert!(port(b).is_err(), "{b}");
        }
    }

    #[test]
    fn volumes_mounts_tmpfs() {
        let v = volume("/srv:/data:ro").unwrap();
        assert_eq!((v.kind, v.readonly), (MountKind::Bind, true));
        assert_eq!(volume("cache:/c").unwrap().kind, MountKind::Volume);
        assert!(volume("/anon").unwrap().source.starts_with("anon-"));
        assert!(volume("relative").is_err());
        assert!(volume("/a:/b:bogus").is_err());
        let m = mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(
            (m.kind, m.options.clone()),
            (MountKind::Tmpfs, vec!["size=1048576".to_string()])
        );
        assert!(mount("type=bind,source=rel,target=/x").is_err());
        assert_eq!(
            tmpfs("/run:size=64m,mode=755").unwrap().options,
            ["size=64m", "mode=755"]
        );
    }

    #[test]
    fn ulimits_and_restart() {
        assert_eq!(ulimit("nofile=1024:2048").unwrap().hard, 2048);
        assert!(ulimit("nofile=10:5").is_err());
        assert!(ulimit("bogus=1").is_err());
        assert_eq!(
            restart("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert_eq!(restart("always").unwrap(), RestartPolicy::Always);
        assert!(restart("sometimes").is_err());
    }
}
