//! `RUN --mount`: what a RUN step sees besides its image, BuildKit's kinds.
//!
//! - `bind` (read-only unless `rw`, whose writes are dropped): a copy of a path of the build
//!   context (resolved inside it: `..` and symlinks cannot leave it) or of a stage's or an
//!   image's root filesystem (resolved inside that root), staged like a COPY source; its
//!   content is part of the step's cache key.
//! - `cache`: a directory kept between builds, named by the digest of its `id` (default: the
//!   target), so no id can name a path outside the build cache (the buildah CVE-2024-9675
//!   class); `sharing=locked` holds a lock on it for the step.
//! - `tmpfs`: an empty tmpfs (`size=`).
//! - `secret`: the file given with `--secret id=ID,src=PATH`, read-only at
//!   `/run/secrets/ID` (or `target=`), or its content as the variable `env=`; never in the
//!   image or the cache key.

use super::context::tree_digest;
use super::copy::{stage_from, Staging};
use super::{Builder, StageState};
use crate::parse::{CopyInstr, Mount, MountType, Sharing};
use std::path::{Path, PathBuf};
use strata_engine::container::config::{MountKind, MountSpec};

/// What a RUN's mounts give its container, and what keeps them alive until it ends.
#[derive(Default)]
pub(crate) struct Prepared {
    /// The container's mounts.
    pub mounts: Vec<MountSpec>,
    /// Variables (secrets with `env=`).
    pub env: Vec<String>,
    /// What the cache key adds (the content of binds).
    pub key: String,
    /// Staged copies, removed after the step.
    pub staged: Vec<Staging>,
    /// Locks of `sharing=locked` caches.
    pub locks: Vec<strata_engine::lock::Lock>,
}

/// Prepares `mounts` for a RUN of stage `st`.
pub(crate) fn prepare(
    b: &mut Builder<'_, '_>,
    st: &StageState,
    mounts: &[Mount],
) -> Result<Prepared, String> {
    let mut p = Prepared::default();
    for m in mounts {
        match m.kind {
            MountType::Bind => bind(b, m, &mut p)?,
            MountType::Cache => cache(b, st, m, &mut p)?,
            MountType::Tmpfs => {
                let target = target(m)?;
                let options = m.size.iter().map(|s| format!("size={s}")).collect();
                p.mounts.push(MountSpec {
                    kind: MountKind::Tmpfs,
                    source: String::new(),
                    target,
                    readonly: false,
                    options,
                });
            }
            MountType::Secret => secret(b, m, &mut p)?,
            MountType::Ssh => {
                return Err(
                    "RUN --mount=type=ssh is not supported by this builder [layer: build]".into(),
                )
            }
        }
    }
    Ok(p)
}

fn target(m: &Mount) -> Result<String, String> {
    let t = m
        .target
        .clone()
        .ok_or_else(|| "a --mount needs target= [layer: build]".to_string())?;
    if !t.starts_with('/') {
        return Err(format!(
            "--mount target {t}: an absolute path [layer: build]"
        ));
    }
    Ok(t)
}

fn bind(b: &mut Builder<'_, '_>, m: &Mount, p: &mut Prepared) -> Result<(), String> {
    let target = target(m)?;
    let source = m.source.clone().unwrap_or_else(|| ".".into());
    let staging = Staging::new(b.e)?;
    let src = match &m.from {
        None => {
            let rel = b.s.ctx.resolve(&source)?;
            let dst = staging.0.join("src");
            b.s.ctx.stage(&rel, &dst)?;
            dst
        }
        Some(from) => {
            let c = CopyInstr {
                sources: vec![source.clone()],
                dest: "/".into(),
                ..Default::default()
            };
            stage_from(b, from, &c, "/", false, &staging.0)?;
            let name = Path::new(&source)
                .file_name()
                .map(|n| staging.0.join(n))
                .filter(|f| f.is_file());
            name.unwrap_or_else(|| staging.0.clone())
        }
    };
    p.key
        .push_str(&format!("bind {target} {}\n", tree_digest(&src)?));
    p.mounts.push(MountSpec {
        kind: MountKind::Bind,
        source: src.display().to_string(),
        target,
        readonly: m.readonly,
        options: vec![],
    });
    p.staged.push(staging);
    Ok(())
}

