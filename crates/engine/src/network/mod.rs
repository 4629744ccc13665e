//! Container networking: a network namespace per container (or its pod's, another
//! container's, the host's, or one with only a loopback), attached to a bridge network
//! through the standard CNI plugins (`cni`, `conflist`), with its published ports resolved
//! first (`ports`) and its peers listed in its /etc/hosts (`hosts`); more networks joined
//! as more interfaces (`extra`).
//!
//! Crash safety: before anything is made, the container's state records the network it is
//! being attached to, its namespace's path and its ports (the intent); from then on DEL is
//! owed, and [`detach`] runs it (DEL is idempotent for every plugin), so a crash at any
//! point of an attach is undone by the next clean-up.

pub mod cni;
pub mod conflist;
pub mod defaults;
pub mod extra;
pub mod hosts;
pub mod manage;
pub mod masquerade;
pub mod netns;
pub mod ports;
pub mod record;
pub mod subnet;

use crate::container::config::NetworkMode;
use crate::container::state::NetworkState;
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec::Ns;
use serde_json::Map;
use std::path::Path;

/// The interface name inside the container.
pub const IFNAME: &str = "eth0";

/// Whether a container's state owes a DEL: a network and a namespace of its own were
/// recorded (the intent, before anything is made). A pod's member shows its pod's network
/// but joins the infra container's namespace, and owes nothing.
pub fn owes_del(net: &NetworkState) -> bool {
    net.network.is_some() && net.netns.is_some()
}

/// Gives a container its network before it starts; returns what it got.
pub fn attach(e: &Engine, c: &Container) -> Result<NetworkState> {
    match &c.config.network {
        NetworkMode::Host | NetworkMode::Container(_) | NetworkMode::Pod => {
            Ok(NetworkState::default())
        }
        NetworkMode::None => {
            let p = netns::create(&e.paths.netns_dir(), &c.id)?;
            Ok(NetworkState {
                netns: Some(p.to_string_lossy().into_owned()),
                ..Default::default()
            })
        }
        NetworkMode::Default | NetworkMode::Bridge(_) => {
            let t0 = std::time::Instant::now();
            let name = manage::network_name(e, c)?.expect("a bridge mode names a network");
            let r = attach_bridge(e, c, &name);
            tracing::debug!(
                "network: container {}: attach to {name}: {:?}",
                c.name,
                t0.elapsed()
            );
            r
        }
    }
}

/// The CNI capabilities of a container's run (its port mappings).
fn capabilities(net: &NetworkState) -> Map<String, serde_json::Value> {
    let mut caps = Map::new();
    caps.insert("portMappings".into(), ports::runtime_config(&net.ports));
    caps
}

fn attach_bridge(e: &Engine, c: &Container, name: &str) -> Result<NetworkState> {
    let p = begin_bridge(e, c, name)?;
    let added = p.run_plugins(&c.id);
    let mut net = finish_bridge(e, c, p, added)?;
    if let Err(err) = extra::attach_configured(e, c, &mut net) {
        return Err(undo(e, c, net, err));
    }
    Ok(net)
}

/// A bridge attach between its two halves: what the engine prepared (the intent recorded,
/// the namespace made) before the CNI plugins run. The plugins need no engine handle, so a
/// pod's infra can be created while they run ([`begin`], [`Pending::run_plugins`],
/// [`finish`]).
pub struct Pending {
    list: serde_json::Value,
    intent: NetworkState,
}

impl Pending {
    /// The namespace the container joins.
    pub fn netns(&self) -> &str {
        self.intent.netns.as_deref().unwrap_or_default()
    }

    /// CNI ADD through the network's plugins, into the prepared namespace.
    pub fn run_plugins(&self, container_id: &str) -> Result<serde_json::Value> {
        cni::add(
            &self.list,
            &cni::Invocation {
                container_id,
                netns: self.intent.netns.as_deref().unwrap_or_default(),
                ifname: IFNAME,
                capabilities: &capabilities(&self.intent),
            },
        )
    }
}

/// The first half of attaching `c` to its bridge network (none for other modes: use
/// [`attach`]).
pub fn begin(e: &Engine, c: &Container) -> Result<Option<Pending>> {
    match &c.config.network {
        NetworkMode::Default | NetworkMode::Bridge(_) => {
            let name = manage::network_name(e, c)?.expect("a bridge mode names a network");
            begin_bridge(e, c, &name).map(Some)
        }
        _ => Ok(None),
    }
}

/// The second half, with what the plugins gave: the network state, or the attach undone.
pub fn finish(
    e: &Engine,
    c: &Container,
    p: Pending,
    added: Result<serde_json::Value>,
) -> Result<NetworkState> {
    finish_bridge(e, c, p, added)
}

