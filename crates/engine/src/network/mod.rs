//! Container networking: a network namespace per container (or its pod's, another
//! container's, the host's, or one with only a loopback), attached to a network through the
//! standard CNI plugins.

pub mod netns;

use crate::container::config::NetworkMode;
use crate::container::state::NetworkState;
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec::Ns;

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
        NetworkMode::Default | NetworkMode::Bridge(_) => Err(Error::Network(
            "bridge networks are not available yet: use --network none or host".into(),
        )),
    }
}

/// Takes the network back after a container stopped (idempotent). The namespace the engine
/// made is found by the container's id, not only through the state: a CLI killed between
/// making it and recording it must not leak it.
pub fn detach(e: &Engine, c: &Container) -> Result<()> {
    let own = e.paths.netns_dir().join(&c.id);
    netns::remove(&own)?;
    if let Some(p) = &c.state.net.netns {
        if std::path::Path::new(p).starts_with(e.paths.netns_dir()) {
            netns::remove(std::path::Path::new(p))?;
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
