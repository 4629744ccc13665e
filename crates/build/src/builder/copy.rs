//! COPY and ADD: the sources (from the build context less what `.dockerignore` excludes, or
//! with `--from` from another stage or an image, resolved inside its root filesystem) are
//! staged on the host in the layout they take in the image, then copied into a container's
//! root filesystem by the engine's confined copy (owned by root, or `--chown`; `--chmod`
//! applied to what is copied) and committed as the step's layer. Docker's rules: a directory
//! source copies its content; a destination ending in `/`, or several sources, is a
//! directory; a relative destination is under WORKDIR.

use super::context::tree_digest;
use super::state::StageState;
use super::{Builder, Error};
use crate::parse::CopyInstr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use strata_engine::container::config::{ContainerConfig, NetworkMode};
use strata_engine::container::{copy as ccopy, create, remove, rootfs, Container};
use strata_engine::spec::image_config::ImageConfig;
use strata_engine::Engine;
use strata_image::snapshotter::Snapshotter;
use strata_image::store::ImageRecord;

/// A staging directory, removed when dropped.
pub(crate) struct Staging(pub PathBuf);

impl Staging {
    /// A new empty one under the engine's run root.
    pub(crate) fn new(e: &Engine) -> Result<Staging, String> {
        let s = Staging(
            e.paths
                .runroot
                .join("build")
                .join(strata_engine::ids::new_id()),
        );
        std::fs::create_dir_all(&s.0).map_err(|err| format!("{}: {err}", s.0.display()))?;
        Ok(s)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A container made (not started) only for its root filesystem, removed when dropped.
pub(crate) struct Scratch<'a> {
    e: &'a Engine,
    c: Container,
}

impl<'a> Scratch<'a> {
    fn new(e: &'a Engine, img: &ImageRecord) -> Result<Scratch<'a>, String> {
        let store = e.store().map_err(|e| e.to_string())?;
        let doc = strata_image::ops::config(&store, img).map_err(|e| e.to_string())?;
        let mut ic = ImageConfig::from_document(&doc);
        ic.volumes.clear(); // no anonymous volumes for a copy
        ic.user.clear();
        let config = ContainerConfig {
            image: img.id.to_string(),
            entrypoint: Some(vec!["/".into()]),
            network: NetworkMode::None,
            labels: [("io.strata.build".to_string(), "copy".to_string())].into(),
            ..Default::default()
        };
        let c = create::create(e, None, config, img, &ic).map_err(|e| e.to_string())?;
        Ok(Scratch { e, c })
    }

    fn mount(&self) -> Result<PathBuf, String> {
        rootfs::mount(self.e, &self.c.id, &self.c.config.image_id).map_err(|e| e.to_string())
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = rootfs::unmount(self.e, &self.c.id);
        let _ = remove::remove(self.e, &self.c.id, true, true);
    }
}

/// Runs a COPY or ADD step (or takes it from the cache).
pub(crate) fn step(
    b: &mut Builder<'_, '_>,
    st: &mut StageState,
    c: &CopyInstr,
    add: bool,
    name: &str,
) -> Result<(), Error> {
    let err = |msg: String| Error::Step {
        step: name.to_string(),
        msg,
    };
    let workdir = st.config["WorkingDir"].as_str().unwrap_or("/").to_string();
    let dest = crate::dockerignore::clean(&if c.dest.starts_with('/') {
        c.dest.clone()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), c.dest)
    });
    let staging = Staging::new(b.e).map_err(err)?;
    let several = c.sources.len() > 1 || c.dest.ends_with('/');
    // `ADD URL dest`: the download is the file (mode 0600, as docker's).
    let (urls, sources): (Vec<&String>, Vec<&String>) = c
        .sources
        .iter()
        .partition(|s| add && (s.starts_with("http://") || s.starts_with("https://")));
    for u in urls {
        let name = u
            .split(['?', '#'])
            .next()
            .and_then(|p| p.rsplit('/').next())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or("download");
        let t = target(&staging.0, &dest, name, false, several);
        if let Some(p) = t.parent() {
            std::fs::create_dir_all(p).map_err(|e| err(e.to_string()))?;
        }
        (b.s.urls)(u, &t).map_err(|e| err(format!("ADD {u}: {e} [layer: build]")))?;
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
    }
    // `COPY <<NAME dest`: the heredoc's text is the file.
    let (docs, files): (Vec<&String>, Vec<&String>) =
        sources.into_iter().partition(|s| s.starts_with("<<"));
    for d in docs {
        let name = d
            .trim_start_matches("<<")
            .trim_start_matches('-')
            .trim_matches(['"', '\'']);
        let h = c
            .heredocs
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| err(format!("{d}: no heredoc of that name")))?;
        let t = target(&staging.0, &dest, name, false, several);
        if let Some(p) = t.parent() {
            std::fs::create_dir_all(p).map_err(|e| err(e.to_string()))?;
        }
        std::fs::write(&t, &h.content).map_err(|e| err(format!("{}: {e}", t.display())))?;
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| err(e.to_string()))?;
    }
    let c = &CopyInstr {
        sources: files.into_iter().cloned().collect(),
        ..c.clone()
    };
    match &c.from {
        _ if c.sources.is_empty() => {}
        None if add => stage_add(b, c, &dest, several, &staging.0).map_err(err)?,
        None => stage_context(b, c, &dest, several, &staging.0).map_err(err)?,
        Some(from) => stage_from(b, from, c, &dest, several, &staging.0).map_err(err)?,
    }
    if let Some(mode) = &c.chmod {
        let m = u32::from_str_radix(mode, 8)
            .map_err(|_| err(format!("--chmod={mode}: an octal mode like 755")))?;
        chmod_tree(&staging.0.join(dest.trim_start_matches('/')), m).map_err(err)?;
    }
    let digest = tree_digest(&staging.0).map_err(err)?;
    let created_by = format!(
        "{} {}{} {dest}",
        if add { "ADD" } else { "COPY" },
        c.chown
            .as_deref()
            .map(|o| format!("--chown={o} "))
            .unwrap_or_default(),
        c.sources.join(" ")
    );
    st.chain(&created_by, &digest);
    if super::cache::reuse(b, st, name).map_err(err)? {
        return Ok(());
    }
    let img = st.image(b.e).map_err(err)?;
    let layer = (|| {
        let s = Scratch::new(b.e, &img)?;
        let root = s.mount()?;
        let owner = match &c.chown {
            Some(spec) => {
                let u =
                    strata_engine::spec::user::resolve(&root, spec).map_err(|e| e.to_string())?;
                ccopy::Owner::Fixed(u.uid, u.gid)
            }
            None => ccopy::Owner::Fixed(0, 0),
        };
        for ent in std::fs::read_dir(&staging.0)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            ccopy::copy_in_as(b.e, &s.c, &ent.path(), "/", owner)
                .map_err(|e| format!("{e} [layer: build]"))?;
        }
        rootfs::unmount(b.e, &s.c.id).map_err(|e| e.to_string())?;
        let store = b.e.store().map_err(|e| e.to_string())?;
        Snapshotter::new(&store)
            .commit_clamped(&s.c.id, b.s.epoch)
            .map_err(|e| format!("commit the layer: {e} [layer: image]"))
    })()
    .map_err(err)?;
    st.push_layer(layer, &created_by);
    b.executed += 1;
    let out = st.image(b.e).map_err(err)?;
    super::cache::record(b, st, &out);
    Ok(())
}

