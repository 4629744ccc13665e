//! Name resolution between the containers of a network, without a DNS server (none is
//! available: no dnsmasq, no aardvark): each attached container's /etc/hosts ends with a
//! section listing the other containers attached to its network (by name, short id,
//! hostname and network aliases), rewritten in place (the same inode, bind-mounted in the container) whenever a
//! container attaches or detaches. What precedes the section (the container itself,
//! `--add-host`) is the engine's `etc_files` and is kept as it is.

use crate::container::Container;
use crate::engine::Engine;
use crate::error::Result;

/// The first line of a network's peers section.
const MARK: &str = "# strata: containers on network ";

/// The networks a container is attached to with an address: (network, address without
/// its prefix, its aliases there), its first network first.
fn addresses(c: &Container) -> Vec<(String, String, Vec<String>)> {
    let bare = |ip: &str| ip.split('/').next().unwrap_or(ip).to_string();
    let n = &c.state.net;
    let mut v = Vec::new();
    if let (true, Some(net), Some(ip)) = (n.attached, &n.network, &n.ip) {
        v.push((net.clone(), bare(ip), c.config.network_aliases.clone()));
    }
    for a in &n.extra {
        if let Some(ip) = &a.ip {
            let aliases = c
                .config
                .extra_networks
                .iter()
                .find(|x| x.name == a.network)
                .map(|x| x.aliases.clone())
                .unwrap_or_default();
            v.push((a.network.clone(), bare(ip), aliases));
        }
    }
    v
}

/// A peer in a peers section: its address and names.
pub type Peer = (String, Vec<String>);
/// A network's peers section: the network and its peers.
pub type Section = (String, Vec<Peer>);

/// `content` with its peers sections replaced by one per network of `sections` that has
/// peers: (network, [(address, names)]).
pub fn with_peers(content: &str, sections: &[Section]) -> String {
    let mut out: String = content
        .lines()
        .take_while(|l| !l.starts_with(MARK))
        .flat_map(|l| [l, "\n"])
        .collect();
    for (network, peers) in sections.iter().filter(|(_, p)| !p.is_empty()) {
        out.push_str(&format!("{MARK}{network}\n"));
        for (ip, names) in peers {
            out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    out
}

/// A container's names in its peers' files: name, short id, hostname (when it differs),
/// then its aliases on that network.
fn names(m: &Container, aliases: &[String]) -> Vec<String> {
    let mut n = vec![m.name.clone(), m.short_id().to_string()];
    for extra in std::iter::once(m.hostname()).chain(aliases.iter().cloned()) {
        if !n.contains(&extra) {
            n.push(extra);
        }
    }
    n
}

/// A container and its addresses ([`addresses`]), worked out once per rewrite.
type Addressed<'a> = (&'a Container, Vec<(String, String, Vec<String>)>);

/// The peers sections of `m`'s file: for each network it is on, the others there.
fn sections_of(m: &Addressed<'_>, all: &[Addressed<'_>]) -> Vec<Section> {
    m.1.iter()
        .map(|(network, _, _)| {
            let peers = all
                .iter()
                .filter(|(o, _)| o.id != m.0.id)
                .flat_map(|(o, addrs)| {
                    addrs
                        .iter()
                        .filter(|(n, _, _)| n == network)
                        .map(|(_, ip, aliases)| (ip.clone(), names(o, aliases)))
                })
                .collect();
            (network.clone(), peers)
        })
        .collect()
}

/// Rewrites the peers sections of every container on `network` (but `except`, which is
/// leaving), under the network's lock so concurrent attaches see each other.
fn rewrite(e: &Engine, network: &str, except: Option<&str>) -> Result<()> {
    let _l = crate::lock::lock(&e.paths, &format!("net-{network}"))?;
    let containers = e.db.containers()?;
    let all: Vec<Addressed<'_>> = containers
        .iter()
        .filter(|c| Some(c.id.as_str()) != except)
        .map(|c| (c, addresses(c)))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    for m in all
        .iter()
        .filter(|(_, a)| a.iter().any(|(n, _, _)| n == network))
    {
        let p = e.paths.bundle(&m.0.id).join("hosts");
        let Ok(old) = std::fs::read_to_string(&p) else {
            continue; // not written yet: its own start writes it, then calls `announce`
        };
        let new = with_peers(&old, &sections_of(m, &all));
        if new != old {
            crate::container::etc_files::write_in_place(&p, &new)?;
        }
    }
    Ok(())
}

/// After `c` attached and its /etc/hosts was written: lists its peers in it and it in
/// theirs, on each of its networks.
pub fn announce(e: &Engine, c: &Container) -> Result<()> {
    for (network, _, _) in addresses(c) {
        rewrite(e, &network, None)?;
    }
    Ok(())
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
        let one = with_peers(
            base,
            &[("n1".into(), vec![("10.89.0.3".into(), vec!["db".into()])])],
        );
        assert_eq!(
            one,
            format!("{base}# strata: containers on network n1\n10.89.0.3\tdb\n")
        );
        let two = with_peers(
            &one,
            &[(
                "n1".into(),
                vec![
                    ("10.89.0.3".into(), vec!["db".into()]),
                    ("10.89.0.4".into(), vec!["cache".into(), "def".into()]),
                ],
            )],
        );
        assert!(
            two.ends_with("10.89.0.3\tdb\n10.89.0.4\tcache def\n"),
            "{two}"
        );
        assert_eq!(with_peers(&two, &[("n1".into(), vec![])]), base);
        // One section per network with peers.
        let both = with_peers(
            base,
            &[
                ("n1".into(), vec![("10.89.0.3".into(), vec!["db".into()])]),
                ("n2".into(), vec![("10.90.0.7".into(), vec!["web".into()])]),
            ],
        );
        assert!(
            both.ends_with("on network n1\n10.89.0.3\tdb\n# strata: containers on network n2\n10.90.0.7\tweb\n"),
            "{both}"
        );
        assert_eq!(with_peers(&both, &[]), base);
    }
}
