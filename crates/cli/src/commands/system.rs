//! `system info`, `system df`, `system prune` and `system service` (in `service`).

use crate::commands::container::open_engine;
use crate::Global;
use anyhow::Result;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use strata_engine::container::{status, Status};

/// `strata system <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum SystemCommand {
    /// Show the host, the engine's store and its settings.
    Info {
        /// Output: json, or a template like {{.Host.Kernel}}.
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Show disk usage by images, containers and volumes.
    Df {
        /// Output: json.
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove stopped containers, dangling images (and unused volumes with --volumes).
    Prune {
        /// Do not ask for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Remove every unused image, not only dangling ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Remove unused volumes too.
        #[arg(long)]
        volumes: bool,
    },
    /// Serve the Docker Engine API on a unix socket.
    Service(crate::commands::service::ServiceArgs),
}

/// Asks for confirmation on a terminal; refuses (with the flag to use) elsewhere.
pub fn confirm(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("will not {what} without confirmation: add --force");
    }
    eprint!("This will {what}. Continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Bytes used by a directory tree (allocated blocks), not crossing mounts.
pub fn du(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    let dev = root.dev();
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// `system` commands.
pub fn run(g: &Global, c: SystemCommand) -> Result<i32> {
    if let SystemCommand::Service(a) = c {
        return crate::commands::service::serve(g, a);
    }
    let e = open_engine(g)?;
    match c {
        SystemCommand::Info { format } => {
            let mut list = e.db.containers()?;
            let mut counts = [0usize; 3];
            for c in list.iter_mut() {
                status::refresh(&e, c)?;
                match c.state.status {
                    Status::Running => counts[0] += 1,
                    Status::Paused => counts[1] += 1,
                    _ => counts[2] += 1,
                }
            }
            let store = e.store()?;
            let images = store.meta().list()?.len();
            let d = json!({
                "Host": {
                    "Kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
                    "OS": "linux",
                    "Arch": std::env::consts::ARCH,
                    "CPUs": std::thread::available_parallelism().map_or(1, |n| n.get()),
                    "MemTotal": strata_engine::container::stats::host_memory(),
                    "Hostname": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
                    "CgroupVersion": strata_engine::describe::cgroup_layout(),
                    "CgroupManager": "cgroupfs",
                    "OCIRuntime": {"Name": "strata-runc", "Version": env!("CARGO_PKG_VERSION"), "Path": "in-process, through strata-monitor"},
                    "NetworkBackend": "cni",
                    "Security": {"SeccompEnabled": true, "Rootless": false},
                },
                "Store": {
                    "GraphRoot": e.paths.root,
                    "RunRoot": e.paths.runroot,
                    "GraphDriverName": "overlay",
                    "ImageStore": {"number": images},
                    "ContainerStore": {"number": list.len(), "running": counts[0], "paused": counts[1], "stopped": counts[2]},
                    "VolumeCount": e.db.volumes()?.len(),
                },
                "Version": {"Version": env!("CARGO_PKG_VERSION")},
            });
            match format.as_deref() {
                Some("json") => println!("{}", serde_json::to_string_pretty(&d)?),
                Some(t) => println!("{}", crate::format::render(t, &d)),
                None => print_yaml(&d, 0),
            }
        }
        SystemCommand::Df { format } => {
            let store = e.store()?;
            let imgs = store.meta().list()?;
            let containers = e.db.containers()?;
            let used: std::collections::HashSet<&str> = containers
                .iter()
                .map(|c| c.config.image_id.as_str())
                .collect();
            let img_size: u64 = imgs.iter().map(|i| i.size).sum();
            let img_free: u64 = imgs
                .iter()
                .filter(|i| !used.contains(i.id.to_string().as_str()))
                .map(|i| i.size)
                .sum();
            let ctr_size: u64 = containers
                .iter()
                .map(|c| strata_engine::container::rootfs::usage(&e, &c.id))
                .sum();
            let vols = e.db.volumes()?;
            let vol_size: u64 = vols
                .iter()
                .map(|v| du(&e.paths.volumes().join(&v.name)))
                .sum();
            let rows = vec![
                json!({"Type": "Images", "Total": imgs.len(), "Active": imgs.iter().filter(|i| used.contains(i.id.to_string().as_str())).count(), "Size": img_size, "Reclaimable": img_free}),
                json!({"Type": "Containers", "Total": containers.len(), "Active": containers.iter().filter(|c| c.state.status.is_live()).count(), "Size": ctr_size, "Reclaimable": containers.iter().filter(|c| !c.state.status.is_live()).map(|c| strata_engine::container::rootfs::usage(&e, &c.id)).sum::<u64>()}),
                json!({"Type": "Local Volumes", "Total": vols.len(), "Active": vols.iter().filter(|v| !strata_engine::volume::users(&e, &v.name).unwrap_or_default().is_empty()).count(), "Size": vol_size, "Reclaimable": 0}),
            ];
            let f = crate::format::Format::parse(format.as_deref());
            crate::format::print_list(
                &f,
                &rows,
                &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                |r| {
                    vec![
                        r["Type"].as_str().unwrap_or("").into(),
                        r["Total"].to_string(),
                        r["Active"].to_string(),
                        strata_engine::container::status::human_bytes(
                            r["Size"].as_u64().unwrap_or(0),
                        ),
                        strata_engine::container::status::human_bytes(
                            r["Reclaimable"].as_u64().unwrap_or(0),
                        ),
                    ]
                },
            );
        }
        SystemCommand::Prune {
            force,
            all,
            volumes,
        } => {
            if !force && !confirm("remove every stopped container and unused image")? {
                return Ok(0);
            }
            let mut n = 0;
            for c in e.db.containers()? {
                let mut c = c;
                status::refresh(&e, &mut c)?;
                if matches!(
                    c.state.status,
                    Status::Exited | Status::Created | Status::Dead
                ) {
                    strata_engine::container::remove::remove(&e, &c.id, false, true)?;
                    println!("Deleted container {}", c.id);
                    n += 1;
                }
            }
            let store = e.store()?;
            for d in strata_image::ops::prune(&store, all)? {
                println!("Deleted image {}", d.hex());
            }
            if volumes {
                for v in strata_engine::volume::prune(&e)? {
                    println!("Deleted volume {v}");
                }
            }
            let _ = n;
        }
        // Served above, without this engine handle.
        SystemCommand::Service(_) => {}
    }
    Ok(0)
}

fn print_yaml(v: &Value, indent: usize) {
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            match x {
                Value::Object(_) => {
                    println!("{:indent$}{k}:", "");
                    print_yaml(x, indent + 2);
                }
                Value::String(s) => println!("{:indent$}{k}: {s}", ""),
                other => println!("{:indent$}{k}: {other}", ""),
            }
        }
    }
}
