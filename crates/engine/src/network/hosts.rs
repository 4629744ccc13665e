//! Name resolution between the containers of a network, without a DNS server (none is
//! available: no dnsmasq, no aardvark): each attached container's /etc/hosts ends with a
//! section listing the other containers attached to its network (by name, short id,
//! hostname and network aliases), rewritten in place (the same inode, bind-mounted in the container) whenever a
//! container attaches or detaches. What precedes the section (the container itself,
//! `--add-host`) is the engine's `etc_files` and is kept as it is.

use crate::container::Container;
use crate::engine::Engine;
use crate::error::Result;

/// The first line of the peers section.
const MARK: &str = "# strata: containers on network ";

/// The containers attached to `network` with an address, but `except`.
fn members(e: &Engine, network: &str, except: Option<&str>) -> Result<Vec<Container>> {
    Ok(e.db
        .containers()?
        .into_iter()
        .filter(|m| {
            m.state.net.attached
                && m.state.net.ip.is_some()
                && m.state.net.network.as_deref() == Some(network)
                && Some(m.id.as_str()) != except
        })
        .collect())
}

/// `content` with its peers section replaced by one listing `peers`.
pub fn with_peers(content: &str, network: &str, peers: &[(String, Vec<String>)]) -> String {
    let mut out: String = content
        .lines()
        .take_while(|l| !l.starts_with(MARK))
        .flat_map(|l| [l, "\n"])
        .collect();
    if !peers.is_empty() {
        out.push_str(&format!("{MARK}{network}\n"));
        for (ip, names) in peers {
            out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    out
}

/// A container's names in its peers' files: name, short id, hostname (when it differs),
/// then its network aliases.
fn names(m: &Container) -> Vec<String> {
    let mut n = vec![m.name.clone(), m.short_id().to_string()];
    for extra in std::iter::once(m.hostname()).chain(m.config.network_aliases.iter().cloned()) {
        if !n.contains(&extra) {
            n.push(extra);
        }
    }
    n
}

/// Rewrites the peers section of every member of `network` (but `except`, which is
/// leaving), under the network's lock so concurrent attaches see each other.
fn rewrite(e: &Engine, network: &str, except: Option<&str>) -> Result<()> {
    let _l = crate::lock::lock(&e.paths, &format!("net-{network}"))?;
    let all = members(e, network, except)?;
    for m in &all {
        let peers: Vec<(String, Vec<String>)> = all
            .iter()
            .filter(|o| o.id != m.id)
            .map(|o| {
                let ip = o.state.net.ip.as_deref().unwrap_or_default();
                (ip.split('/').next().unwrap_or(ip).to_string(), names(o))
            })
            .collect();
        let p = e.paths.bundle(&m.id).join("hosts");
        let Ok(old) = std::fs::read_to_string(&p) else {
            continue; // not written yet: its own start writes it, then calls `announce`
        };
        let new = with_peers(&old, network, &peers);
        if new != old {
            crate::container::etc_files::write_in_place(&p, &new)?;
        }
    }
    Ok(())
}

/// After `c` attached and its /etc/hosts was written: lists its peers in it and it in
/// theirs.
pub fn announce(e: &Engine, c: &Container) -> Result<()> {
    match c.state.net.network.as_deref() {
        Some(n) if c.state.net.attached => rewrite(e, n, None),
        _ => Ok(()),
    }
}

/// When `c` leaves `network`: removes it from its peers' files.
pub fn withdraw(e: &Engine, c: &Container, network: &str) -> Result<()> {
    rewrite(e, network, Some(&c.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_and_the_rest_kept() {
        let base = "127.0.0.1\tlocalhost\n10.89.0.2\tweb abc\n";
        let one = with_peers(base, "n1", &[("10.89.0.3".into(), vec!["db".into()])]);
        assert_eq!(
            one,
            format!("{base}# strata: containers on network n1\n10.89.0.3\tdb\n")
        );
        let two = with_peers(
            &one,
            "n1",
            &[
                ("10.89.0.3".into(), vec!["db".into()]),
                ("10.89.0.4".into(), vec!["cache".into(), "def".into()]),
            ],
        );
        assert!(
            two.ends_with("10.89.0.3\tdb\n10.89.0.4\tcache def\n"),
            "{two}"
        );
        assert_eq!(with_peers(&two, "n1", &[]), base);
    }
}
