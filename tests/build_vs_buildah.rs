//! `strata build` beside buildah (Debian's 1.28, the builder inside podman): the same
//! Dockerfiles (multi-stage with a non-root final stage, ARG scoping before and after FROM,
//! .dockerignore with exceptions, deletions across layers, links, --chown, chmod) must give
//! the same file trees (type, mode, owner, extended attributes, content, link target) and
//! the same image config;
//! the image strata built runs under podman too. Heredocs are left out: buildah 1.28 does
//! not read them. The empty /etc/hosts, /etc/hostname and /etc/resolv.conf a RUN leaves are
//! left out of the comparison: buildah keeps them, strata (as BuildKit) drops them. A cache
//! mount's target is dropped by both; the parent directories made for it stay with both.

mod common;

use common::podman::Podman;
use common::{busybox_archive, prerequisites, Engine};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_testkit::require_tools;

const RUNTIME_STUBS: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];

const MULTI_STAGE: &str = r#"ARG BASE=localhost/busybox
FROM $BASE AS build
ARG MSG=hello
WORKDIR /src
COPY app/ ./
RUN echo "$MSG" > out.txt && ln -s out.txt link.txt && chmod 0604 out.txt && mkdir -m 0700 private
FROM ${BASE}
RUN rm -rf /bin/vi /usr/sbin && mkdir -p /opt/app && chown 1000:1000 /opt/app
COPY --from=build /src/ /opt/app/
COPY --chown=1000:1000 app/config.ini /opt/app/config.ini
ENV MODE=prod
LABEL org.example.name=diff
EXPOSE 8080/udp
STOPSIGNAL SIGINT
WORKDIR /opt/app
USER 1000:1000
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat out.txt"]
"#;

const IGNORE_AND_DELETE: &str = r#"FROM localhost/busybox
COPY . /ctx/
RUN rm /ctx/remove-me && mkdir /ctx/newdir && echo n > /ctx/newdir/f
RUN rm -r /ctx/newdir && echo again > /ctx/again
"#;

const CACHE_AND_ONBUILD: &str = r#"FROM localhost/busybox AS parent
ONBUILD RUN echo triggered > /onbuild
FROM parent
RUN --mount=type=cache,target=/var/cache/app echo cached > /var/cache/app/f && cp /var/cache/app/f /from-cache
COPY src/ /src/
"#;

const ARG_SCOPES: &str = r#"ARG V=outer
ARG BASE=localhost/busybox
FROM $BASE
ARG V
RUN echo "v=$V" > /v
ARG W=w1
ENV E=$W
RUN echo "e=$E base=$BASE" > /e
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// buildah on a private store.
struct Buildah {
    root: PathBuf,
}

impl Buildah {
    fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "-a"]).output();
        let _ = self.cmd().args(["rmi", "-a", "-f"]).output();
    }
}

/// Every entry under `dir`: type, mode, owner, and content digest or link target.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if RUNTIME_STUBS.contains(&rel.as_str()) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.is_file() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                format!("file {} {:x}", m.len(), h.finish())
            } else {
                "special".to_string()
            };
            out.insert(
                rel,
                format!(
                    "{what} mode {:o} owner {}:{} xattrs {:?}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid(),
                    xattrs(&p)
                ),
            );
        }
    }
    out
}

/// The extended attributes of `p` (not following a link), names and values.
fn xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: llistxattr writes at most `names.len()` bytes into the buffer.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return vec![];
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cn = std::ffi::CString::new(name).unwrap();
        let mut v = vec![0u8; 64 * 1024];
        // SAFETY: lgetxattr writes at most `v.len()` bytes into the buffer.
        let k = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        v.truncate(k.max(0) as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), v));
    }
    out.sort();
    out
}

/// The config fields both builders set.
fn config_of(c: &serde_json::Value) -> serde_json::Value {
    let mut labels = c["Labels"].as_object().cloned().unwrap_or_default();
    labels.retain(|k, _| !k.starts_with("io.buildah."));
    serde_json::json!({
        "Env": c["Env"], "Entrypoint": c["Entrypoint"], "Cmd": c["Cmd"],
        "User": c["User"], "WorkingDir": c["WorkingDir"], "ExposedPorts": c["ExposedPorts"],
        "StopSignal": c["StopSignal"], "Labels": labels,
    })
}

