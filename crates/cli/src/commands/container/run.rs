//! `run` and `create`: the image (pulled by the pull policy), the container, and for an
//! attached run its output relayed until it exits.

use super::args::CreateArgs;
use super::open_engine;
use crate::Global;
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::sync::Arc;
use strata_engine::container::{create, start, stop};
use strata_engine::spec::image_config::ImageConfig;
use strata_engine::Engine;
use strata_image::store::ImageRecord;

/// `run`'s options.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run the container in the background and print its id.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Forward the signals strata receives to the container (attached runs).
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub c: CreateArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// `create`'s options.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct CreateOnly {
    #[command(flatten)]
    pub c: CreateArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Finds the image, pulling it as the pull policy says.
pub fn ensure_image(
    g: &Global,
    e: &Engine,
    image: &str,
    policy: &str,
    platform: Option<&str>,
) -> Result<ImageRecord> {
    let store = e.store()?;
    let reg = &e.opts.default_registry;
    let found = strata_image::ops::lookup(&store, image, reg);
    let need_pull = match (policy, &found) {
        ("always", _) => true,
        ("never", _) => false,
        (_, Ok(_)) => false,
        (_, Err(_)) => true,
    };
    if !need_pull {
        return found.map_err(|_| anyhow::anyhow!("image {image}: not found in the store [layer: image] (pull it, or use --pull missing)"));
    }
    let reg_args = crate::commands::RegistryArgs {
        tls_verify: None,
        creds: None,
        authfile: None,
    };
    let mut opts = reg_args.options(g)?;
    if let Some(p) = platform {
        opts.platform = strata_image::oci::Platform::parse(p)?;
    }
    let progress = Arc::new(crate::progress::CliProgress::new(false));
    crate::runtime()?
        .block_on(strata_image::pull::pull(
            Arc::clone(&store),
            &opts,
            image,
            progress,
        ))
        .map_err(|err| anyhow::anyhow!("{err} [layer: image]"))?;
    Ok(strata_image::ops::lookup(&store, image, reg)?)
}

fn create_container(g: &Global, e: &Engine, a: &CreateArgs) -> Result<strata_engine::Container> {
    if a.rm && a.restart.as_deref().is_some_and(|r| r != "no") {
        bail!("conflicting options: --rm and --restart (a removed container cannot be restarted)");
    }
    let config = a.config()?;
    let img = ensure_image(g, e, &a.image, &a.pull, a.platform.as_deref())?;
    let store = e.store()?;
    let doc = strata_image::ops::config(&store, &img)?;
    let ic = ImageConfig::from_document(&doc);
    Ok(create::create(e, a.name.as_deref(), config, &img, &ic)?)
}

/// `create`.
pub fn create(g: &Global, a: CreateOnly) -> Result<i32> {
    let e = open_engine(g)?;
    let c = create_container(g, &e, &a.c)?;
    println!("{}", c.id);
    Ok(0)
}

/// `run`.
pub fn run(g: &Global, a: RunArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = create_container(g, &e, &a.c)?;
    if a.detach {
        if let Err(err) = start::start(&e, &c.id) {
            if a.c.rm {
                let _ = strata_engine::container::remove::remove(&e, &c.id, true, true);
            }
            return Err(err.into());
        }
        println!("{}", c.id);
        return Ok(0);
    }
    attached(&e, c, &a)
}

/// An attached run: the monitor creates the container and waits; we attach, start it, relay
/// its output (and our input with `-i`), and return its exit code.
fn attached(e: &Engine, c: strata_engine::Container, a: &RunArgs) -> Result<i32> {
    let id = c.id.clone();
    let started = (|| -> strata_engine::Result<()> {
        let _l = strata_engine::lock::lock(&e.paths, &id)?;
        let mut c = c.clone();
        start::start_locked(e, &mut c, false)
    })();
    if let Err(err) = started {
        if a.c.rm {
            let _ = strata_engine::container::remove::remove(e, &id, true, true);
        }
        return Err(err.into());
    }
    let dir = e.paths.monitor(&id);
    let stdin = a.c.interactive;
    let mut att = strata_monitor::attach::attach(&dir, stdin).context("attach to the container")?;
    let raw = if a.c.tty && stdin {
        crate::tty::RawMode::enter(0)
    } else {
        None
    };
    if a.c.tty {
        crate::tty::follow_resizes(dir.clone(), None);
    }
    let r = strata_monitor::protocol::call(&dir, &strata_monitor::Request::Start, None)
        .context("start the container")?;
    if !r.ok {
        drop(raw);
        let msg = r.error.unwrap_or_default();
        if a.c.rm {
            let _ = strata_engine::container::remove::remove(e, &id, true, true);
        }
        return Err(start::classify_start_error(&c, msg).into());
    }
    {
        // A container that ended at once may already be gone (its `--rm` done by its
        // monitor's clean-up): nothing left to record then.
        let _l = strata_engine::lock::lock(&e.paths, &id)?;
        match stop::load(e, &id) {
            Ok(mut c) if c.state.status == strata_engine::Status::Created => {
                start::mark_started(e, &mut c)?
            }
            Ok(_) | Err(strata_engine::Error::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    // Signals are blocked before any thread starts, so only the proxy's thread takes them.
    if a.sig_proxy && !a.c.tty {
        proxy_signals(dir.clone());
    }
    if stdin {
        let mut input = att.input()?;
        std::thread::spawn(move || {
            let _ = input.copy_from(&mut std::io::stdin().lock());
        });
    }
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let exit = att.relay(&mut out, &mut err)?;
    drop(raw);
    let (code, oom) = match exit {
        Some(x) => (x.exit_code, x.oom_killed),
        // The monitor went away without a frame: the record on disk tells.
        None => match stop::load(e, &id) {
            Ok(c) => (c.state.exit_code.unwrap_or(255), c.state.oom_killed),
            Err(strata_engine::Error::NotFound(_)) => (255, false),
            Err(err) => return Err(err.into()),
        },
    };
    if oom {
        eprintln!(
            "Error: {}",
            strata_engine::container::status::oom_cause(&c, code)
        );
    }
    if a.c.rm {
        // The monitor's clean-up may have removed it already.
        match strata_engine::container::remove::remove(e, &id, true, true) {
            Ok(_) | Err(strata_engine::Error::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    if std::io::stdout().is_terminal() {
        let _ = std::io::Write::flush(&mut out);
    }
    Ok(code)
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container through
/// its monitor, from a thread of its own (the signals are blocked in every other thread).
pub fn proxy_signals(dir: std::path::PathBuf) {
    let forwarded = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];
    crate::tty::on_signals(&forwarded, move |signal| {
        let kill = strata_monitor::Request::Kill { signal, all: false };
        let _ = strata_monitor::protocol::call(&dir, &kill, None);
    });
}
