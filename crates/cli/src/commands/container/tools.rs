//! `top`, `stats`, `cp`, `export` and `attach`.

use super::open_engine;
use crate::format::{print_list, Format};
use crate::Global;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::time::Duration;
use strata_engine::container::status::human_bytes;
use strata_engine::container::{copy, stats, stop};

/// `top`'s options.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// The container.
    pub container: String,
    /// ps options (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `top`: the container's processes, as the host's `ps` shows them.
pub fn top(g: &Global, a: TopArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    let pids = stats::pids(&e, &c)?;
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    let mut cmd = std::process::Command::new("ps");
    if a.ps_args.is_empty() {
        cmd.arg("-f");
    } else {
        cmd.args(&a.ps_args);
    }
    let st = cmd
        .arg("-p")
        .arg(list.join(","))
        .status()
        .context("top: run ps")?;
    Ok(st.code().unwrap_or(1))
}

/// `stats`' options.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print one sample and stop.
    #[arg(long)]
    pub no_stream: bool,
    /// Output: json, or a template like {{.MemUsage}}.
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: every running one).
    pub containers: Vec<String>,
}

/// `stats`: CPU, memory, network, block I/O and pids of running containers.
pub fn stats(g: &Global, a: StatsArgs) -> Result<i32> {
    let e = open_engine(g)?;
    loop {
        let mut list = Vec::new();
        if a.containers.is_empty() {
            for c in e.db.containers()? {
                let c = stop::load(&e, &c.id)?;
                if c.state.status.is_live() {
                    list.push(c);
                }
            }
        } else {
            for n in &a.containers {
                let c = stop::load(&e, n)?;
                if !c.state.status.is_live() {
                    bail!("container {} is not running", c.name);
                }
                list.push(c);
            }
        }
        let first: Vec<_> = list.iter().map(|c| stats::sample(&e, c).ok()).collect();
        std::thread::sleep(Duration::from_millis(500));
        let mut items = Vec::new();
        for (c, s0) in list.iter().zip(first) {
            let Ok(s1) = stats::sample(&e, c) else {
                continue;
            };
            let cpu = match s0 {
                Some(s0) if s1.time > s0.time => {
                    (s1.cpu_nanos.saturating_sub(s0.cpu_nanos)) as f64 / (s1.time - s0.time) as f64
                        * 100.0
                }
                _ => 0.0,
            };
            let mem_pct = if s1.mem_limit > 0 {
                s1.mem_usage as f64 / s1.mem_limit as f64 * 100.0
            } else {
                0.0
            };
            items.push(json!({
                "ID": c.short_id(), "Name": c.name,
                "CPUPerc": format!("{cpu:.2}%"), "cpu_percent": cpu,
                "MemUsage": format!("{} / {}", human_bytes(s1.mem_usage), human_bytes(s1.mem_limit)),
                "mem_usage": s1.mem_usage, "mem_limit": s1.mem_limit,
                "MemPerc": format!("{mem_pct:.2}%"),
                "NetIO": format!("{} / {}", human_bytes(s1.net_rx), human_bytes(s1.net_tx)),
                "BlockIO": format!("{} / {}", human_bytes(s1.blk_read), human_bytes(s1.blk_write)),
                "PIDs": s1.pids,
            }));
        }
        print_list(
            &Format::parse(a.format.as_deref()),
            &items,
            &[
                "ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET IO",
                "BLOCK IO",
                "PIDS",
            ],
            |v| {
                [
                    "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
                ]
                .iter()
                .map(|k| match &v[*k] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
            },
        );
        if a.no_stream {
            return Ok(0);
        }
    }
}

/// `cp`'s options.
#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// CONTAINER:PATH or a host path.
    pub src: String,
    /// CONTAINER:PATH or a host path.
    pub dst: String,
}

fn split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
}

/// `cp`: files between a container and the host, either way.
pub fn cp(g: &Global, a: CpArgs) -> Result<i32> {
    let e = open_engine(g)?;
    match (split(&a.src), split(&a.dst)) {
        (Some((ctr, path)), None) => {
            let c = stop::load(&e, ctr)?;
            copy::copy_out(&e, &c, path, std::path::Path::new(&a.dst))?;
        }
        (None, Some((ctr, path))) => {
            let c = stop::load(&e, ctr)?;
            copy::copy_in(&e, &c, std::path::Path::new(&a.src), path)?;
        }
        _ => bail!("cp: give exactly one side as CONTAINER:PATH"),
    }
    Ok(0)
}

/// `export`'s options.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to a file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    /// The container.
    pub container: String,
}

/// `export`: the container's filesystem as a tar.
pub fn export(g: &Global, a: ExportArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    match &a.output {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .with_context(|| format!("export: create {}", p.display()))?;
            copy::export(&e, &c, &mut f)?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!(
                    "export: refusing to write a tar to a terminal: use -o FILE or redirect stdout"
                );
            }
            copy::export(&e, &c, &mut std::io::stdout().lock())?;
        }
    }
    Ok(0)
}

/// `attach`'s options.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Do not attach stdin.
    #[arg(long)]
    pub no_stdin: bool,
    /// Forward signals to the container.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// The container.
    pub container: String,
}

/// `attach`: the container's output (and our input) until it exits.
pub fn attach(g: &Global, a: AttachArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    if !c.state.status.is_live() {
        bail!(
            "container {} is not running: start it with strata start -a",
            c.name
        );
    }
    let dir = e.paths.monitor(&c.id);
    let stdin = !a.no_stdin && c.config.interactive;
    let mut att = strata_monitor::attach::attach(&dir, stdin).context("attach")?;
    let raw = if c.config.tty && stdin {
        crate::tty::RawMode::enter(0)
    } else {
        None
    };
    if a.sig_proxy && !c.config.tty {
        super::run::proxy_signals(dir.clone());
    }
    if stdin {
        let mut input = att.input()?;
        std::thread::spawn(move || input.copy_from(&mut std::io::stdin().lock()));
    }
    let x = att.relay(&mut std::io::stdout(), &mut std::io::stderr())?;
    drop(raw);
    Ok(match x {
        Some(x) => x.exit_code,
        None => stop::load(&e, &c.id)?.state.exit_code.unwrap_or(0),
    })
}