/// Builds `ctx` with both (`extra` for both, `buildah_only` for buildah) and compares.
fn compare(e: &Engine, b: &Buildah, ctx: &Path, name: &str, extra: &[&str], buildah_only: &[&str]) {
    let c = ctx.to_str().unwrap();
    let tag = format!("localhost/{name}");
    let mut sargs = vec!["build", "-q", "-t", &tag];
    sargs.extend_from_slice(extra);
    sargs.push(c);
    let (code, _, err) = e.status(&sargs);
    assert_eq!(code, 0, "strata build {name}: {err}");
    let mut bargs = vec!["bud", "-q", "--isolation", "chroot", "-t", &tag];
    bargs.extend_from_slice(extra);
    bargs.extend_from_slice(buildah_only);
    bargs.push(c);
    b.ok(&bargs);

    let mnt = e.ok(&["image", "mount", &tag]).trim().to_string();
    let ours = tree(Path::new(&mnt));
    e.ok(&["image", "unmount", &tag]);
    let ctr = b.ok(&["from", "-q", &tag]);
    let bmnt = b.ok(&["mount", &ctr]);
    let theirs = tree(Path::new(&bmnt));
    b.ok(&["umount", &ctr]);
    b.ok(&["rm", &ctr]);
    let mut diffs = Vec::new();
    for k in ours
        .keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if ours.get(k) != theirs.get(k) {
            diffs.push(format!(
                "{k}: strata {:?} buildah {:?}",
                ours.get(k),
                theirs.get(k)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: trees differ:\n{}",
        diffs.join("\n")
    );

    let si: serde_json::Value = serde_json::from_str(&e.ok(&["image", "inspect", &tag])).unwrap();
    let bi: serde_json::Value =
        serde_json::from_str(&b.ok(&["inspect", "--type", "image", &tag])).unwrap();
    assert_eq!(
        config_of(&si[0]["Config"]),
        config_of(&bi["OCIv1"]["config"]),
        "{name}: configs differ"
    );
}

#[test]
fn strata_and_buildah_build_the_same_images() {
    if !prerequisites() || !require_tools(&["buildah", "podman"]) {
        return;
    }
    let e = Engine::new();
    let b = Buildah {
        root: e.dir.path().join("buildah"),
    };
    b.ok(&[
        "pull",
        "-q",
        &format!("oci-archive:{}", busybox_archive().display()),
    ]);

    let ctx = e.dir.path().join("multi");
    write(&ctx, "Dockerfile", MULTI_STAGE);
    write(&ctx, "app/main.sh", "echo main\n");
    write(&ctx, "app/config.ini", "[app]\n");
    compare(&e, &b, &ctx, "multi", &["--build-arg", "MSG=hi there"], &[]);
    compare(&e, &b, &ctx, "multi-target", &["--target", "build"], &[]);

    let ctx = e.dir.path().join("ignore");
    write(&ctx, "Dockerfile", IGNORE_AND_DELETE);
    write(&ctx, ".dockerignore", "*.log\n!keep.log\nsecret/\n");
    for f in [
        "remove-me",
        "a.log",
        "keep.log",
        "secret/s",
        "sub/x.log",
        "sub/y",
    ] {
        write(&ctx, f, f);
    }
    compare(&e, &b, &ctx, "ignore", &[], &[]);

    // A cache mount, ONBUILD (buildah keeps it in the docker format), and a rebuild after an
    // edit (both builders' caches hit before the COPY and miss from it).
    let ctx = e.dir.path().join("cache");
    write(&ctx, "Dockerfile", CACHE_AND_ONBUILD);
    write(&ctx, "src/a", "v1\n");
    compare(&e, &b, &ctx, "cache", &[], &["--format", "docker"]);
    write(&ctx, "src/a", "v2\n");
    compare(&e, &b, &ctx, "cache-edited", &[], &["--format", "docker"]);

    let ctx = e.dir.path().join("args");
    write(&ctx, "Dockerfile", ARG_SCOPES);
    compare(&e, &b, &ctx, "args", &["--build-arg", "W=w2"], &[]);

    // What strata built runs under podman.
    let archive = e.dir.path().join("multi.tar");
    e.ok(&["save", "-o", archive.to_str().unwrap(), "localhost/multi"]);
    let p = Podman::new();
    let (code, _, err) = p.status(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = p.status(&["run", "--rm", "--network", "none", "localhost/multi"]);
    assert_eq!((code, out.as_str()), (0, "hi there\n"), "{err}");
}
