//! More networks for one container (`network connect`, docker-compose's services on several
//! networks): each is one more interface in the container's namespace (eth1, eth2, ...),
//! added by the network's own CNI plugins without its default route (the container's stays
//! its first network's, as docker's does). A stopped container only records the network in
//! its config and joins it at its next start; a running one joins (or leaves) at once.
//!
//! Crash safety as for the first network: each attachment is recorded in the container's
//! state before its ADD, so the DEL it owes is found by the next clean-up.

use super::{cni, conflist, hosts, manage, masquerade, NetworkMode};
use crate::container::config::ExtraNetwork;
use crate::container::state::{ExtraAttachment, NetworkState};
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// A network's plugin list for an attachment besides the first: without its default route.
fn without_default_route(mut list: Value) -> Value {
    if let Some(plugins) = list["plugins"].as_array_mut() {
        for p in plugins {
            if let Some(routes) = p["ipam"]["routes"].as_array_mut() {
                routes.retain(|r| r["dst"] != "0.0.0.0/0" && r["dst"] != "::/0");
            }
        }
    }
    list
}

/// The first interface name (eth1 on) that no attachment of `net` has.
fn next_ifname(net: &NetworkState) -> String {
    (1..)
        .map(|i| format!("eth{i}"))
        .find(|n| !net.extra.iter().any(|a| &a.ifname == n))
        .expect("an unused interface name")
}

fn save(e: &Engine, c: &Container, net: &NetworkState) -> Result<()> {
    let mut st = c.state.clone();
    st.net = net.clone();
    e.db.save_state(&c.id, &st)
}

/// Joins the namespace of `net` (the container's, its first network attached) to network
/// `name`: the attachment recorded, then ADD; on failure its DEL runs and the record goes.
fn attach_one(e: &Engine, c: &Container, net: &mut NetworkState, name: &str) -> Result<()> {
    let n = manage::get(e, name)?;
    let list = without_default_route(conflist::load(e, &n)?);
    if !n.imported() {
        masquerade::ensure(e, &n)?;
    }
    let ifname = next_ifname(net);
    net.extra.push(ExtraAttachment {
        network: n.name.clone(),
        ifname: ifname.clone(),
        ..Default::default()
    });
    save(e, c, net)?;
    let caps = Map::new();
    let inv = cni::Invocation {
        container_id: &c.id,
        netns: net.netns.as_deref().unwrap_or_default(),
        ifname: &ifname,
        capabilities: &caps,
    };
    match cni::add(&list, &inv) {
        Ok(result) => {
            let a = cni::attachment(&result);
            let last = net.extra.last_mut().expect("just pushed");
            last.ip = a.ip;
            last.gateway = a.gateway;
            last.mac = a.mac;
            last.cni_result = Some(result);
            save(e, c, net)
        }
        Err(err) => {
            let _ = cni::del(&list, None, &inv);
            net.extra.pop();
            let _ = save(e, c, net);
            Err(err)
        }
    }
}

/// DEL of one attachment (idempotent; a network already removed has nothing to give back).
fn detach_one(e: &Engine, c: &Container, net: &NetworkState, a: &ExtraAttachment) -> Result<()> {
    match e.db.network(&a.network)? {
        Some(n) => {
            let list = without_default_route(conflist::load(e, &n)?);
            cni::del(
                &list,
                a.cni_result.as_ref(),
                &cni::Invocation {
                    container_id: &c.id,
                    netns: net.netns.as_deref().unwrap_or_default(),
                    ifname: &a.ifname,
                    capabilities: &Map::new(),
                },
            )
        }
        None => {
            tracing::warn!(
                "container {}: network {} is gone: nothing to give back to it",
                c.name,
                a.network
            );
            Ok(())
        }
    }
}

/// At a start, once the first network is attached (`net`): the container's other
/// configured networks. If one fails, the ones joined here are left again and the error
/// returned (the caller undoes the first).
pub fn attach_configured(e: &Engine, c: &Container, net: &mut NetworkState) -> Result<()> {
    for x in &c.config.extra_networks {
        if let Err(err) = attach_one(e, c, net, &x.name) {
            detach_all(e, c, net)?;
            net.extra.clear();
            return Err(err);
        }
    }
    Ok(())
}

/// DEL of every extra attachment of `net`, last first, and the container out of those
/// networks' /etc/hosts sections.
pub fn detach_all(e: &Engine, c: &Container, net: &NetworkState) -> Result<()> {
    for a in net.extra.iter().rev() {
        detach_one(e, c, net, a)?;
        hosts::withdraw(e, c, &a.network)?;
    }
    Ok(())
}

/// The name of a container's first network, if it is on one of its own (not the host's,
/// another container's, its pod's or none).
fn first_network(e: &Engine, c: &Container) -> Result<Option<String>> {
    match &c.config.network {
        NetworkMode::Default | NetworkMode::Bridge(_) => manage::network_name(e, c),
        _ => Ok(None),
    }
}

/// The mode that makes network `name` a container's first (the default one is `Default`).
fn first_mode(e: &Engine, name: &str) -> Result<NetworkMode> {
    let default = super::defaults::Settings::load(e)?.name().to_string();
    Ok(if name == default {
        NetworkMode::Default
    } else {
        NetworkMode::Bridge(name.to_string())
    })
}

/// The networks `c` is configured on, first one first.
pub fn configured(e: &Engine, c: &Container) -> Result<Vec<String>> {
    let mut v: Vec<String> = first_network(e, c)?.into_iter().collect();
    v.extend(c.config.extra_networks.iter().map(|x| x.name.clone()));
    Ok(v)
}

