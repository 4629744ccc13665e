//! `start`, `stop`, `kill`, `restart`, `rm`, `wait`, `inspect`, `pause`, `unpause`,
//! `rename`, and the monitor's `cleanup`.

use super::open_engine;
use crate::Global;
use anyhow::{bail, Result};
use strata_engine::container::{inspect as ins, manage, remove, start as st, stop};

/// Several containers by name or id.
#[derive(Debug, clap::Args)]
pub struct NamesArgs {
    /// Containers (names or ids).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Attach to the container's output until it exits (one container).
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's stdin.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Start every stopped container that passes the filters (at boot:
    /// `--all --filter restart-policy=always --filter restart-policy=unless-stopped`, which
    /// leaves out what a user stopped).
    #[arg(long, conflicts_with = "containers")]
    pub all: bool,
    /// With --all: as `ps --filter` (name=, label=, restart-policy=, ...).
    #[arg(short = 'f', long, requires = "all")]
    pub filter: Vec<String>,
    /// Containers.
    #[arg(required_unless_present = "all")]
    pub containers: Vec<String>,
}

/// `stop` and `restart`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `kill`.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Remove running containers too (they are killed first).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the container's anonymous volumes.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Seconds to wait for a stop before the kill (accepted for podman compatibility).
    #[arg(short = 't', long = "time")]
    pub time: Option<u32>,
    /// Remove every container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Containers.
    pub containers: Vec<String>,
}

/// `wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format: json (default) or a template like {{.State.Status}}.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Containers (or images).
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `rename`.
#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    /// The container.
    pub container: String,
    /// Its new name.
    pub name: String,
}

/// `cleanup` (the monitor's exit command).
#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// The container's id.
    pub id: String,
}

/// Runs `f` on each name; prints what it returns; the first error after trying them all.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<String>) -> Result<i32> {
    let mut first: Option<anyhow::Error> = None;
    for n in names {
        match f(n) {
            Ok(out) if !out.is_empty() => println!("{out}"),
            Ok(_) => {}
            Err(e) => {
                if first.is_some() {
                    eprintln!("Error: {e:#}");
                } else {
                    first = Some(e);
                }
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// `start`.
pub fn start(g: &Global, a: StartArgs) -> Result<i32> {
    let e = open_engine(g)?;
    if a.attach {
        if a.containers.len() != 1 {
            bail!("start --attach takes one container");
        }
        let c = stop::load(&e, &a.containers[0])?;
        let dir = e.paths.monitor(&c.id);
        {
            let _l = strata_engine::lock::lock(&e.paths, &c.id)?;
            let mut c = stop::load(&e, &c.id)?;
            st::start_locked(&e, &mut c, false)?;
        }
        let mut att = strata_monitor::attach::attach(&dir, a.interactive)?;
        let r = strata_monitor::protocol::call(&dir, &strata_monitor::Request::Start, None)?;
        if !r.ok {
            return Err(st::classify_start_error(&c, r.error.unwrap_or_default()).into());
        }
        {
            let _l = strata_engine::lock::lock(&e.paths, &c.id)?;
            let mut c = stop::load(&e, &c.id)?;
            if c.state.status == strata_engine::Status::Created {
                st::mark_started(&e, &mut c)?;
            }
        }
        if a.interactive {
            let mut input = att.input()?;
            std::thread::spawn(move || input.copy_from(&mut std::io::stdin().lock()));
        }
        let x = att.relay(&mut std::io::stdout(), &mut std::io::stderr())?;
        return Ok(x.map_or(255, |x| x.exit_code));
    }
    let names = if a.all {
        let mut names = Vec::new();
        for mut c in e.db.containers()? {
            strata_engine::container::status::refresh(&e, &mut c)?;
            let user_stopped = c.state.stopped_by_user
                && c.config.restart
                    == strata_engine::container::config::RestartPolicy::UnlessStopped;
            if !c.state.status.is_live()
                && !c.config.infra
                && !user_stopped
                && super::ps::matches_all(&c, &a.filter)?
            {
                names.push(c.id.clone());
            }
        }
        names
    } else {
        a.containers.clone()
    };
    each(&names, |n| {
        st::start(&e, n)?;
        Ok(n.to_string())
    })
}

/// `stop`.
pub fn stop(g: &Global, a: StopArgs) -> Result<i32> {
    let e = open_engine(g)?;
    each(&a.containers, |n| {
        stop::stop(&e, n, a.time)?;
        Ok(n.to_string())
    })
}

/// `restart`.
pub fn restart(g: &Global, a: StopArgs) -> Result<i32> {
    let e = open_engine(g)?;
    each(&a.containers, |n| {
        stop::stop(&e, n, a.time)?;
        st::start(&e, n)?;
        Ok(n.to_string())
    })
}

/// `kill`.
pub fn kill(g: &Global, a: KillArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let sig = stop::parse_signal(&a.signal)?;
    each(&a.containers, |n| {
        stop::kill(&e, n, sig, false)?;
        Ok(n.to_string())
    })
}

/// `rm`.
pub fn rm(g: &Global, a: RmArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let names: Vec<String> = if a.all {
        e.db.containers()?.into_iter().map(|c| c.id).collect()
    } else {
        if a.containers.is_empty() {
            bail!("rm: name at least one container, or use --all");
        }
        a.containers.clone()
    };
    each(&names, |n| {
        let c = remove::remove(&e, n, a.force, a.volumes)?;
        Ok(if a.all { c.id } else { n.to_string() })
    })
}

/// `wait`.
pub fn wait(g: &Global, a: WaitArgs) -> Result<i32> {
    let e = open_engine(g)?;
    each(&a.containers, |n| {
        let c = stop::load(&e, n)?;
        let code = stop::wait_exit(&e, &c, None)?;
        Ok(code.unwrap_or(-1).to_string())
    })
}

/// `inspect`: containers first, then images (as `docker inspect` looks).
pub fn inspect(g: &Global, a: InspectArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let mut docs = Vec::new();
    for n in &a.names {
        match stop::load(&e, n) {
            Ok(c) => docs.push(ins::inspect(&e, &c)),
            Err(strata_engine::Error::NotFound(_)) => {
                let store = e.store()?;
                match strata_image::ops::lookup(&store, n, &e.opts.default_registry) {
                    Ok(img) => docs.push(strata_image::ops::inspect(&store, &img)?),
                    Err(err) => bail!("inspect {n}: {err} (no container or image has that name)"),
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    match crate::format::Format::parse(a.format.as_deref()) {
        crate::format::Format::Template { template, .. } => {
            for d in &docs {
                println!("{}", crate::format::render(&template, d));
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(0)
}

/// `pause` / `unpause`.
pub fn pause(g: &Global, a: NamesArgs, on: bool) -> Result<i32> {
    let e = open_engine(g)?;
    each(&a.containers, |n| {
        manage::pause(&e, n, on)?;
        Ok(n.to_string())
    })
}

/// `rename`.
pub fn rename(g: &Global, a: RenameArgs) -> Result<i32> {
    let e = open_engine(g)?;
    manage::rename(&e, &a.container, &a.name)?;
    Ok(0)
}

/// `cleanup`: run by a container's monitor after the container exited.
pub fn cleanup(g: &Global, a: CleanupArgs) -> Result<i32> {
    let e = open_engine(g)?;
    stop::after_exit(&e, &a.id)?;
    Ok(0)
}
