//! Per-registry settings from a TOML file (`registries.toml`):
//!
//! ```toml
//! default_registry = "docker.io"      # for short names
//! [[registry]]
//! location = "127.0.0.1:5000"
//! insecure = true                     # no TLS verification, plain http if no TLS
//! mirrors = ["127.0.0.1:5002"]        # tried in order before the location
//! ```

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// One registry's settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryEntry {
    /// host\[:port\].
    pub location: String,
    /// Do not verify TLS certificates, and fall back to plain http when the registry
    /// does not speak TLS (as `--tls-verify=false`).
    #[serde(default)]
    pub insecure: bool,
    /// Mirrors tried first, in order.
    #[serde(default)]
    pub mirrors: Vec<String>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistriesConfig {
    /// Registry for short names.
    #[serde(default = "default_registry")]
    pub default_registry: String,
    /// Per-registry entries.
    #[serde(default, rename = "registry")]
    pub registries: Vec<RegistryEntry>,
}

fn default_registry() -> String {
    "docker.io".into()
}

impl Default for RegistriesConfig {
    fn default() -> Self {
        RegistriesConfig {
            default_registry: default_registry(),
            registries: Vec::new(),
        }
    }
}

impl RegistriesConfig {
    /// Loads the file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(s) => Self::parse(&s).map_err(|e| e.context(path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
        }
    }

    /// Parses TOML text.
    pub fn parse(s: &str) -> Result<Self> {
        toml::from_str(s).map_err(|e| Error::invalid("registries config", e.message().to_string()))
    }

    /// The entry for a host, if any.
    pub fn entry(&self, host: &str) -> Option<&RegistryEntry> {
        self.registries.iter().find(|r| r.location == host)
    }

    /// Whether a host is insecure (no TLS verification, plain http allowed).
    pub fn insecure(&self, host: &str) -> bool {
        self.entry(host).is_some_and(|r| r.insecure)
    }

    /// Hosts to try for `host`: its mirrors, then itself.
    pub fn endpoints(&self, host: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .entry(host)
            .map(|r| r.mirrors.clone())
            .unwrap_or_default();
        v.push(host.to_string());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file() {
        let c = RegistriesConfig::parse(
            r#"default_registry = "127.0.0.1:5000"
[[registry]]
location = "127.0.0.1:5000"
insecure = true
mirrors = ["127.0.0.1:5002"]
"#,
        )
        .unwrap();
        assert_eq!(c.default_registry, "127.0.0.1:5000");
        assert!(c.insecure("127.0.0.1:5000"));
        assert!(!c.insecure("quay.io"));
        assert_eq!(
            c.endpoints("127.0.0.1:5000"),
            vec!["127.0.0.1:5002", "127.0.0.1:5000"]
        );
        assert_eq!(c.endpoints("quay.io"), vec!["quay.io"]);
        assert!(RegistriesConfig::parse("registry = 3").is_err());
    }
}
