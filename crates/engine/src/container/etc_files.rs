//! The files the engine writes for each container and bind-mounts over the image's:
//! /etc/hostname, /etc/hosts (itself, its pod, the peers on its network, `--add-host`) and
//! /etc/resolv.conf (`--dns`, else the host's, without loopback resolvers).

use crate::engine::Engine;
use crate::error::{IoContext, Result};
use crate::spec::HostMount;
use std::path::Path;

/// The host's resolv.conf, without the loopback name servers a container cannot reach.
fn host_resolv() -> String {
    let s = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let kept: Vec<&str> = s
        .lines()
        .filter(|l| {
            let mut f = l.split_whitespace();
            !(f.next() == Some("nameserver")
                && f.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .collect();
    let mut out = kept.join("\n");
    out.push('\n');
    out
}

/// /etc/hosts content: localhost, then `entries` (ip, names) in order.
pub fn hosts_content(entries: &[(String, Vec<String>)]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (ip, names) in entries {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    s
}

/// Writes a file's content in place (the container sees the same inode through its bind
/// mount, so later rewrites of /etc/hosts reach a running container).
pub fn write_in_place(p: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(p)
        .ctx(|| format!("write {}", p.display()))?;
    f.write_all(content.as_bytes())
        .ctx(|| format!("write {}", p.display()))
}

/// A container's DNS settings (`--dns`, `--dns-search`, `--dns-option`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Dns<'a> {
    /// Name servers (none: the host's).
    pub servers: &'a [String],
    /// Search domains (none: the host's).
    pub search: &'a [String],
    /// Resolver options (none: the host's).
    pub options: &'a [String],
}

/// The resolv.conf for `dns`: each part given replaces the host's.
pub fn resolv_content(dns: Dns<'_>) -> String {
    let host = host_resolv();
    let mut out = String::new();
    for (key, given) in [
        ("nameserver", dns.servers),
        ("search", dns.search),
        ("options", dns.options),
    ] {
        if given.is_empty() {
            for l in host
                .lines()
                .filter(|l| l.split_whitespace().next() == Some(key))
            {
                out.push_str(l);
                out.push('\n');
            }
        } else if key == "nameserver" {
            for s in given {
                out.push_str(&format!("nameserver {s}\n"));
            }
        } else {
            out.push_str(&format!("{key} {}\n", given.join(" ")));
        }
    }
    out
}

/// Writes the container's three files into its bundle directory; returns their mounts.
pub fn write(
    e: &Engine,
    id: &str,
    hostname: &str,
    hosts: &[(String, Vec<String>)],
    dns: Dns<'_>,
) -> Result<Vec<HostMount>> {
    let dir = e.paths.bundle(id);
    let files = [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts_content(hosts)),
        ("resolv.conf", resolv_content(dns)),
    ];
    let mut mounts = Vec::new();
    for (name, content) in files {
        let p = dir.join(name);
        write_in_place(&p, &content)?;
        mounts.push(HostMount {
            source: p,
            target: format!("/etc/{name}"),
            kind: "bind",
            options: vec!["bind".into(), "rprivate".into()],
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_localhost_then_entries() {
        let h = hosts_content(&[("10.89.0.2".into(), vec!["web".into(), "abc123".into()])]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.89.0.2\tweb abc123\n"));
    }
}
