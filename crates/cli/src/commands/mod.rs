//! Command groups: one file each.

pub mod build;
pub mod container;
pub mod cri;
pub mod events;
pub mod image;
pub mod import;
pub mod login;
pub mod network;
pub mod pod;
pub mod service;
pub mod system;
pub mod volume;

use crate::Global;
use anyhow::{Context, Result};
use std::sync::Arc;
use strata_image::registry::RegistryOptions;
use strata_image::registry::{Credentials, RegistriesConfig};
use strata_image::store::Store;

/// Every subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage images (pull, push, ls, rm, tag, inspect, save, load, prune, mount, unmount).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Pull an image from a registry.
    Pull(image::PullArgs),
    /// Push an image to a registry.
    Push(image::PushArgs),
    /// List images.
    Images(image::ListArgs),
    /// Remove images.
    Rmi(image::RmArgs),
    /// Add a name to an image.
    Tag(image::TagArgs),
    /// Show containers' or images' details as JSON (or a template).
    Inspect(container::lifecycle::InspectArgs),
    /// Save images to an OCI layout (dir or tar) or docker-archive.
    Save(image::SaveArgs),
    /// Load images from an OCI layout (dir or tar) or docker-archive.
    Load(image::LoadArgs),
    /// Log in to a registry (stores credentials in the auth file).
    Login(login::LoginArgs),
    /// Log out of a registry.
    Logout(login::LogoutArgs),
    /// Manage networks (create, ls, rm, inspect, exists).
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// List a container's published ports.
    Port(network::PortArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Run a command in a new container.
    Run(container::run::RunArgs),
    /// Create a container without starting it.
    Create(container::run::CreateOnly),
    /// Start one or more containers.
    Start(container::lifecycle::StartArgs),
    /// Stop one or more containers.
    Stop(container::lifecycle::StopArgs),
    /// Send a signal to one or more containers.
    Kill(container::lifecycle::KillArgs),
    /// Restart one or more containers.
    Restart(container::lifecycle::StopArgs),
    /// Remove one or more containers.
    Rm(container::lifecycle::RmArgs),
    /// List containers.
    Ps(container::ps::PsArgs),
    /// Show a container's logs.
    Logs(container::logs::LogsArgs),
    /// Run a command in a running container.
    Exec(container::exec::ExecArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(container::lifecycle::WaitArgs),
    /// Pause the processes of containers.
    Pause(container::lifecycle::NamesArgs),
    /// Unpause the processes of containers.
    Unpause(container::lifecycle::NamesArgs),
    /// Rename a container.
    Rename(container::lifecycle::RenameArgs),
    /// Show a container's stack by layer: app, container, pod, node, VM, hypervisor.
    Describe(container::describe::DescribeArgs),
    /// Show events (create, start, die, oom, kill, stop, remove...).
    Events(events::EventsArgs),
    /// Show a container's processes.
    Top(container::tools::TopArgs),
    /// Show containers' resource usage.
    Stats(container::tools::StatsArgs),
    /// Copy files between a container and the host.
    Cp(container::tools::CpArgs),
    /// Write a container's filesystem as a tar.
    Export(container::tools::ExportArgs),
    /// Attach to a running container's output (and input).
    Attach(container::tools::AttachArgs),
    /// Make a one-layer image from a root filesystem tarball (as `export` writes it).
    Import(import::ImportArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage pods (containers sharing namespaces held by an infra process).
    #[command(subcommand)]
    Pod(pod::PodCommand),
    /// Host and engine information, disk usage, pruning.
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Build an image from a Dockerfile or Containerfile.
    Build(build::BuildArgs),
    /// Manage the build step cache.
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Serve the Kubernetes CRI on a unix socket (for kubelet and crictl).
    Cri(cri::CriArgs),
    /// Print a shell completion script (bash, zsh, fish): `source <(strata completion bash)`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Show the host and the engine (system info).
    Info {
        /// Output: json, or a template like {{.Host.Kernel}}.
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
}

/// Options of commands that talk to a registry.
#[derive(Debug, clap::Args, Clone)]
pub struct RegistryArgs {
    /// Verify the registry's TLS certificate (`--tls-verify=false`: https without
    /// verification, or plain http when the registry does not speak TLS).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tls_verify: Option<bool>,
    /// Credentials `user:password` for this command.
    #[arg(long)]
    pub creds: Option<String>,
    /// Auth file (docker config.json format); default $REGISTRY_AUTH_FILE or podman's.
    #[arg(long)]
    pub authfile: Option<std::path::PathBuf>,
}

impl RegistryArgs {
    /// Builds the library's registry options.
    pub fn options(&self, g: &Global) -> Result<RegistryOptions> {
        let mut o = RegistryOptions::new();
        o.config = RegistriesConfig::load(&g.registries_conf)?;
        o.tls_verify = self.tls_verify;
        if let Some(c) = &self.creds {
            o.creds = Some(Credentials::parse(c)?);
        }
        if let Some(a) = &self.authfile {
            o.auth_file = a.clone();
        }
        Ok(o)
    }
}

/// Opens the store named by the global options.
pub fn open_store(g: &Global) -> Result<Arc<Store>> {
    Ok(Arc::new(Store::open(&g.root, &g.runroot).with_context(
        || format!("open store {}", g.root.display()),
    )?))
}

/// The default registry for short names.
pub fn default_registry(g: &Global) -> Result<String> {
    Ok(RegistriesConfig::load(&g.registries_conf)?.default_registry)
}

/// Runs a command; returns the process's exit status.
pub fn dispatch(g: &Global, cmd: Command) -> Result<i32> {
    use container::ContainerCommand as C;
    let ok = |r: Result<()>| r.map(|_| 0);
    match cmd {
        Command::Image(c) => ok(crate::runtime()?.block_on(image::run(g, c))),
        Command::Pull(a) => ok(crate::runtime()?.block_on(image::pull(g, a))),
        Command::Push(a) => ok(crate::runtime()?.block_on(image::push(g, a))),
        Command::Images(a) => ok(image::list(g, a)),
        Command::Rmi(a) => ok(image::rm(g, a)),
        Command::Tag(a) => ok(image::tag(g, a)),
        Command::Save(a) => ok(image::save(g, a)),
        Command::Load(a) => ok(image::load(g, a)),
        Command::Login(a) => ok(crate::runtime()?.block_on(login::login(g, a))),
        Command::Logout(a) => ok(login::logout(g, a)),
        Command::Network(c) => network::dispatch(g, c),
        Command::Port(a) => network::port(g, a),
        Command::Container(c) => container::dispatch(g, c),
        Command::Inspect(a) => container::dispatch(g, C::Inspect(a)),
        Command::Run(a) => container::dispatch(g, C::Run(a)),
        Command::Create(a) => container::dispatch(g, C::Create(a)),
        Command::Start(a) => container::dispatch(g, C::Start(a)),
        Command::Stop(a) => container::dispatch(g, C::Stop(a)),
        Command::Kill(a) => container::dispatch(g, C::Kill(a)),
        Command::Restart(a) => container::dispatch(g, C::Restart(a)),
        Command::Rm(a) => container::dispatch(g, C::Rm(a)),
        Command::Ps(a) => container::dispatch(g, C::Ps(a)),
        Command::Logs(a) => container::dispatch(g, C::Logs(a)),
        Command::Exec(a) => container::dispatch(g, C::Exec(a)),
        Command::Wait(a) => container::dispatch(g, C::Wait(a)),
        Command::Pause(a) => container::dispatch(g, C::Pause(a)),
        Command::Unpause(a) => container::dispatch(g, C::Unpause(a)),
        Command::Rename(a) => container::dispatch(g, C::Rename(a)),
        Command::Describe(a) => container::dispatch(g, C::Describe(a)),
        Command::Events(a) => events::events(g, a),
        Command::Top(a) => container::dispatch(g, C::Top(a)),
        Command::Stats(a) => container::dispatch(g, C::Stats(a)),
        Command::Cp(a) => container::dispatch(g, C::Cp(a)),
        Command::Export(a) => container::dispatch(g, C::Export(a)),
        Command::Attach(a) => container::dispatch(g, C::Attach(a)),
        Command::Import(a) => import::import(g, a),
        Command::Volume(c) => volume::run(g, c),
        Command::Pod(c) => pod::run(g, c),
        Command::System(c) => system::run(g, c),
        Command::Cri(a) => cri::serve(g, a),
        Command::Build(a) => build::build(g, a),
        Command::Builder(c) => build::builder_cmd(g, c),
        Command::Completion { shell } => {
            let mut cmd = <crate::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "strata", &mut std::io::stdout());
            Ok(0)
        }
        Command::Info { format } => system::run(g, system::SystemCommand::Info { format }),
    }
}
