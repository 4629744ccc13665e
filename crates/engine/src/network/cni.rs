//! The CNI plugins, invoked as the CNI spec says: each plugin of a configuration list is
//! executed with `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS` and
//! `CNI_PATH` in its environment and its configuration on stdin (the list's `name` and
//! `cniVersion`, the previous plugin's result as `prevResult`, and `runtimeConfig` for the
//! capabilities it declares); ADD runs the list in order, DEL in reverse order with the
//! cached ADD result as every plugin's `prevResult`.
//!
//! Plugins are separate binaries (Go, each exec costs milliseconds), so one that would do
//! nothing is not run: `portmap` without port mappings returns its `prevResult` unchanged
//! at ADD and does nothing at DEL (containernetworking/plugins' portmap `cmdAdd`/`cmdDel`).

use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// Where the plugins are looked for: Debian's package, then the upstream location.
pub const PLUGIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// What one invocation of a list is about.
#[derive(Clone, Debug)]
pub struct Invocation<'a> {
    /// The container's id (`CNI_CONTAINERID`).
    pub container_id: &'a str,
    /// Its network namespace's path (`CNI_NETNS`).
    pub netns: &'a str,
    /// The interface in it (`CNI_IFNAME`).
    pub ifname: &'a str,
    /// `runtimeConfig` values by capability name (`portMappings`).
    pub capabilities: &'a Map<String, Value>,
}

/// `CNI_PATH`: `$STRATA_CNI_PATH`, else the plugin directories that exist.
pub fn cni_path() -> String {
    if let Ok(p) = std::env::var("STRATA_CNI_PATH") {
        return p;
    }
    PLUGIN_DIRS
        .iter()
        .filter(|d| std::path::Path::new(d).is_dir())
        .copied()
        .collect::<Vec<_>>()
        .join(":")
}

/// A plugin's binary on `CNI_PATH`.
fn find(kind: &str, path: &str) -> Result<PathBuf> {
    if kind.is_empty() || kind.contains('/') {
        return Err(Error::Network(format!(
            "cni: invalid plugin type {kind:?} [layer: node]"
        )));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Network(format!(
                "cni: plugin {kind} not found in {path} (install containernetworking-plugins) [layer: node]"
            ))
        })
}