/// The host directory of cache mount `id`.
pub(crate) fn cache_dir(root: &Path, id: &str) -> PathBuf {
    let name = strata_image::digest::Digest::of(id.as_bytes())
        .hex()
        .to_string();
    root.join("build-cache-mounts").join(name)
}

fn cache(
    b: &mut Builder<'_, '_>,
    _st: &StageState,
    m: &Mount,
    p: &mut Prepared,
) -> Result<(), String> {
    let target = target(m)?;
    let id = m.id.clone().unwrap_or_else(|| target.clone());
    let dir = cache_dir(&b.e.paths.root, &id);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cache {id}: {e}"))?;
        let mode = match &m.mode {
            Some(s) => u32::from_str_radix(s, 8).map_err(|_| format!("cache mode={s}: octal"))?,
            None => 0o755,
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cache {id}: {e}"))?;
        let num = |v: &Option<String>| -> Result<Option<u32>, String> {
            v.as_ref()
                .map(|s| {
                    s.parse()
                        .map_err(|_| format!("cache uid/gid {s}: a number"))
                })
                .transpose()
        };
        std::os::unix::fs::chown(&dir, num(&m.uid)?, num(&m.gid)?)
            .map_err(|e| format!("cache {id}: {e}"))?;
    }
    let dir = if m.sharing == Sharing::Private {
        // `private`: this step's own cache when another build holds the shared one.
        let name = format!(
            "build-cache-{}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        match strata_engine::lock::try_lock(&b.e.paths, &name) {
            Ok(Some(l)) => {
                p.locks.push(l);
                dir
            }
            _ => {
                let s = Staging::new(b.e)?;
                let d = s.0.clone();
                p.staged.push(s);
                d
            }
        }
    } else {
        dir
    };
    if m.sharing == Sharing::Locked {
        let name = format!(
            "build-cache-{}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        p.locks.push(
            strata_engine::lock::lock(&b.e.paths, &name).map_err(|e| format!("cache {id}: {e}"))?,
        );
    }
    p.mounts.push(MountSpec {
        kind: MountKind::Bind,
        source: dir.display().to_string(),
        target,
        readonly: m.readonly && m.source.is_some(),
        options: vec![],
    });
    Ok(())
}

fn secret(b: &mut Builder<'_, '_>, m: &Mount, p: &mut Prepared) -> Result<(), String> {
    let id =
        m.id.clone()
            .or_else(|| {
                m.target
                    .as_ref()
                    .and_then(|t| Path::new(t).file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .ok_or_else(|| "a secret mount needs id= [layer: build]".to_string())?;
    let Some(file) = b.s.secrets.get(&id).cloned() else {
        if m.required {
            return Err(format!(
                "secret {id} is required: pass it with --secret id={id},src=FILE"
            ));
        }
        return Ok(());
    };
    if let Some(var) = &m.env {
        let v = std::fs::read_to_string(&file)
            .map_err(|e| format!("secret {id}: {}: {e}", file.display()))?;
        p.env.push(format!("{var}={}", v.trim_end_matches('\n')));
        if m.target.is_none() {
            return Ok(());
        }
    }
    if !file.is_file() {
        return Err(format!("secret {id}: {}: not a file", file.display()));
    }
    p.mounts.push(MountSpec {
        kind: MountKind::Bind,
        source: file.display().to_string(),
        target: m
            .target
            .clone()
            .unwrap_or_else(|| format!("/run/secrets/{id}")),
        readonly: true,
        options: vec![],
    });
    Ok(())
}