fn begin_bridge(e: &Engine, c: &Container, name: &str) -> Result<Pending> {
    let n = manage::get(e, name)?;
    let list = conflist::load(e, &n)?;
    if !n.imported() {
        masquerade::ensure(e, &n)?;
    }
    let wanted = ports::wanted(e, c)?;
    let netns_path = e.paths.netns_dir().join(&c.id);
    let mut intent = NetworkState {
        netns: Some(netns_path.to_string_lossy().into_owned()),
        network: Some(n.name.clone()),
        ..Default::default()
    };
    {
        // Resolved and recorded under the ports lock, so two starts cannot take one port.
        let _l = (!wanted.is_empty())
            .then(|| crate::lock::lock(&e.paths, "net-ports"))
            .transpose()?;
        intent.ports = ports::resolve(e, c, wanted)?;
        let mut st = c.state.clone();
        st.net = intent.clone();
        e.db.save_state(&c.id, &st)?;
    }
    if let Err(err) = netns::create(&e.paths.netns_dir(), &c.id) {
        return Err(undo(e, c, intent, err));
    }
    Ok(Pending { list, intent })
}

/// An attach that failed half-way, undone (DEL); the error to report.
fn undo(e: &Engine, c: &Container, intent: NetworkState, err: Error) -> Error {
    let mut undo = c.clone();
    undo.state.net = intent;
    if let Err(e2) = detach(e, &undo) {
        // Both failures are told: what the DEL could not give back is named there.
        return Error::Network(format!(
            "{}; undoing it failed too: {e2}",
            err.to_string().trim_start_matches("network: ")
        ));
    }
    let mut st = c.state.clone();
    st.net = NetworkState::default();
    let _ = e.db.save_state(&c.id, &st);
    err
}

fn finish_bridge(
    e: &Engine,
    c: &Container,
    p: Pending,
    added: Result<serde_json::Value>,
) -> Result<NetworkState> {
    let intent = p.intent;
    let result = match added {
        Ok(r) => r,
        Err(err) => return Err(undo(e, c, intent, err)),
    };
    let a = cni::attachment(&result);
    Ok(NetworkState {
        ip: a.ip,
        gateway: a.gateway,
        mac: a.mac,
        attached: true,
        cni_result: Some(result),
        ..intent
    })
}

/// Takes the network back after a container stopped (idempotent; a namespace already gone
/// and an attach cut short are fine): its namespace removed, DEL through the network's
/// plugins, the container out of its peers' /etc/hosts. The namespace the engine made is
/// found by the container's id, not only through the state: a CLI killed between making it
/// and recording it (`--network none` records nothing before) must not leak it.
pub fn detach(e: &Engine, c: &Container) -> Result<()> {
    let t0 = std::time::Instant::now();
    let net = &c.state.net;
    let own = e.paths.netns_dir().join(&c.id);
    // With no process of the container left, its namespace goes first: the kernel then
    // deletes the veth pair with it, off the caller's path, where the bridge plugin's DEL
    // would delete the container's end itself and wait 10-20 ms (measured) for the kernel's
    // RCU grace periods. A DEL whose namespace is gone is one the spec asks every plugin to
    // handle (the bridge plugin then only releases the address).
    let alive = strata_runtime::state::Root::new(e.paths.runtime_root())
        .load(&c.id)
        .is_ok_and(|s| s.init_alive());
    if !alive {
        netns::remove(&own)?;
    }
    if let Some(name) = net.network.as_ref().filter(|_| owes_del(net)) {
        extra::detach_all(e, c, net)?;
        match e.db.network(name)? {
            Some(n) => {
                let list = conflist::load(e, &n)?;
                cni::del(
                    &list,
                    net.cni_result.as_ref(),
                    &cni::Invocation {
                        container_id: &c.id,
                        netns: net.netns.as_deref().unwrap_or_default(),
                        ifname: IFNAME,
                        capabilities: &capabilities(net),
                    },
                )?;
            }
            None => tracing::warn!(
                "container {}: network {name} is gone: nothing to give back to it",
                c.name
            ),
        }
        hosts::withdraw(e, c, name)?;
        tracing::debug!(
            "network: container {}: detach from {name}: {:?}",
            c.name,
            t0.elapsed()
        );
    }
    netns::remove(&own)?;
    if let Some(p) = net.netns.as_deref().map(Path::new) {
        if p.starts_with(e.paths.netns_dir()) {
            netns::remove(p)?;
        }
    }
    Ok(())
}

/// The network namespace a container's config names.
pub fn namespace(e: &Engine, c: &Container, net: &NetworkState) -> Result<Ns> {
    Ok(match &c.config.network {
        NetworkMode::Host => Ns::Host,
        NetworkMode::Container(other) => {
            let o = e.db.find_container(other)?;
            if !o.state.status.is_live() || o.state.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "network: container {} is not running: cannot join its network",
                    o.name
                )));
            }
            Ns::Join(format!("/proc/{}/ns/net", o.state.pid))
        }
        _ => match &net.netns {
            Some(p) => Ns::Join(p.clone()),
            None => Ns::New,
        },
    })
}
