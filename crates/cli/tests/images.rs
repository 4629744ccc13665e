//! The `strata` image commands end to end, against real docker-registry instances and
//! skopeo (interoperability of save/load and push).

#[path = "../../image/tests/common/mod.rs"]
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn cmd(&self, root: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--root")
            .arg(self.path(root))
            .arg("--runroot")
            .arg(self.path(&format!("{root}-run")))
            .arg("--registries-conf")
            .arg(self.path("none.toml"))
            .args(args)
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"))
            .output()
            .unwrap()
    }
    fn ok(&self, root: &str, args: &[&str]) -> String {
        let o = self.cmd(root, args);
        assert!(
            o.status.success(),
            "strata {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    /// `strata pull -q --tls-verify=false IMG` into store `root`; its stdout (the id).
    fn pull_q(&self, root: &str, img: &str) -> String {
        self.ok(root, &["pull", "-q", "--tls-verify=false", img])
    }
    fn fail(&self, root: &str, args: &[&str]) -> String {
        let o = self.cmd(root, args);
        assert!(!o.status.success(), "strata {args:?} should fail");
        String::from_utf8(o.stderr).unwrap()
    }
}

/// Unmounts on drop (tests must not leave mounts behind).
struct MountGuard<'a>(&'a Env, &'a str, String);

impl Drop for MountGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(self.1, &["image", "unmount", &self.2]);
    }
}

fn skopeo(args: &[&str]) {
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A registry (with authentication when `auth`) holding the fixture `repo` as
/// `repo:latest`, a fresh environment and the image's reference; `None` (the test
/// returns) when the registry's prerequisites are missing outside CI.
fn with_image(auth: bool, repo: &str) -> Option<(Registry, Env, String)> {
    if !registry_prereqs() {
        return None;
    }
    let reg = Registry::start(auth);
    reg.push(repo, &format!("{repo}:latest"));
    let e = Env::new();
    let img = format!("{}/{repo}:latest", reg.addr);
    Some((reg, e, img))
}

/// `strata login` to `addr` as the test user with `pass`.
fn login_args<'a>(addr: &'a str, pass: &'a str) -> [&'a str; 7] {
    ["login", "--tls-verify=false", "-u", USER, "-p", pass, addr]
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn pull_list_tag_inspect_rmi_prune() {
    let Some((_reg, e, img)) = with_image(false, "busybox") else {
        return;
    };
    let id = e.pull_q("s", &img);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let again = e.cmd("s", &["pull", "--tls-verify=false", &img]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("up to date"));
    let list: serde_json::Value =
        serde_json::from_str(&e.ok("s", &["images", "--format", "json"])).unwrap();
    assert_eq!(list[0]["Id"], id);
    assert_eq!(list[0]["Names"][0], img);
    e.ok("s", &["tag", &img, "localhost/mine:v1"]);
    let by_digest = e.ok("s", &["images", "--format", "json"]);
    assert!(by_digest.contains("localhost/mine:v1"));
    let table = e.ok("s", &["images"]);
    assert!(
        table.contains("localhost/mine") && table.contains("v1"),
        "{table}"
    );
    let insp: serde_json::Value =
        serde_json::from_str(&e.ok("s", &["inspect", "localhost/mine:v1"])).unwrap();
    assert_eq!(insp[0]["Id"], id);
    assert_eq!(insp[0]["Architecture"], "amd64");
    assert_eq!(insp[0]["Config"]["Cmd"][0], "sh");
    let out = e.ok("s", &["rmi", "localhost/mine:v1"]);
    assert!(out.contains("Untagged: localhost/mine:v1"), "{out}");
    let err = e.fail("s", &["inspect", "nosuch"]);
    assert!(
        err.contains("inspect nosuch: image nosuch: not found"),
        "{err}"
    );
    let out = e.ok("s", &["rmi", &id[..12]]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(count(&e.path("s/blobs/sha256")), 0, "blobs collected");
    assert_eq!(count(&e.path("s/snapshots")), 0, "snapshots collected");
    // prune -a removes everything that is left.
    e.pull_q("s", &img);
    let out = e.ok("s", &["image", "prune", "-a"]);
    assert!(out.contains(id), "{out}");
    assert_eq!(e.ok("s", &["images", "-q"]), "");
}

#[test]
fn login_logout_and_creds() {
    let Some((reg, e, img)) = with_image(true, "busybox") else {
        return;
    };
    let err = e.fail("s", &["pull", "--tls-verify=false", &img]);
    assert!(
        err.contains(&format!("pull {img}: authentication failed")),
        "{err}"
    );
    let err = e.fail("s", &login_args(&reg.addr, "wrong"));
    assert!(err.contains("credentials rejected"), "{err}");
    assert!(!e.path("auth.json").exists());
    e.ok("s", &login_args(&reg.addr, PASS));
    let auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.path("auth.json")).unwrap()).unwrap();
    assert!(auth["auths"][&reg.addr]["auth"].is_string());
    e.pull_q("s", &img);
    e.ok("s", &["logout", &reg.addr]);
    e.fail("s2", &["pull", "--tls-verify=false", &img]);
    e.ok(
        "s2",
        &[
            "pull",
            "-q",
            "--tls-verify=false",
            "--creds",
            &format!("{USER}:{PASS}"),
            &img,
        ],
    );
}

