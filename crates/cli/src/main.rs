//! `strata`: the daemonless, podman-compatible command line of the Strata stack: images,
//! containers and pods, one file per command group under `commands/`. Only the commands
//! that talk to registries start an async runtime; container commands are plain calls into
//! the engine.

mod argv;
mod commands;
mod format;
mod progress;
mod tty;

use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

/// Global options (podman's spelling).
#[derive(Debug, clap::Args, Clone)]
pub struct Global {
    /// Where the image store lives.
    #[arg(
        long,
        global = true,
        env = "STRATA_ROOT",
        default_value = "/var/lib/strata"
    )]
    pub root: PathBuf,
    /// Where run-time state lives (mount points).
    #[arg(
        long,
        global = true,
        env = "STRATA_RUNROOT",
        default_value = "/run/strata"
    )]
    pub runroot: PathBuf,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// Per-registry settings (TOML: default_registry, [[registry]] location/insecure/mirrors).
    #[arg(
        long,
        global = true,
        env = "STRATA_REGISTRIES_CONF",
        default_value = "/etc/strata/registries.toml"
    )]
    pub registries_conf: PathBuf,
}

/// strata: containers, pods and images, daemonless.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: commands::Command,
}

fn main() {
    // A closed pipe (`strata ps | head`) ends the output quietly, as for other Unix tools.
    // SAFETY: resetting one signal's disposition before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse_from(argv::args());
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.global.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match commands::dispatch(&cli.global, cli.cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Error: {}", one_line(&e));
            std::process::exit(exit_status(&e));
        }
    }
}

/// docker's exit status for an error: 125 for the engine's own failures, 126 and 127 for a
/// command that could not be run in the container.
fn exit_status(e: &anyhow::Error) -> i32 {
    e.chain()
        .find_map(|c| c.downcast_ref::<strata_engine::Error>())
        .map_or(125, |x| x.exit_code())
}

/// The error and its causes on one line, without repeating a cause that its parent's
/// message already ends with (the image layer's errors include their sources).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.ends_with(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// An async runtime for the commands that talk to registries.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
