//! `docker cp`: `GET /containers/{id}/archive?path=P` (a tar of P, with P's stat in the
//! `X-Docker-Container-Path-Stat` header), `HEAD` (the header alone) and `PUT` (a tar
//! extracted into the directory P). The container's paths are resolved by the engine's
//! confined resolver (its `cp`): a symlink or `..` inside the container never leads out of
//! its root. An uploaded archive is unpacked into a private temporary directory first,
//! refusing any entry that climbs out of it, then copied in by the engine.

use super::{load, named};
use crate::body::{empty, file, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use crate::upload::spool;
use base64::Engine as _;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use std::path::{Component, Path};
use std::sync::Arc;
use strata_engine::container::copy::{self, PathStat};

/// The header docker puts P's stat in.
pub const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_of(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("archive: path is required [layer: api]"))
}

/// Go's `os.FileMode` bits (what the docker CLI reads) of a Unix `st_mode`.
pub fn go_mode(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    if mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m | match mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFBLK => 1 << 26,
        _ => 0,
    }
}

/// The last component of `path` (`/` for the root).
fn base_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into())
}

/// The stat header's value: base64 of docker's JSON.
fn stat_header(path: &str, s: &PathStat) -> String {
    let doc = serde_json::json!({
        "name": base_name(path),
        "size": s.size,
        "mode": go_mode(s.mode),
        "mtime": strata_os::clock::rfc3339_nanos(s.mtime.saturating_mul(1_000_000_000)),
        "linkTarget": "",
    });
    base64::engine::general_purpose::STANDARD.encode(doc.to_string())
}

fn stat_blocking(
    e: &strata_engine::Engine,
    key: &str,
    path: &str,
) -> Result<(strata_engine::Container, PathStat), ApiError> {
    let c = load(e, key)?;
    let s = copy::stat(e, &c, path).map_err(|err| match err {
        strata_engine::Error::NotFound(_) => ApiError::not_found(format!(
            "Could not find the file {path} in container {} [layer: engine]",
            c.name
        )),
        err => named(key, err),
    })?;
    Ok((c, s))
}

/// `HEAD /containers/{id}/archive?path=P`.
pub async fn head(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let path = path_of(q)?;
    let key = key.to_string();
    let p = path.clone();
    let (_, s) = api.blocking(move |e| stat_blocking(e, &key, &p)).await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(STAT_HEADER, stat_header(&path, &s))
        .body(crate::body::full(""))
        .expect("static headers"))
}

/// `GET /containers/{id}/archive?path=P`: P (a file or a tree) as a tar whose one top entry
/// is P's last component.
pub async fn get(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let path = path_of(q)?;
    let key = key.to_string();
    let p = path.clone();
    let (s, tar) = api
        .blocking(move |e| {
            let (c, s) = stat_blocking(e, &key, &p)?;
            let tmp = tempfile::Builder::new()
                .prefix("strata-api-cp")
                .tempdir()
                .map_err(|err| ApiError::internal(format!("archive: {err} [layer: api]")))?;
            let src = p.trim_end_matches("/.");
            let src = if src.is_empty() { "/" } else { src };
            copy::copy_out(e, &c, src, tmp.path()).map_err(|err| named(&key, err))?;
            let name = Path::new(src)
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "root".into());
            let out = tempfile::tempfile()
                .map_err(|err| ApiError::internal(format!("archive: {err} [layer: api]")))?;
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            let copied = tmp.path().join(&name);
            let res = if copied.is_dir() {
                b.append_dir_all(&name, &copied)
            } else {
                b.append_path_with_name(&copied, &name)
            };
            let tar_err = |err: std::io::Error| {
                ApiError::internal(format!("archive {p}: tar: {err} [layer: api]"))
            };
            res.map_err(tar_err)?;
            let mut out = b.into_inner().map_err(tar_err)?;
            std::io::Seek::rewind(&mut out).map_err(tar_err)?;
            Ok((s, out))
        })
        .await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(STAT_HEADER, stat_header(&path, &s))
        .body(file(tar))
        .expect("static headers"))
}

/// Whether an archive entry's path stays inside the directory it is unpacked in.
pub fn contained(p: &Path) -> bool {
    p.components().all(|c| {
        matches!(
            c,
            Component::Normal(_) | Component::CurDir | Component::RootDir
        )
    })
}

/// Unpacks the tar `f` into `dir`, refusing entries that climb out of it (a `..`, or a hard
/// link to such a path) and skipping devices; its owners kept if `keep_owners`.
pub fn unpack_contained(f: std::fs::File, dir: &Path, keep_owners: bool) -> Result<(), ApiError> {
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(keep_owners);
    a.set_overwrite(true);
    let bad = |err: std::io::Error| {
        ApiError::bad_request(format!("archive: not a valid tar: {err} [layer: api]"))
    };
    for entry in a.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let p = entry.path().map_err(bad)?.into_owned();
        let link = entry.link_name().map_err(bad)?.map(|l| l.into_owned());
        let kind = entry.header().entry_type();
        if !contained(&p) || (kind.is_hard_link() && link.as_deref().is_some_and(|l| !contained(l)))
        {
            return Err(ApiError::bad_request(format!(
                "archive: entry {} leads out of the destination: refused [layer: api]",
                p.display()
            )));
        }
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            continue;
        }
        entry.unpack_in(dir).map_err(|err| {
            ApiError::bad_request(format!(
                "archive: entry {}: {err} [layer: api]",
                p.display()
            ))
        })?;
    }
    Ok(())
}

/// `PUT /containers/{id}/archive?path=DIR[&copyUIDGID=1]`: the tar in the body extracted
/// into DIR (a directory of the container), owned by root, or with `copyUIDGID` (`docker cp
/// -a`) by the archive's owners.
pub async fn put(
    api: &Arc<Api>,
    key: &str,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = path_of(q)?;
    let owner = match q.flag("copyUIDGID", false) {
        true => copy::Owner::Source,
        false => copy::Owner::Caller,
    };
    let upload = spool(req, "archive").await?;
    let key = key.to_string();
    api.blocking(move |e| {
        let (c, s) = stat_blocking(e, &key, &path)?;
        if s.mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(ApiError::bad_request(format!(
                "archive: {path} in container {}: not a directory [layer: engine]",
                c.name
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix("strata-api-cp")
            .tempdir()
            .map_err(|err| ApiError::internal(format!("archive: {err} [layer: api]")))?;
        let f = upload
            .reopen()
            .map_err(|err| ApiError::internal(format!("archive: {err} [layer: api]")))?;
        unpack_contained(f, tmp.path(), owner == copy::Owner::Source)?;
        let entries = std::fs::read_dir(tmp.path())
            .map_err(|err| ApiError::internal(format!("archive: {err} [layer: api]")))?;
        for ent in entries.flatten() {
            copy::copy_in_as(e, &c, &ent.path(), &path, owner).map_err(|err| named(&key, err))?;
        }
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_file_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_mode(libc::S_IFDIR | 0o1777),
            (1 << 31) | (1 << 20) | 0o777
        );
    }

    #[test]
    fn entries_that_climb_out_are_not_contained() {
        assert!(contained(Path::new("a/b")));
        assert!(contained(Path::new("./a")));
        assert!(contained(Path::new("/a")));
        assert!(!contained(Path::new("../a")));
        assert!(!contained(Path::new("a/../../b")));
    }
}