#[test]
fn save_load_interoperate_with_skopeo() {
    let Some((reg, e, img)) = with_image(false, "busybox") else {
        return;
    };
    let id = e.pull_q("s", &img).trim().to_string();
    // strata save -> skopeo reads it and pushes it.
    for (fmt, out, src) in [
        (
            "oci-dir",
            "o-dir",
            format!("oci:{}:latest", e.path("o-dir").display()),
        ),
        (
            "oci-archive",
            "o.tar",
            format!("oci-archive:{}:latest", e.path("o.tar").display()),
        ),
        (
            "docker-archive",
            "d.tar",
            format!("docker-archive:{}", e.path("d.tar").display()),
        ),
    ] {
        e.ok(
            "s",
            &[
                "save",
                "--format",
                fmt,
                "-o",
                e.path(out).to_str().unwrap(),
                &img,
            ],
        );
        let dest = format!("docker://{}/from-{fmt}:latest", reg.addr);
        skopeo(&["copy", "-q", "--dest-tls-verify=false", &src, &dest]);
        // ... and strata loads its own output back into an empty store with the same id.
        let store = format!("l-{fmt}");
        let out = e.ok(&store, &["load", "-q", "-i", e.path(out).to_str().unwrap()]);
        assert_eq!(out.trim(), id, "{fmt}");
    }
    // skopeo writes -> strata loads.
    let src = format!("docker://{img}");
    let oa = e.path("sk.tar");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &src,
        &format!("oci-archive:{}:busybox", oa.display()),
    ]);
    let out = e.ok("k1", &["load", "-i", oa.to_str().unwrap()]);
    assert!(out.contains("localhost/busybox:latest"), "{out}");
    let insp: serde_json::Value =
        serde_json::from_str(&e.ok("k1", &["inspect", "localhost/busybox"])).unwrap();
    assert_eq!(insp[0]["Id"], id);
    let da = e.path("skd.tar");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &src,
        &format!("docker-archive:{}:example.com/bb:v2", da.display()),
    ]);
    let out = e.ok("k2", &["load", "-i", da.to_str().unwrap()]);
    assert!(out.contains("example.com/bb:v2"), "{out}");
    let p = e.ok("k2", &["image", "mount", "example.com/bb:v2"]);
    let _g = MountGuard(&e, "k2", "example.com/bb:v2".into());
    assert!(Path::new(p.trim()).join("bin/busybox").is_file());
    // A broken archive changes nothing.
    std::fs::write(e.path("bad.tar"), b"not a tar at all").unwrap();
    let before = tree(&e.path("k1"));
    let err = e.fail("k1", &["load", "-i", e.path("bad.tar").to_str().unwrap()]);
    assert!(err.contains("load "), "{err}");
    assert_eq!(tree(&e.path("k1")), before);
}

