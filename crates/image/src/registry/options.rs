//! Settings of the commands that talk to registries (pull, push, login): the registries
//! file, TLS verification, credentials, the wanted platform and the timeout.

use super::{AuthFile, Credentials, Endpoint, RegistriesConfig, RegistryClient};
use crate::error::Result;
use crate::oci::Platform;
use std::path::PathBuf;

/// Settings shared by commands that talk to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Per-registry settings.
    pub config: RegistriesConfig,
    /// `Some(false)`: no TLS verification (plain http if the registry has no TLS) for every
    /// registry; `Some(true)`: verified https even where the registries file says insecure.
    pub tls_verify: Option<bool>,
    /// Credentials given on the command line (else the auth file's).
    pub creds: Option<Credentials>,
    /// The auth file.
    pub auth_file: PathBuf,
    /// Wanted platform.
    pub platform: Platform,
    /// Longest wait for a registry to answer or to send more data.
    pub timeout: std::time::Duration,
}

impl RegistryOptions {
    /// Defaults: no registries file, TLS verified, the default auth file, the host platform.
    pub fn new() -> Self {
        RegistryOptions {
            config: RegistriesConfig::default(),
            tls_verify: None,
            creds: None,
            auth_file: super::credentials::default_auth_file(),
            platform: Platform::host(),
            timeout: std::time::Duration::from_secs(60),
        }
    }

    /// The endpoint for `host` with its security settings.
    pub fn endpoint(&self, host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            insecure: match self.tls_verify {
                Some(verify) => !verify,
                None => self.config.insecure(host),
            },
        }
    }

    /// Credentials for `host`: the command line's, else the auth file's.
    pub fn credentials(&self, host: &str) -> Result<Option<Credentials>> {
        if let Some(c) = &self.creds {
            return Ok(Some(c.clone()));
        }
        Ok(AuthFile::load(&self.auth_file)?.get(host))
    }

    /// A client for `repo` on `host`.
    pub fn client(
        &self,
        host: &str,
        repo: &str,
        extra_scopes: Vec<String>,
    ) -> Result<RegistryClient> {
        let ep = self.endpoint(host);
        let http = super::client::http_client(ep.insecure, self.timeout)?;
        Ok(RegistryClient::new(
            http,
            &ep,
            repo,
            self.credentials(host)?,
            extra_scopes,
        ))
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self::new()
    }
}
