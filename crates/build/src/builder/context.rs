//! The build context: COPY sources resolved inside it (a `..` or an absolute path cannot
//! leave it; a wildcard in the last component matches names in its directory), copied to a
//! staging tree without what `.dockerignore` excludes (symlinks copied as links, never
//! followed), and the digest of a staged tree (names, modes, link targets, bytes) that keys
//! the step cache.

use crate::dockerignore::{clean, DockerIgnore, Glob};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use strata_image::digest::Digest;

/// A build context.
pub struct Context {
    root: PathBuf,
    ignore: DockerIgnore,
}

impl Context {
    /// The context at `root` with its ignore rules.
    pub fn new(root: &Path, ignore: DockerIgnore) -> Context {
        Context {
            root: root.to_path_buf(),
            ignore,
        }
    }

    /// The context-relative paths a COPY source names (`.` is the whole context).
    pub fn sources(&self, src: &str) -> Result<Vec<String>, String> {
        let rel = clean(src.trim_start_matches('/'));
        if rel == ".." || rel.starts_with("../") {
            return Err(format!("{src}: outside the build context [layer: build]"));
        }
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        let (dir, last) = match rel.rsplit_once('/') {
            Some((d, l)) => (d.to_string(), l.to_string()),
            None => (".".to_string(), rel.clone()),
        };
        if !last.contains(['*', '?', '[']) {
            if fs::symlink_metadata(self.root.join(&rel)).is_err() {
                return Err(format!(
                    "{src}: no such file or directory in the build context [layer: build]"
                ));
            }
            return Ok(vec![rel]);
        }
        let g = Glob::new(&last).map_err(|e| format!("{src}: {e}"))?;
        let mut out: Vec<String> = fs::read_dir(self.root.join(&dir))
            .map_err(|e| format!("{src}: {e} [layer: build]"))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| g.matches(n))
            .map(|n| if dir == "." { n } else { format!("{dir}/{n}") })
            .filter(|p| !self.ignore.is_excluded(p))
            .collect();
        out.sort();
        if out.is_empty() {
            return Err(format!(
                "{src}: no file in the build context matches [layer: build]"
            ));
        }
        Ok(out)
    }

    /// The context-relative path `src` names once its links are followed inside the
    /// context (as if the context were `/`): a `RUN --mount=type=bind` source.
    pub fn resolve(&self, src: &str) -> Result<String, String> {
        let root = strata_os::fd::open(&self.root, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| format!("build context {}: {e}", self.root.display()))?;
        let fd = strata_os::Confined::new(std::os::fd::AsFd::as_fd(&root))
            .open(src, libc::O_PATH)
            .map_err(|e| format!("{src}: {e} in the build context [layer: build]"))?;
        let real = std::fs::read_link(strata_os::fd::fd_path(std::os::fd::AsRawFd::as_raw_fd(&fd)))
            .map_err(|e| format!("{src}: {e}"))?;
        let base = std::fs::canonicalize(&self.root)
            .map_err(|e| format!("{}: {e}", self.root.display()))?;
        let rel = real
            .strip_prefix(&base)
            .map_err(|_| format!("{src}: outside the build context [layer: build]"))?;
        let rel = rel.to_string_lossy().into_owned();
        Ok(if rel.is_empty() { ".".into() } else { rel })
    }

    /// The host path of the context-relative `rel` (from [`Context::sources`]).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether the context-relative `rel` is a directory (not following a final link).
    pub fn is_dir(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.root.join(rel)).is_ok_and(|m| m.is_dir())
    }

    /// Copies `rel` (a directory: its content) to the host path `dst`, less ignored entries.
    pub fn stage(&self, rel: &str, dst: &Path) -> Result<(), String> {
        let src = self.root.join(rel);
        let m = fs::symlink_metadata(&src).map_err(|e| format!("{rel}: {e}"))?;
        if m.is_dir() {
            fs::create_dir_all(dst).map_err(|e| format!("{}: {e}", dst.display()))?;
            for ent in fs::read_dir(&src)
                .map_err(|e| format!("{rel}: {e}"))?
                .flatten()
            {
                let name = ent.file_name();
                let child = if rel == "." {
                    name.to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", name.to_string_lossy())
                };
                let is_dir = ent.file_type().is_ok_and(|t| t.is_dir());
                if self.ignore.is_excluded(&child) && !(is_dir && self.ignore.must_walk(&child)) {
                    continue;
                }
                self.stage(&child, &dst.join(&name))?;
            }
            fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(|e| format!("{}: {e}", dst.display()))?;
            return Ok(());
        }
        if self.ignore.is_excluded(rel) {
            return Ok(());
        }
        if let Some(p) = dst.parent() {
            fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        if m.file_type().is_symlink() {
            let l = fs::read_link(&src).map_err(|e| format!("{rel}: {e}"))?;
            let _ = fs::remove_file(dst);
            return std::os::unix::fs::symlink(l, dst)
                .map_err(|e| format!("{}: {e}", dst.display()));
        }
        if m.is_file() {
            fs::copy(&src, dst).map_err(|e| format!("{rel}: {e}"))?;
            fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(|e| format!("{}: {e}", dst.display()))?;
        }
        Ok(())
    }
}

/// The digest of the tree at `dir` (names, modes, link targets, content), for the cache.
pub fn tree_digest(dir: &Path) -> Result<String, String> {
    let mut h = String::new();
    walk(dir, Path::new(""), &mut h)?;
    Ok(Digest::of(h.as_bytes()).hex().to_string())
}

fn walk(base: &Path, rel: &Path, out: &mut String) -> Result<(), String> {
    let p = base.join(rel);
    let m = fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    out.push_str(&format!("{}\0{:o}\0", rel.display(), m.mode()));
    if m.file_type().is_symlink() {
        let l = fs::read_link(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.push_str(&format!("->{}\n", l.display()));
    } else if m.is_dir() {
        out.push('\n');
        let mut names: Vec<_> = fs::read_dir(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            walk(base, &rel.join(n), out)?;
        }
    } else {
        let mut f = fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        out.push_str(Digest::of(&buf).hex());
        out.push('\n');
    }
    Ok(())
}