/// Aliases are host names (letters, digits, `-`, `.`, `_`; at most 253 bytes).
fn check_aliases(aliases: &[String]) -> Result<()> {
    for a in aliases {
        let ok = !a.is_empty()
            && a.len() <= 253
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !ok {
            return Err(Error::Invalid(format!(
                "network alias {a:?} is not a valid host name [layer: engine]"
            )));
        }
    }
    Ok(())
}

/// `network connect NETWORK CONTAINER`: the container joins the network, at once if it
/// runs (one more interface), else at its next start. A container with no network
/// (`--network none`, or disconnected from its last) takes it as its first.
pub fn connect(e: &Engine, key: &str, network: &str, aliases: Vec<String>) -> Result<()> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c = crate::container::stop::load(e, &id)?;
    let n = manage::get(e, network)?;
    check_aliases(&aliases)?;
    let refuse = |why: &str| {
        Err(Error::Conflict(format!(
            "container {} {why}: it cannot join network {} [layer: engine]",
            c.name, n.name
        )))
    };
    match &c.config.network {
        NetworkMode::Host => return refuse("uses the host's network"),
        NetworkMode::Container(_) => return refuse("uses another container's network"),
        NetworkMode::Pod => return refuse("uses its pod's network"),
        _ => {}
    }
    if configured(e, &c)?.contains(&n.name) {
        return Err(Error::Conflict(format!(
            "container {} is already connected to network {} [layer: engine]",
            c.name, n.name
        )));
    }
    let running = c.state.status.is_live();
    if running && c.config.in_vm() {
        return refuse(
            "is a running VM container, whose interfaces are made at its boot: stop it first (it joins at its next start), since it",
        );
    }
    if c.config.network == NetworkMode::None {
        if running {
            return refuse("runs with no network (`--network none`): stop it first, since it");
        }
        c.config.network = first_mode(e, &n.name)?;
        c.config.network_aliases = aliases;
        return e.db.save_config(&c.id, &c.config);
    }
    if running {
        let mut net = c.state.net.clone();
        if !super::owes_del(&net) {
            return refuse("has no network namespace of its own");
        }
        attach_one(e, &c, &mut net, &n.name)?;
        c.state.net = net;
    }
    c.config.extra_networks.push(ExtraNetwork {
        name: n.name.clone(),
        aliases,
    });
    e.db.save_config(&c.id, &c.config)?;
    if running {
        hosts::announce(e, &c)?;
    }
    event(e, "connect", &n, &c);
    Ok(())
}

/// `network disconnect NETWORK CONTAINER`: the container leaves the network (its interface
/// deleted at once if it runs). Leaving its first network while it runs is refused (its
/// default route and published ports are there); stopped, its next network (if any)
/// becomes its first.
pub fn disconnect(e: &Engine, key: &str, network: &str) -> Result<()> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c = crate::container::stop::load(e, &id)?;
    let n = manage::get(e, network)?;
    let running = c.state.status.is_live();
    if first_network(e, &c)?.as_deref() == Some(n.name.as_str()) {
        if running {
            return Err(Error::Conflict(format!(
                "container {} runs with network {} as its first (eth0, its default route): stop it to disconnect it [layer: engine]",
                c.name, n.name
            )));
        }
        if c.config.extra_networks.is_empty() {
            c.config.network = NetworkMode::None;
            c.config.network_aliases.clear();
        } else {
            let next = c.config.extra_networks.remove(0);
            c.config.network = first_mode(e, &next.name)?;
            c.config.network_aliases = next.aliases;
        }
    } else {
        let Some(i) = c
            .config
            .extra_networks
            .iter()
            .position(|x| x.name == n.name)
        else {
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {} [layer: engine]",
                c.name, n.name
            )));
        };
        if running && c.config.in_vm() {
            return Err(Error::Conflict(format!(
                "container {} is a running VM container, whose interfaces are made at its boot: stop it to disconnect it from network {} [layer: vm]",
                c.name, n.name
            )));
        }
        if let Some(j) = c.state.net.extra.iter().position(|a| a.network == n.name) {
            let a = c.state.net.extra[j].clone();
            detach_one(e, &c, &c.state.net, &a)?;
            c.state.net.extra.remove(j);
            e.db.save_state(&c.id, &c.state)?;
            hosts::withdraw(e, &c, &n.name)?;
        }
        c.config.extra_networks.remove(i);
    }
    e.db.save_config(&c.id, &c.config)?;
    event(e, "disconnect", &n, &c);
    Ok(())
}

/// Records a connect or disconnect in the event log (as docker's network events).
fn event(e: &Engine, action: &str, n: &super::record::Network, c: &Container) {
    let _ = e.db.event(
        "network",
        action,
        &n.id,
        &n.name,
        &[("container", c.id.clone())],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_attachment_takes_no_default_route() {
        let list = serde_json::json!({"plugins": [
            {"type": "bridge", "ipam": {"routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.0.0.0/8"}]}},
            {"type": "portmap"}
        ]});
        let out = without_default_route(list);
        assert_eq!(
            out["plugins"][0]["ipam"]["routes"],
            serde_json::json!([{"dst": "10.0.0.0/8"}])
        );
    }

    #[test]
    fn interfaces_are_numbered_from_eth1_reusing_gaps() {
        let mut net = NetworkState::default();
        assert_eq!(next_ifname(&net), "eth1");
        for i in [1, 3] {
            net.extra.push(ExtraAttachment {
                ifname: format!("eth{i}"),
                ..Default::default()
            });
        }
        assert_eq!(next_ifname(&net), "eth2");
    }
}
