//! Container commands: podman's verbs (run, create, start, stop, kill, rm, ps, logs, exec,
//! inspect, wait, ...), each in its own file, on the engine.

pub mod args;
pub mod describe;
pub mod exec;
pub mod lifecycle;
pub mod logs;
pub mod ps;
pub mod run;
pub mod tools;

use crate::Global;
use anyhow::{Context, Result};
use std::path::PathBuf;
use strata_engine::{Engine, EngineOptions};

/// A binary shipped beside `strata` (`strata-monitor`, `strata-runc`), or named by its
/// environment variable (`STRATA_MONITOR`, `STRATA_RUNC`).
pub fn sibling(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    let me = std::env::current_exe().unwrap_or_default();
    let beside = me.with_file_name(name);
    if beside.exists() {
        return beside;
    }
    PathBuf::from(name)
}

/// Opens the engine for the global options.
pub fn open_engine(g: &Global) -> Result<Engine> {
    let me = std::env::current_exe().context("the strata binary's path")?;
    let exit_command = vec![
        me.into_os_string(),
        "--root".into(),
        g.root.clone().into_os_string(),
        "--runroot".into(),
        g.runroot.clone().into_os_string(),
        "container".into(),
        "cleanup".into(),
    ];
    Ok(Engine::open(EngineOptions {
        root: g.root.clone(),
        runroot: g.runroot.clone(),
        monitor: sibling("strata-monitor", "STRATA_MONITOR"),
        exit_command,
        default_registry: super::default_registry(g)?,
    })?)
}

/// `strata container <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// Run a command in a new container.
    Run(run::RunArgs),
    /// Create a container without starting it.
    Create(run::CreateOnly),
    /// Start one or more containers.
    Start(lifecycle::StartArgs),
    /// Stop one or more containers (stop signal, then SIGKILL after the timeout).
    Stop(lifecycle::StopArgs),
    /// Send a signal to one or more containers.
    Kill(lifecycle::KillArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Remove one or more containers.
    Rm(lifecycle::RmArgs),
    /// List containers.
    #[command(alias = "ls", alias = "list")]
    Ps(ps::PsArgs),
    /// Show a container's logs.
    Logs(logs::LogsArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(lifecycle::WaitArgs),
    /// Show containers' details as JSON.
    Inspect(lifecycle::InspectArgs),
    /// Pause the processes of containers.
    Pause(lifecycle::NamesArgs),
    /// Unpause the processes of containers.
    Unpause(lifecycle::NamesArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Show a container's stack by layer: app, container, pod, node, VM, hypervisor.
    Describe(describe::DescribeArgs),
    /// Show a container's processes.
    Top(tools::TopArgs),
    /// Show containers' resource usage.
    Stats(tools::StatsArgs),
    /// Copy files between a container and the host.
    Cp(tools::CpArgs),
    /// Write a container's filesystem as a tar.
    Export(tools::ExportArgs),
    /// Attach to a running container's output (and input).
    Attach(tools::AttachArgs),
    /// After a container exited (run by its monitor): clean up, restart or remove it.
    #[command(hide = true)]
    Cleanup(lifecycle::CleanupArgs),
}

/// Runs `strata container <command>`; returns the exit status.
pub fn dispatch(g: &Global, c: ContainerCommand) -> Result<i32> {
    match c {
        ContainerCommand::Run(a) => run::run(g, a),
        ContainerCommand::Create(a) => run::create(g, a),
        ContainerCommand::Start(a) => lifecycle::start(g, a),
        ContainerCommand::Stop(a) => lifecycle::stop(g, a),
        ContainerCommand::Kill(a) => lifecycle::kill(g, a),
        ContainerCommand::Restart(a) => lifecycle::restart(g, a),
        ContainerCommand::Rm(a) => lifecycle::rm(g, a),
        ContainerCommand::Ps(a) => ps::ps(g, a),
        ContainerCommand::Logs(a) => logs::logs(g, a),
        ContainerCommand::Exec(a) => exec::exec(g, a),
        ContainerCommand::Wait(a) => lifecycle::wait(g, a),
        ContainerCommand::Inspect(a) => lifecycle::inspect(g, a),
        ContainerCommand::Pause(a) => lifecycle::pause(g, a, true),
        ContainerCommand::Unpause(a) => lifecycle::pause(g, a, false),
        ContainerCommand::Rename(a) => lifecycle::rename(g, a),
        ContainerCommand::Describe(a) => describe::describe(g, a),
        ContainerCommand::Top(a) => tools::top(g, a),
        ContainerCommand::Stats(a) => tools::stats(g, a),
        ContainerCommand::Cp(a) => tools::cp(g, a),
        ContainerCommand::Export(a) => tools::export(g, a),
        ContainerCommand::Attach(a) => tools::attach(g, a),
        ContainerCommand::Cleanup(a) => lifecycle::cleanup(g, a),
    }
}
