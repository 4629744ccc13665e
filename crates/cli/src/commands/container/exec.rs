//! `exec`: a new process in a running container, through the container's monitor: it runs
//! the runtime's exec in a forked copy of itself and relays the process's output and input
//! (or its terminal, with `-t`) over its control socket, as `attach` does the container's.

use super::open_engine;
use crate::Global;
use anyhow::{bail, Context, Result};
use strata_engine::container::stop;
use strata_engine::spec::user;
use strata_monitor::protocol::{exec_failure_status, ExecRequest, Request};

/// `exec`'s options.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Keep STDIN open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// User (name or uid, with an optional :group).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Give the process extended privileges (all capabilities).
    #[arg(long)]
    pub privileged: bool,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `exec`.
pub fn exec(g: &Global, a: ExecArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    if !c.state.status.is_live() {
        bail!("container {} is not running: start it first", c.name);
    }
    let mut r = ExecRequest {
        args: a.command.clone(),
        env: a
            .env
            .iter()
            .filter_map(|v| strata_engine::container::parse::env(v))
            .collect(),
        cwd: a.workdir.clone(),
        tty: a.tty,
        stdin: a.interactive,
        detach: a.detach,
        ..Default::default()
    };
    if let Some(u) = &a.user {
        let u = user::resolve_with_groups(&e.paths.rootfs(&c.id), u, &c.config.group_add)?;
        (r.uid, r.gid, r.additional_gids) = (Some(u.uid), Some(u.gid), u.additional_gids);
    }
    if a.privileged {
        r.caps = strata_engine::spec::security::host_caps();
    }
    let dir = e.paths.monitor(&c.id);
    let not_running = |err: std::io::Error| {
        anyhow::anyhow!("exec in container {}: {err} (is it running?)", c.name)
    };
    if a.detach {
        let answer =
            strata_monitor::protocol::call(&dir, &Request::Exec(r), None).map_err(not_running)?;
        return Ok(match answer.error {
            None if answer.ok => 0,
            e => failed(&c.name, &e.unwrap_or_default()),
        });
    }
    let (mut att, session) = match strata_monitor::attach::exec(&dir, r) {
        Ok(x) => x,
        Err(err) if err.kind() == std::io::ErrorKind::Other => {
            return Ok(failed(&c.name, &err.to_string()))
        }
        Err(err) => return Err(not_running(err)),
    };
    if a.tty {
        crate::tty::follow_resizes(dir.clone(), Some(session));
    }
    let raw = if a.tty && a.interactive {
        crate::tty::RawMode::enter(0)
    } else {
        None
    };
    if a.interactive {
        let mut input = att.input()?;
        std::thread::spawn(move || input.copy_from(&mut std::io::stdin().lock()));
    }
    let exit = att
        .relay(&mut std::io::stdout(), &mut std::io::stderr())
        .context("exec: relay")?;
    drop(raw);
    match exit {
        Some(x) => {
            if let Some(msg) = &x.error {
                eprintln!("Error: exec in container {}: {msg}", c.name);
            }
            Ok(x.exit_code)
        }
        None => bail!(
            "exec in container {}: the monitor went away (the container stopped?)",
            c.name
        ),
    }
}

/// Reports an exec whose command did not run; the status docker gives it.
fn failed(name: &str, msg: &str) -> i32 {
    eprintln!("Error: exec in container {name}: {msg}");
    exec_failure_status(msg)
}
