//! `volume create/ls/inspect/rm/prune`.

use crate::commands::container::open_engine;
use crate::format::{print_list, Format};
use crate::Global;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use strata_engine::volume;

/// `strata volume <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create {
        /// Set metadata: KEY=VALUE.
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        /// Name (random if none).
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Show names only.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Output: json, or a template like {{.Name}}.
        #[arg(long)]
        format: Option<String>,
        /// Filter: name=, label=KEY[=VALUE], dangling=true.
        #[arg(short = 'f', long)]
        filter: Vec<String>,
    },
    /// Show volumes' details as JSON.
    Inspect {
        /// Output: json (default) or a template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    Rm {
        /// Accepted for compatibility (a volume in use is never removed).
        #[arg(short = 'f', long)]
        force: bool,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
    },
}

/// Runs `strata volume <command>`.
pub fn run(g: &Global, c: VolumeCommand) -> Result<i32> {
    let e = open_engine(g)?;
    match c {
        VolumeCommand::Create { label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            println!("{}", volume::create(&e, name.as_deref(), labels)?.name);
        }
        VolumeCommand::Ls {
            quiet,
            format,
            filter,
        } => {
            let mut items = Vec::new();
            for v in e.db.volumes()? {
                let mut ok = true;
                for f in &filter {
                    let (k, val) = f.split_once('=').unwrap_or((f, ""));
                    ok &= match k {
                        "name" => v.name.contains(val),
                        "label" => match val.split_once('=') {
                            Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                            None => v.labels.contains_key(val),
                        },
                        "dangling" => (val == "true") == volume::users(&e, &v.name)?.is_empty(),
                        _ => bail!("invalid filter {f:?}: use name=, label= or dangling="),
                    };
                }
                if ok {
                    items.push(volume::inspect(&e, &v));
                }
            }
            if quiet {
                for i in &items {
                    println!("{}", i["Name"].as_str().unwrap_or(""));
                }
            } else {
                print_list(
                    &Format::parse(format.as_deref()),
                    &items,
                    &["DRIVER", "VOLUME NAME"],
                    |v| vec!["local".into(), v["Name"].as_str().unwrap_or("").into()],
                );
            }
        }
        VolumeCommand::Inspect { format, names } => {
            let mut docs = Vec::new();
            for n in &names {
                let v = e.db.volume(n)?.ok_or_else(|| {
                    strata_engine::Error::NotFound(format!("no such volume: {n}"))
                })?;
                docs.push(volume::inspect(&e, &v));
            }
            match Format::parse(format.as_deref()) {
                Format::Template { template, .. } => docs
                    .iter()
                    .for_each(|d| println!("{}", crate::format::render(&template, d))),
                _ => println!("{}", serde_json::to_string_pretty(&docs)?),
            }
        }
        VolumeCommand::Rm { names, .. } => {
            for n in &names {
                volume::remove(&e, n)?;
                println!("{n}");
            }
        }
        VolumeCommand::Prune { force } => {
            if !force && !crate::commands::system::confirm("remove every volume no container uses")?
            {
                return Ok(0);
            }
            for n in volume::prune(&e)? {
                println!("{n}");
            }
        }
    }
    Ok(0)
}
