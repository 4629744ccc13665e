//! `network create|ls|rm|inspect|exists|connect|disconnect` and `port`, on the engine's networks (podman's
//! spelling and output).

use super::container::open_engine;
use crate::format::{print_list, render, Format};
use crate::Global;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use strata_engine::container::{config::PortMapping, stop};
use strata_engine::network::{manage, ports};

/// `strata network <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove networks (refused while containers use them, unless --force).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Show networks' details as JSON (or a template).
    Inspect(InspectArgs),
    /// Exit 0 if the network exists, 1 if not.
    Exists(ExistsArgs),
    /// Connect a container to one more network (at once if it runs: one more interface,
    /// eth1 and on; else from its next start).
    Connect(ConnectArgs),
    /// Disconnect a container from a network (its first network only while it is stopped).
    Disconnect(DisconnectArgs),
}

/// `network connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Another name its peers on that network find it by (repeatable).
    #[arg(long)]
    pub alias: Vec<String>,
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

/// `network disconnect`.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

/// `network create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// IPv4 subnet in CIDR form (default: a free one from 10.89.0.0/24 up).
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway (default: the subnet's first address).
    #[arg(long)]
    pub gateway: Option<String>,
    /// The host's bridge interface (default: strata<N>).
    #[arg(long = "interface-name")]
    pub interface_name: Option<String>,
    /// Driver (only bridge).
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set metadata: KEY=VALUE.
    #[arg(long)]
    pub label: Vec<String>,
    /// The network's name (default: strata<N>).
    pub name: Option<String>,
}

/// `network ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Output: json, or a template like {{.name}}.
    #[arg(long)]
    pub format: Option<String>,
    /// Show names only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter: name=, id=, driver=.
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
}

/// `network rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Remove the containers that use the network first.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `network inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format: json (default) or a template like {{.subnets}}.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `network exists`.
#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The network.
    pub name: String,
}

/// `port`.
#[derive(Debug, clap::Args)]
pub struct PortArgs {
    /// Show the ports of every container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// The container, then optionally one of its ports (PORT[/PROTO]).
    pub args: Vec<String>,
}

/// Runs `strata network <command>`.
pub fn dispatch(g: &Global, c: NetworkCommand) -> Result<i32> {
    let e = open_engine(g)?;
    match c {
        NetworkCommand::Create(a) => {
            if a.driver != "bridge" {
                bail!(
                    "network create: driver {:?} is not supported: use bridge",
                    a.driver
                );
            }
            let mut labels = BTreeMap::new();
            for l in &a.label {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                labels.insert(k.to_string(), v.to_string());
            }
            let n = manage::create(
                &e,
                manage::CreateOptions {
                    name: a.name,
                    subnet: a.subnet,
                    gateway: a.gateway,
                    bridge: a.interface_name,
                    labels,
                },
            )?;
            println!("{}", n.name);
            Ok(0)
        }
        NetworkCommand::Ls(a) => {
            let mut items = Vec::new();
            for n in manage::list(&e)? {
                let ok = a.filter.iter().try_fold(true, |ok, f| {
                    let (k, v) = f.split_once('=').unwrap_or((f.as_str(), ""));
                    Ok::<bool, anyhow::Error>(
                        ok && match k {
                            "name" => n.name.contains(v),
                            "id" => n.id.starts_with(v),
                            "driver" => n.driver == v,
                            _ => bail!("invalid filter {f:?}: use name=, id= or driver="),
                        },
                    )
                })?;
                if ok {
                    items.push(manage::document(&n, None));
                }
            }
            if a.quiet {
                for i in &items {
                    println!("{}", i["name"].as_str().unwrap_or_default());
                }
                return Ok(0);
            }
            print_list(
                &Format::parse(a.format.as_deref()),
                &items,
                &["NETWORK ID", "NAME", "DRIVER"],
                |v| {
                    let id = v["id"].as_str().unwrap_or_default();
                    vec![
                        id[..id.len().min(12)].to_string(),
                        v["name"].as_str().unwrap_or_default().to_string(),
                        v["driver"].as_str().unwrap_or_default().to_string(),
                    ]
                },
            );
            Ok(0)
        }
        NetworkCommand::Rm(a) => {
            let mut first: Option<anyhow::Error> = None;
            for n in &a.names {
                match manage::remove(&e, n, a.force) {
                    Ok(_) => println!("{n}"),
                    Err(err) if first.is_none() => first = Some(err.into()),
                    Err(err) => eprintln!("Error: {err}"),
                }
            }
            first.map_or(Ok(0), Err)
        }
        NetworkCommand::Inspect(a) => {
            let containers = e.db.containers()?;
            let mut docs = Vec::new();
            for name in &a.names {
                let n = match e.db.network(name)? {
                    Some(n) => n,
                    None => manage::get(&e, name)?,
                };
                docs.push(manage::document(&n, Some(&containers)));
            }
            match Format::parse(a.format.as_deref()) {
                Format::Template { template, .. } => {
                    for d in &docs {
                        println!("{}", render(&template, d));
                    }
                }
                _ => println!("{}", serde_json::to_string_pretty(&docs)?),
            }
            Ok(0)
        }
        NetworkCommand::Connect(a) => {
            strata_engine::network::extra::connect(&e, &a.container, &a.network, a.alias)?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            strata_engine::network::extra::disconnect(&e, &a.container, &a.network)?;
            Ok(0)
        }
        NetworkCommand::Exists(a) => Ok(if e.db.network(&a.name)?.is_some() {
            0
        } else {
            1
        }),
    }
}

/// One mapping as `port` prints it: `80/tcp -> 0.0.0.0:8080`.
fn line(p: &PortMapping) -> String {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    };
    format!(
        "{}/{} -> {ip}:{}",
        p.container_port, p.protocol, p.host_port
    )
}

/// `port`: a container's published ports (of its current run: host ports picked for 0 and
/// `-P` included), all of them or those of one container port.
pub fn port(g: &Global, a: PortArgs) -> Result<i32> {
    let e = open_engine(g)?;
    if a.all {
        if !a.args.is_empty() {
            bail!("port --all takes no container");
        }
        for c in e.db.containers()? {
            let c = stop::load(&e, &c.id)?;
            for p in ports::published(&c)
                .iter()
                .filter(|_| c.state.status.is_live())
            {
                println!("{}\t{}", c.short_id(), line(p));
            }
        }
        return Ok(0);
    }
    let (name, which) = match a.args.as_slice() {
        [c] => (c, None),
        [c, p] => (c, Some(p)),
        _ => bail!("port: give a container, and optionally one of its ports (PORT[/PROTO])"),
    };
    let c = stop::load(&e, name)?;
    let shown: Vec<&PortMapping> = ports::published(&c).iter().collect();
    match which {
        None => {
            for p in shown {
                println!("{}", line(p));
            }
        }
        Some(w) => {
            let (port, proto) = w.split_once('/').unwrap_or((w.as_str(), "tcp"));
            let port: u16 = port
                .parse()
                .map_err(|_| anyhow::anyhow!("port: invalid port {w:?}: use PORT[/PROTO]"))?;
            let found: Vec<&&PortMapping> = shown
                .iter()
                .filter(|p| p.container_port == port && p.protocol == proto)
                .collect();
            if found.is_empty() {
                bail!(
                    "port: no public port {port}/{proto} published for container {}",
                    c.name
                );
            }
            for p in found {
                let ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                };
                println!("{ip}:{}", p.host_port);
            }
        }
    }
    Ok(0)
}