/// The compression of a local tar archive (by its first bytes), `None` if the file is not
/// one ADD extracts (then it is copied as it is, as docker does).
fn archive_kind(path: &Path) -> Option<strata_image::oci::Compression> {
    use std::io::Read;
    use strata_image::oci::Compression;
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    let h = &head[..n];
    if h.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if n >= 262 && &h[257..262] == b"ustar" {
        Some(Compression::None)
    } else {
        None
    }
}

/// ADD from the context: local tar archives (plain, gzip, zstd) are extracted into the
/// destination by the image layer's confined unpacker (a hostile archive stays inside it);
/// other sources are copied as COPY copies them.
fn stage_add(
    b: &Builder<'_, '_>,
    c: &CopyInstr,
    dest: &str,
    several: bool,
    staging: &Path,
) -> Result<(), String> {
    let mut plain = CopyInstr {
        sources: vec![],
        ..c.clone()
    };
    for s in &c.sources {
        for rel in b.s.ctx.sources(s)? {
            let path = b.s.ctx.path(&rel);
            // Only a regular file is read as an archive: a link is copied as a link.
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            match archive_kind(&path).filter(|_| regular) {
                Some(kind) => extract(&path, kind, &staging.join(dest.trim_start_matches('/')))?,
                None => plain.sources.push(rel),
            }
        }
    }
    if plain.sources.is_empty() {
        return Ok(());
    }
    stage_context(b, &plain, dest, several || c.sources.len() > 1, staging)
}

