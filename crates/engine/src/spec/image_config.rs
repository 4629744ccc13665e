//! The parts of an image's config (OCI and Docker alike) that shape a container.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `config` of an image config document.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageConfig {
    /// `User` (`name`, `uid`, `uid:gid`...).
    #[serde(rename = "User")]
    pub user: String,
    /// `ExposedPorts` (`"80/tcp": {}`).
    #[serde(rename = "ExposedPorts")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// `Env` (`KEY=value`).
    #[serde(rename = "Env")]
    pub env: Vec<String>,
    /// `Entrypoint`.
    #[serde(rename = "Entrypoint")]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    #[serde(rename = "Cmd")]
    pub cmd: Option<Vec<String>>,
    /// `Volumes` (`"/data": {}`).
    #[serde(rename = "Volumes")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// `WorkingDir`.
    #[serde(rename = "WorkingDir")]
    pub working_dir: String,
    /// `Labels`.
    #[serde(rename = "Labels")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `StopSignal`.
    #[serde(rename = "StopSignal")]
    pub stop_signal: String,
}

impl ImageConfig {
    /// The `config` object of a whole image config document (absent: all defaults).
    pub fn from_document(doc: &serde_json::Value) -> Self {
        doc.get("config")
            .cloned()
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_default()
    }

    /// Exposed ports as (port, protocol).
    pub fn exposed(&self) -> Vec<(u16, String)> {
        self.exposed_ports
            .keys()
            .filter_map(|k| {
                let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                Some((p.parse().ok()?, proto.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_and_oci_configs() {
        let doc = serde_json::json!({"architecture": "amd64", "config": {
            "Env": ["PATH=/bin"], "Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            "StopSignal": "SIGQUIT", "Labels": null}});
        let c = ImageConfig::from_document(&doc);
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.stop_signal, "SIGQUIT");
        let mut e = c.exposed();
        e.sort();
        assert_eq!(e, [(53, "udp".to_string()), (80, "tcp".to_string())]);
        assert_eq!(
            ImageConfig::from_document(&serde_json::json!({})),
            ImageConfig::default()
        );
    }
}
