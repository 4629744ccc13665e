//! The cluster network's CNI configuration, as containerd finds it: the first file (by
//! name) in `cni_conf_dir` ending in `.conflist`, `.conf` or `.json` that is a valid
//! configuration. Kubernetes' network add-ons (flannel, calico...) write theirs there; pods
//! then join it instead of the engine's own bridge. The engine keeps it as an imported
//! network named `cni-<its name>`, updated when the file changes.

use serde_json::Value;
use std::path::Path;

/// The engine network name of a cluster network called `name`.
pub fn network_name(name: &str) -> String {
    format!("cni-{name}")
}

/// The first valid configuration in `dir`: its engine network name and its list. `None`
/// when the directory has none (the network is not ready, as kubelet is told).
pub fn find(dir: &Path) -> Result<Option<(String, Value)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cni config {}: {e}", dir.display())),
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("conflist" | "conf" | "json")
            )
        })
        .collect();
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read(&f) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&text) else {
            tracing::warn!("cni config {}: not JSON, skipped", f.display());
            continue;
        };
        match strata_engine::network::manage::as_conflist(v) {
            Ok(list) => {
                let name = list["name"].as_str().unwrap_or_default().to_string();
                return Ok(Some((network_name(&name), list)));
            }
            Err(e) => tracing::warn!("cni config {}: {e}, skipped", f.display()),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_valid_file_by_name_is_the_cluster_network() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find(&d.path().join("absent")).unwrap(), None);
        std::fs::write(d.path().join("05-broken.conflist"), "{").unwrap();
        std::fs::write(d.path().join("07-noplugins.conflist"), r#"{"name":"x"}"#).unwrap();
        std::fs::write(
            d.path().join("20-b.conflist"),
            r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"}]}"#,
        )
        .unwrap();
        std::fs::write(
            d.path().join("10-a.conf"),
            r#"{"cniVersion":"0.4.0","name":"a","type":"bridge"}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("00-readme.txt"), "not a config").unwrap();
        let (name, list) = find(d.path()).unwrap().unwrap();
        assert_eq!(name, "cni-a");
        assert_eq!(
            list["plugins"][0]["type"], "bridge",
            "a .conf is wrapped in a list"
        );
        assert_eq!(list["cniVersion"], "0.4.0");
    }
}
