//! `pod create/ps/inspect/start/stop/rm/logs`.

use crate::commands::container::{logs, open_engine};
use crate::format::{print_list, Format};
use crate::Global;
use anyhow::{bail, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use strata_engine::container::parse;
use strata_engine::pod::{self, lifecycle, PodConfig};

/// `strata pod <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum PodCommand {
    /// Create a pod (its infra container holds the shared namespaces).
    Create(Box<CreateArgs>),
    /// List pods.
    #[command(alias = "ls", alias = "list")]
    Ps {
        /// Show ids only.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output: json, or a template like {{.Name}}.
        #[arg(long)]
        format: Option<String>,
        /// Filter: name=, id=, status=.
        #[arg(short = 'f', long)]
        filter: Vec<String>,
    },
    /// Show pods' details as JSON.
    Inspect {
        /// Output: json (default) or a template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Pods.
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Start pods (their infra, then their containers).
    Start {
        /// Pods.
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Stop pods (their containers, then their infra).
    Stop {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time")]
        time: Option<u32>,
        /// Pods.
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Remove pods (and their containers).
    Rm {
        /// Remove running pods too.
        #[arg(short = 'f', long)]
        force: bool,
        /// Remove every pod.
        #[arg(short = 'a', long)]
        all: bool,
        /// Seconds to wait (accepted for podman compatibility).
        #[arg(short = 't', long = "time")]
        time: Option<u32>,
        /// Pods.
        pods: Vec<String>,
    },
    /// Show the logs of a pod's containers.
    Logs {
        /// Follow.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Show time stamps.
        #[arg(short = 't', long)]
        timestamps: bool,
        /// Show the last N lines of each container.
        #[arg(short = 'n', long)]
        tail: Option<String>,
        /// The pod.
        pod: String,
    },
}

/// `pod create`'s options.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The pod's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Publish a port of the pod: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp].
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Network: bridge, host, none, or a network's name.
    #[arg(long)]
    pub network: Option<String>,
    /// The pod's hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Namespaces to share: net, ipc, uts, pid (default net,ipc,uts).
    #[arg(long, value_delimiter = ',')]
    pub share: Vec<String>,
    /// Set metadata: KEY=VALUE.
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Hosts, DNS and sysctls of the pod's containers.
    #[command(flatten)]
    pub names: super::container::args::NameFlags,
    /// How the pod is isolated: `container` (namespaces on the host's kernel, the default)
    /// or `vm` (a microVM with its own kernel, in which all the pod's containers run, as
    /// Kata runs pods).
    #[arg(long)]
    pub isolation: Option<String>,
    /// A VM pod's memory for its containers (its VM gets a fixed overhead beside it): 512m, 1g.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// A VM pod's vCPUs (rounded up).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Accepted for podman compatibility (strata's infra needs no image).
    #[arg(long = "infra-image", hide = true)]
    pub infra_image: Option<String>,
    /// Name for the pod (podman's positional form).
    pub pod_name: Option<String>,
}

fn network_mode(s: &str) -> strata_engine::container::config::NetworkMode {
    use strata_engine::container::config::NetworkMode as N;
    match s {
        "bridge" | "default" | "" => N::Default,
        "host" => N::Host,
        "none" => N::None,
        other => N::Bridge(other.to_string()),
    }
}

/// Runs `strata pod <command>`.
pub fn run(g: &Global, c: PodCommand) -> Result<i32> {
    let e = open_engine(g)?;
    match c {
        PodCommand::Create(a) => {
            let labels: BTreeMap<String, String> = a
                .label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let config = PodConfig {
                hostname: a.hostname.clone(),
                ports: a
                    .publish
                    .iter()
                    .map(|p| parse::port(p))
                    .collect::<strata_engine::Result<_>>()?,
                network: a.network.as_deref().map(network_mode).unwrap_or_default(),
                share: a.share.clone(),
                labels,
                add_hosts: a.names.add_host.clone(),
                dns: a.names.dns.clone(),
                dns_search: a.names.dns_search.clone(),
                dns_options: a.names.dns_option.clone(),
                sysctls: super::container::args::parse_pairs("--sysctl", &a.names.sysctl)?,
                isolation: a.isolation.clone(),
                memory: a
                    .memory
                    .as_deref()
                    .map(strata_engine::container::parse::size)
                    .transpose()?,
                cpus: a.cpus,
                ..Default::default()
            };
            let name = a.name.as_deref().or(a.pod_name.as_deref());
            println!("{}", lifecycle::create(&e, name, config)?.id);
        }
        PodCommand::Ps {
            quiet,
            format,
            filter,
        } => {
            let mut items = Vec::new();
            for p in e.db.pods()?.into_iter().rev() {
                let v = lifecycle::inspect(&e, &p)?;
                let mut ok = true;
                for f in &filter {
                    let (k, val) = f.split_once('=').unwrap_or((f, ""));
                    ok &= match k {
                        "name" => p.name.contains(val),
                        "id" => p.id.starts_with(val),
                        "status" => v["State"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(val)),
                        _ => bail!("invalid filter {f:?}: use name=, id= or status="),
                    };
                }
                if ok {
                    items.push(v);
                }
            }
            if quiet {
                for i in &items {
                    println!("{}", &i["Id"].as_str().unwrap_or("")[..12]);
                }
                return Ok(0);
            }
            print_list(
                &Format::parse(format.as_deref()),
                &items,
                &[
                    "POD ID",
                    "NAME",
                    "STATUS",
                    "CREATED",
                    "INFRA ID",
                    "# OF CONTAINERS",
                ],
                |v| {
                    vec![
                        v["Id"].as_str().unwrap_or("")[..12].to_string(),
                        v["Name"].as_str().unwrap_or("").into(),
                        v["State"].as_str().unwrap_or("").into(),
                        v["Created"].as_str().unwrap_or("").into(),
                        v["InfraContainerID"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(12)
                            .collect(),
                        v["NumContainers"].to_string(),
                    ]
                },
            );
        }
        PodCommand::Inspect { format, pods } => {
            let mut docs: Vec<Value> = Vec::new();
            for n in &pods {
                docs.push(lifecycle::inspect(&e, &e.db.find_pod(n)?)?);
            }
            match Format::parse(format.as_deref()) {
                Format::Template { template, .. } => docs
                    .iter()
                    .for_each(|d| println!("{}", crate::format::render(&template, d))),
                _ if docs.len() == 1 => println!("{}", serde_json::to_string_pretty(&docs[0])?),
                _ => println!("{}", serde_json::to_string_pretty(&docs)?),
            }
        }
        PodCommand::Start { pods } => {
            for p in &pods {
                println!("{}", lifecycle::start(&e, p)?.id);
            }
        }
        PodCommand::Stop { time, pods } => {
            for p in &pods {
                println!("{}", lifecycle::stop(&e, p, time)?.id);
            }
        }
        PodCommand::Rm {
            force, all, pods, ..
        } => {
            let names: Vec<String> = if all {
                e.db.pods()?.into_iter().map(|p| p.id).collect()
            } else {
                pods
            };
            if names.is_empty() {
                bail!("pod rm: name at least one pod, or use --all");
            }
            for p in &names {
                println!("{}", lifecycle::remove(&e, p, force)?.id);
            }
        }
        PodCommand::Logs {
            follow,
            timestamps,
            tail,
            pod: key,
        } => {
            let p = e.db.find_pod(&key)?;
            for c in pod::members(&e, &p)?
                .into_iter()
                .filter(|c| !c.config.infra)
            {
                logs::logs(
                    g,
                    logs::LogsArgs {
                        follow,
                        since: None,
                        until: None,
                        tail: tail.clone(),
                        timestamps,
                        container: c.id.clone(),
                    },
                )?;
            }
        }
    }
    Ok(0)
}
