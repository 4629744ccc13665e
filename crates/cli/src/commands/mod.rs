//! Command groups: one file each.

pub mod image;
pub mod login;

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
    /// Show an image's details as JSON.
    Inspect(image::InspectArgs),
    /// Save images to an OCI layout (dir or tar) or docker-archive.
    Save(image::SaveArgs),
    /// Load images from an OCI layout (dir or tar) or docker-archive.
    Load(image::LoadArgs),
    /// Log in to a registry (stores credentials in the auth file).
    Login(login::LoginArgs),
    /// Log out of a registry.
    Logout(login::LogoutArgs),
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

/// Runs a command.
pub async fn dispatch(g: &Global, cmd: Command) -> Result<()> {
    match cmd {
        Command::Image(c) => image::run(g, c).await,
        Command::Pull(a) => image::pull(g, a).await,
        Command::Push(a) => image::push(g, a).await,
        Command::Images(a) => image::list(g, a),
        Command::Rmi(a) => image::rm(g, a),
        Command::Tag(a) => image::tag(g, a),
        Command::Inspect(a) => image::inspect(g, a),
        Command::Save(a) => image::save(g, a),
        Command::Load(a) => image::load(g, a),
        Command::Login(a) => login::login(g, a).await,
        Command::Logout(a) => login::logout(g, a),
    }
}
