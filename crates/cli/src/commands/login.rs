//! `login` and `logout`: credentials in the auth file (docker config.json `auths`).

use super::RegistryArgs;
use crate::Global;
use anyhow::{bail, Context, Result};
use std::io::BufRead;
use strata_image::registry::{AuthFile, Credentials};

/// `strata login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Registry host[:port].
    pub registry: String,
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub reg: RegistryArgs,
}

/// `strata logout`.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Registry host[:port].
    pub registry: String,
    /// Auth file (docker config.json format).
    #[arg(long)]
    pub authfile: Option<std::path::PathBuf>,
}

/// Verifies the credentials against the registry, then stores them.
pub async fn login(g: &Global, a: LoginArgs) -> Result<()> {
    let creds = match (&a.username, &a.password, a.password_stdin, &a.reg.creds) {
        (_, _, _, Some(c)) => Credentials::parse(c)?,
        (Some(u), Some(p), false, None) => Credentials {
            username: u.clone(),
            password: p.clone(),
        },
        (Some(u), None, true, None) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Credentials {
                username: u.clone(),
                password: line.trim_end_matches(['\n', '\r']).to_string(),
            }
        }
        _ => bail!(
            "login {}: give --username with --password or --password-stdin",
            a.registry
        ),
    };
    let mut opts = a.reg.options(g)?;
    opts.creds = Some(creds.clone());
    let client = opts.client(&a.registry, "", vec![])?;
    client
        .ping()
        .await
        .with_context(|| format!("login {}", a.registry))?;
    let mut f = AuthFile::load(&opts.auth_file)?;
    f.set(&a.registry, &creds);
    f.save().with_context(|| format!("login {}", a.registry))?;
    println!("Login Succeeded!");
    Ok(())
}

/// Removes stored credentials.
pub fn logout(_g: &Global, a: LogoutArgs) -> Result<()> {
    let path = a
        .authfile
        .unwrap_or_else(strata_image::registry::credentials::default_auth_file);
    let mut f = AuthFile::load(&path)?;
    if !f.remove(&a.registry) {
        bail!("logout {}: not logged in", a.registry);
    }
    f.save()?;
    println!("Removed login credentials for {}", a.registry);
    Ok(())
}