/// Runs one plugin; its result (ADD), or `Value::Null` (DEL).
fn exec(command: &str, kind: &str, conf: &Value, inv: &Invocation<'_>) -> Result<Value> {
    let path = cni_path();
    let bin = find(kind, &path)?;
    let fail = |msg: String| {
        Error::Network(format!(
            "cni: {kind} {} of container {}: {msg} [layer: node]",
            command.to_ascii_lowercase(),
            crate::ids::short(inv.container_id)
        ))
    };
    let input = serde_json::to_vec(conf).expect("plugin config serializes");
    let stdin = stdin_of(&input).map_err(|err| fail(format!("its configuration: {err}")))?;
    let out = Command::new(&bin)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", "IgnoreUnknown=1")
        .env("CNI_PATH", &path)
        .stdin(stdin)
        .output()
        .map_err(|err| fail(format!("run {}: {err}", bin.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The spec's error: {"code", "msg", "details"} on stdout.
        let v: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        let mut msg = v["msg"].as_str().unwrap_or("").to_string();
        if let Some(d) = v["details"].as_str().filter(|d| !d.is_empty()) {
            msg = format!("{msg}: {d}");
        }
        if msg.is_empty() {
            msg = format!(
                "{} {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        return Err(fail(msg.replace('\n', " ")));
    }
    if command == "DEL" {
        return Ok(Value::Null);
    }
    serde_json::from_str(&stdout).map_err(|err| fail(format!("its result does not parse: {err}")))
}

/// A program's stdin holding `bytes`: an anonymous file, not a pipe, so a program that
/// exits without reading it cannot cost the caller a SIGPIPE (the CLI dies of SIGPIPE, as
/// a command line should when its output is closed).
pub(crate) fn stdin_of(bytes: &[u8]) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let fd = strata_os::owned(
        // SAFETY: memfd_create with a NUL-terminated name; the new descriptor is owned below.
        unsafe { libc::memfd_create(c"strata-stdin".as_ptr(), libc::MFD_CLOEXEC) },
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes)?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// Whether running `plugin` would change nothing (see the module's doc).
fn idle(plugin: &Value, inv: &Invocation<'_>) -> bool {
    plugin["type"] == "portmap"
        && inv
            .capabilities
            .get("portMappings")
            .and_then(|v| v.as_array())
            .is_none_or(|a| a.is_empty())
}

/// One plugin's configuration: the plugin's own object with the list's name and version,
/// `prevResult`, and `runtimeConfig` for the capabilities it declares.
fn plugin_config(
    list: &Value,
    plugin: &Value,
    prev: Option<&Value>,
    inv: &Invocation<'_>,
) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    let mut rt = Map::new();
    if let Some(caps) = plugin["capabilities"].as_object() {
        for (k, on) in caps {
            if on == &json!(true) {
                if let Some(v) = inv.capabilities.get(k) {
                    rt.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if !rt.is_empty() {
        conf["runtimeConfig"] = Value::Object(rt);
    }
    conf
}

fn plugins(list: &Value) -> Result<&Vec<Value>> {
    list["plugins"].as_array().ok_or_else(|| {
        Error::Network(format!(
            "cni: network {}: the configuration list has no plugins [layer: node]",
            list["name"].as_str().unwrap_or("?")
        ))
    })
}

/// ADD of the list: its final result. On failure nothing is undone here (the caller runs
/// [`del`], which every plugin tolerates for what it did not make).
pub fn add(list: &Value, inv: &Invocation<'_>) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for p in plugins(list)? {
        if idle(p, inv) {
            continue;
        }
        let kind = p["type"].as_str().unwrap_or_default();
        let conf = plugin_config(list, p, prev.as_ref(), inv);
        prev = Some(exec("ADD", kind, &conf, inv)?);
    }
    prev.ok_or_else(|| {
        Error::Network(format!(
            "cni: network {}: no plugin gave a result [layer: node]",
            list["name"].as_str().unwrap_or("?")
        ))
    })
}

/// DEL of the list, in reverse order, each plugin given `cached` (the ADD's result) as its
/// `prevResult`. Every plugin runs even if one fails; the first failure is returned.
pub fn del(list: &Value, cached: Option<&Value>, inv: &Invocation<'_>) -> Result<()> {
    let mut first = None;
    for p in plugins(list)?.iter().rev() {
        if idle(p, inv) {
            continue;
        }
        let kind = p["type"].as_str().unwrap_or_default();
        let conf = plugin_config(list, p, cached, inv);
        if let Err(err) = exec("DEL", kind, &conf, inv) {
            first.get_or_insert(err);
        }
    }
    first.map_or(Ok(()), Err)
}

/// What a container got, read from a CNI result: its address with prefix, the gateway and
/// the MAC of its interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    /// `10.89.0.5/24`.
    pub ip: Option<String>,
    /// `10.89.0.1`.
    pub gateway: Option<String>,
    /// The container interface's MAC.
    pub mac: Option<String>,
}

/// Reads the first IPv4 address of a (1.0.0) result.
pub fn attachment(result: &Value) -> Attachment {
    let ip = result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["address"].as_str().is_some_and(|a| !a.contains(':')));
    let Some(ip) = ip else {
        return Attachment::default();
    };
    let mac = ip["interface"]
        .as_u64()
        .and_then(|n| result["interfaces"].get(n as usize))
        .and_then(|i| i["mac"].as_str())
        .map(str::to_string);
    Attachment {
        ip: ip["address"].as_str().map(str::to_string),
        gateway: ip["gateway"].as_str().map(str::to_string),
        mac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv<'a>(caps: &'a Map<String, Value>) -> Invocation<'a> {
        Invocation {
            container_id: "abc",
            netns: "/run/netns/x",
            ifname: "eth0",
            capabilities: caps,
        }
    }

    #[test]
    fn plugin_config_carries_name_version_prev_and_runtime_config() {
        let list = json!({"cniVersion": "1.0.0", "name": "n1", "plugins": []});
        let pm = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        let mut caps = Map::new();
        caps.insert("portMappings".into(), json!([{"hostPort": 8080}]));
        caps.insert("bandwidth".into(), json!({}));
        let c = plugin_config(&list, &pm, Some(&json!({"ips": []})), &inv(&caps));
        assert_eq!(c["name"], "n1");
        assert_eq!(c["cniVersion"], "1.0.0");
        assert_eq!(c["prevResult"], json!({"ips": []}));
        assert_eq!(
            c["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 8080}]})
        );
        let br = plugin_config(&list, &json!({"type": "bridge"}), None, &inv(&caps));
        assert!(br.get("runtimeConfig").is_none() && br.get("prevResult").is_none());
    }

    #[test]
    fn portmap_without_mappings_is_not_run() {
        let none = Map::new();
        assert!(idle(&json!({"type": "portmap"}), &inv(&none)));
        let mut caps = Map::new();
        caps.insert("portMappings".into(), json!([{"hostPort": 1}]));
        assert!(!idle(&json!({"type": "portmap"}), &inv(&caps)));
        assert!(!idle(&json!({"type": "bridge"}), &inv(&none)));
    }

    #[test]
    fn attachment_from_a_bridge_result() {
        let r = json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "strata0", "mac": "aa"}, {"name": "veth1", "mac": "bb"},
                           {"name": "eth0", "mac": "6a:fa:ac:64:2b:7f", "sandbox": "/x"}],
            "ips": [{"interface": 2, "address": "10.99.7.2/24", "gateway": "10.99.7.1"}]});
        let a = attachment(&r);
        assert_eq!(a.ip.as_deref(), Some("10.99.7.2/24"));
        assert_eq!(a.gateway.as_deref(), Some("10.99.7.1"));
        assert_eq!(a.mac.as_deref(), Some("6a:fa:ac:64:2b:7f"));
        assert_eq!(attachment(&json!({})), Attachment::default());
    }

    #[test]
    fn stdin_is_a_file_read_from_its_start() {
        let big = vec![b'x'; 1 << 20];
        let out = Command::new("wc")
            .arg("-c")
            .stdin(stdin_of(&big).unwrap())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
        // A program that does not read it: nothing is written to a pipe, so no SIGPIPE.
        let st = Command::new("true")
            .stdin(stdin_of(&big).unwrap())
            .status()
            .unwrap();
        assert!(st.success());
    }

    #[test]
    fn a_missing_plugin_is_named() {
        let e = find("no-such-plugin", "/nonexistent").unwrap_err();
        assert!(
            e.to_string().contains("plugin no-such-plugin not found"),
            "{e}"
        );
        assert!(find("../bridge", "/usr/lib/cni").is_err());
    }
}