fn extract(
    archive: &Path,
    kind: strata_image::oci::Compression,
    into: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(into).map_err(|e| format!("{}: {e}", into.display()))?;
    let f = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let r = strata_image::unpack::decompress::decoder(std::io::BufReader::new(f), kind)
        .map_err(|e| format!("{}: {e}", archive.display()))?;
    let root = strata_image::fsops::open_trusted_dir(into)
        .map_err(|e| format!("{}: {e}", into.display()))?;
    strata_image::unpack::apply_tar(
        r,
        &root,
        strata_image::unpack::ApplyOptions::new(strata_image::unpack::WhiteoutMode::Flatten, false),
    )
    .map(drop)
    .map_err(|e| format!("ADD {}: {e} [layer: build]", archive.display()))
}

/// Where a source lands in the staging tree.
pub(crate) fn target(
    staging: &Path,
    dest: &str,
    src_name: &str,
    src_is_dir: bool,
    several: bool,
) -> PathBuf {
    let d = staging.join(dest.trim_start_matches('/'));
    if src_is_dir || !(several || dest.ends_with('/')) {
        d
    } else {
        d.join(src_name)
    }
}

fn stage_context(
    b: &Builder<'_, '_>,
    c: &CopyInstr,
    dest: &str,
    several: bool,
    staging: &Path,
) -> Result<(), String> {
    let mut rels = Vec::new();
    for s in &c.sources {
        rels.extend(b.s.ctx.sources(s)?);
    }
    let several = several || rels.len() > 1;
    for rel in rels {
        let is_dir = b.s.ctx.is_dir(&rel);
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        b.s.ctx
            .stage(&rel, &target(staging, dest, name, is_dir, several))?;
    }
    Ok(())
}

/// `--from=<stage|image>`: the sources from that image's root filesystem.
pub(crate) fn stage_from(
    b: &mut Builder<'_, '_>,
    from: &str,
    c: &CopyInstr,
    dest: &str,
    several: bool,
    staging: &Path,
) -> Result<(), String> {
    let img = source_image(b, from)?;
    let s = Scratch::new(b.e, &img)?;
    let root = s.mount()?;
    let root_fd = strata_os::fd::open(&root, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| format!("open {}: {e}", root.display()))?;
    for src in &c.sources {
        let fd = strata_os::Confined::new(std::os::fd::AsFd::as_fd(&root_fd))
            .open(src, libc::O_PATH)
            .map_err(|e| format!("{src} in {from}: {e} [layer: build]"))?;
        let is_dir =
            std::fs::metadata(strata_os::fd::fd_path(std::os::fd::AsRawFd::as_raw_fd(&fd)))
                .is_ok_and(|m| m.is_dir());
        let name = Path::new(src)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into());
        let t = target(staging, dest, &name, is_dir, several);
        let from_path = if is_dir {
            std::fs::create_dir_all(&t).map_err(|e| e.to_string())?;
            format!("{}/.", src.trim_end_matches('/'))
        } else {
            if let Some(p) = t.parent() {
                std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
            }
            src.clone()
        };
        ccopy::copy_out(b.e, &s.c, &from_path, &t).map_err(|e| format!("{e} [layer: build]"))?;
    }
    Ok(())
}

/// The image `--from` names: a stage built before (by name or index), else an image.
fn source_image(b: &mut Builder<'_, '_>, from: &str) -> Result<ImageRecord, String> {
    let by_name =
        b.s.names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(from))
            .map(|(_, i)| *i)
            .or_else(|| from.parse::<usize>().ok());
    if let Some(i) = by_name {
        return b
            .s
            .done
            .get(&i)
            .and_then(|st| st.image.clone())
            .ok_or_else(|| format!("--from={from}: that stage is not built before this one"));
    }
    b.image(from)
        .map_err(|err| format!("--from={from}: no stage of that name; as an image: {err}"))
}

fn chmod_tree(p: &Path, mode: u32) -> Result<(), String> {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return Ok(());
    };
    if m.file_type().is_symlink() {
        return Ok(());
    }
    if m.is_dir() {
        for e in std::fs::read_dir(p).map_err(|e| e.to_string())?.flatten() {
            chmod_tree(&e.path(), mode)?;
        }
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}
