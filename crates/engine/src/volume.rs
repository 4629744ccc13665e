//! Named volumes (`volume create/ls/inspect/rm/prune`): a directory `<root>/volumes/<name>/_data`
//! and a row; anonymous ones (`-v /path`, an image's VOLUME) are named `anon-<id>` and go with
//! their container on `rm -v`. A named volume a container mounts is created on first use.

use crate::container::config::MountKind;
use crate::db::volumes::Volume;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::ids;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a volume's data lives.
pub fn data_dir(e: &Engine, name: &str) -> PathBuf {
    e.paths.volumes().join(name).join("_data")
}

/// Creates a volume (`Ok` with the existing one if it is there already: docker's behaviour).
pub fn create(e: &Engine, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
    let name = match name {
        Some(n) => {
            ids::check_name("volume", n)?;
            n.to_string()
        }
        None => ids::new_id(),
    };
    let v = Volume {
        name: name.clone(),
        created: strata_os::clock::now_nanos(),
        labels,
    };
    let fresh = e.db.insert_volume(&v)?;
    let d = data_dir(e, &name);
    std::fs::create_dir_all(&d).ctx(|| format!("volume {name}: create {}", d.display()))?;
    if fresh {
        let _ = e.db.event("volume", "create", &name, &name, &[]);
        Ok(v)
    } else {
        e.db.volume(&name)?
            .ok_or_else(|| Error::NotFound(format!("no such volume: {name}")))
    }
}

/// The containers that mount a volume.
pub fn users(e: &Engine, name: &str) -> Result<Vec<String>> {
    Ok(e.db
        .containers()?
        .into_iter()
        .filter(|c| {
            c.config
                .mounts
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.source == name)
        })
        .map(|c| c.name)
        .collect())
}

/// A volume as `volume inspect` shows it.
pub fn inspect(e: &Engine, v: &Volume) -> Value {
    json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": data_dir(e, &v.name),
        "CreatedAt": strata_os::clock::rfc3339_nanos(v.created),
        "Labels": v.labels,
        "Scope": "local",
        "Options": {},
    })
}

/// Removes a volume no container uses.
pub fn remove(e: &Engine, name: &str) -> Result<()> {
    let _l = crate::lock::lock(&e.paths, &format!("volume-{name}"))?;
    if e.db.volume(name)?.is_none() {
        return Err(Error::NotFound(format!("no such volume: {name}")));
    }
    let u = users(e, name)?;
    if !u.is_empty() {
        return Err(Error::Conflict(format!(
            "volume {name} is in use by container(s) {}: remove them first",
            u.join(", ")
        )));
    }
    let d = e.paths.volumes().join(name);
    match std::fs::remove_dir_all(&d) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).ctx(|| format!("volume {name}: remove {}", d.display())),
    }
    e.db.delete_volume(name)?;
    let _ = e.db.event("volume", "remove", name, name, &[]);
    Ok(())
}

/// Removes every volume no container uses; returns their names.
pub fn prune(e: &Engine) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in e.db.volumes()? {
        if users(e, &v.name)?.is_empty() {
            remove(e, &v.name)?;
            out.push(v.name);
        }
    }
    Ok(out)
}