#[test]
fn push_checks_existing_blobs_and_mounts_across_repositories() {
    let Some((reg, e, img)) = with_image(false, "wh") else {
        return;
    };
    e.pull_q("s", &img);
    // Same registry, other repository: blobs are mounted, not uploaded.
    let dest = format!("{}/copy:v1", reg.addr);
    let o = e.cmd("s", &["push", "--tls-verify=false", &img, &dest]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("mounted") && !err.contains(" done"), "{err}");
    // Again: everything exists.
    let o = e.cmd("s", &["push", "--tls-verify=false", &img, &dest]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exists") && !err.contains("mounted"), "{err}");
    // A fresh registry: uploaded; skopeo reads it back.
    let reg2 = Registry::start(false);
    let dest2 = format!("{}/up:v2", reg2.addr);
    let o = e.cmd("s", &["push", "--tls-verify=false", &img, &dest2]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{dest2}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2);
    // And it pulls back into an empty store.
    e.pull_q("s2", &dest2);
    let p = e.ok("s2", &["image", "mount", &dest2]);
    let _g = MountGuard(&e, "s2", dest2.clone());
    let listed = e.ok("s2", &["image", "mount"]);
    assert!(
        listed.contains(&dest2) && listed.contains(p.trim()),
        "{listed}"
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(p.trim()).join("data/hello")).unwrap(),
        "hello\n"
    );
}

/// A pull killed with SIGKILL in the middle leaves nothing visible: no image, no snapshot,
/// no blob; its temporary files are collected by the next prune, and a new pull works.
#[test]
fn killed_pull_leaves_nothing_visible() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("wh", "wh:latest");
    // A proxy that serves everything from the registry but holds the second layer's blob.
    let m = {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/wh:latest", reg.addr))
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let held = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let upstream = reg.addr.clone();
    let proxy = Mock::with(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        if path.contains(&held) {
            std::thread::sleep(std::time::Duration::from_secs(3));
            return b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n".to_vec();
        }
        // Forward the request as is (HTTP/1.0-style: read until the upstream closes).
        use std::io::{Read, Write};
        let mut up = std::net::TcpStream::connect(&upstream).unwrap();
        write!(
            up,
            "GET {path} HTTP/1.1\r\nHost: {upstream}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = Vec::new();
        up.read_to_end(&mut out).unwrap();
        out
    });
    let e = Env::new();
    let img = format!("{}/wh:latest", proxy.addr);
    // Killed and reaped on drop, even if an assertion below fails first.
    let child = strata_testkit::ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--root")
            .arg(e.path("s"))
            .arg("--runroot")
            .arg(e.path("s-run"))
            .args(["pull", "-q", "--tls-verify=false", &img])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    // Wait until it is unpacking (a temporary snapshot exists), then kill it.
    let t0 = std::time::Instant::now();
    while count(&e.path("s/tmp")) < 2 && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child); // SIGKILL, then reaped
    assert!(
        count(&e.path("s/tmp")) > 0,
        "the pull was killed while unpacking"
    );
    assert_eq!(count(&e.path("s/snapshots")), 0, "no snapshot visible");
    assert_eq!(count(&e.path("s/blobs/sha256")), 0, "no blob visible");
    assert_eq!(e.ok("s", &["images", "-q"]), "");
    e.ok("s", &["image", "prune"]);
    assert_eq!(
        count(&e.path("s/tmp")),
        0,
        "temporaries of the dead pull collected"
    );
    assert_eq!(count(&e.path("s/ingest")), 0);
    e.ok(
        "s",
        &[
            "pull",
            "-q",
            "--tls-verify=false",
            &format!("{}/wh:latest", reg.addr),
        ],
    );
}

#[test]
fn tls_verify_false_with_a_self_signed_registry() {
    if !registry_prereqs() || !prereqs(&["openssl"]) {
        return;
    }
    let reg = Registry::start_with(false, true);
    reg.push("busybox", "busybox:latest");
    let e = Env::new();
    let img = format!("{}/busybox:latest", reg.addr);
    let err = e.fail("s", &["pull", "-q", &img]);
    eprintln!("verified pull: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("pull {img}: ")) && err.contains("--tls-verify=false"),
        "{err}"
    );
    let id = e.pull_q("s", &img);
    assert_eq!(id.trim().len(), 64);
}
