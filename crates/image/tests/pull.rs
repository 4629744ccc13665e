//! Pulls against real docker-registry instances, and bad-input cases.

mod common;

use common::pulling::*;
use common::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::sync::Arc;
use strata_image::oci::Platform;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;
use strata_image::registry::Credentials;
use strata_image::store::Store;
use strata_image::Error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_busybox_then_already_present() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("busybox", "busybox:latest");
    let (_d, st) = store();
    let img = format!("{}/busybox:latest", reg.addr);
    let r = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(!r.already_present);
    assert_eq!(r.layers_fetched, 1);
    let rec = st.meta().find(&img).unwrap().expect("recorded");
    assert_eq!(rec.layers.len(), 1);
    let snap = st.snapshots.path(&rec.layers[0].chain_id);
    let bb = std::fs::metadata(snap.join("bin/busybox")).unwrap();
    assert_eq!(bb.permissions().mode() & 0o7777, 0o755);
    assert_eq!(bb.mtime(), 946684800);
    assert_eq!(
        std::fs::read_link(snap.join("bin/sh")).unwrap().to_str(),
        Some("/bin/busybox")
    );
    let tmp = std::fs::metadata(snap.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(
        tmp.mtime(),
        946684800,
        "directory mtimes are set after their children"
    );
    let home = std::fs::metadata(snap.join("home/user")).unwrap();
    assert_eq!((home.uid(), home.gid()), (1000, 1000));
    assert!(st.content.has(&rec.layers[0].digest));
    // Second pull: manifest only.
    let r2 = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(r2.already_present);
    assert_eq!(r2.id, r.id);
    // Nothing left behind in temporary areas.
    assert!(tree(&st.root.join("tmp")).is_empty());
    assert!(tree(&st.root.join("ingest")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_multi_arch_selects_platform() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("multi", "multi:latest");
    let (_d, st) = store();
    let img = format!("{}/multi:latest", reg.addr);
    for (p, want) in [
        ("linux/arm64", "linux/arm64\n"),
        ("linux/amd64", "linux/amd64\n"),
    ] {
        let mut o = opts();
        o.platform = Platform::parse(p).unwrap();
        let r = pull(st.clone(), &o, &img, Arc::new(NoProgress))
            .await
            .unwrap();
        let rec = st.meta().find(&r.id.to_string()).unwrap().unwrap();
        let top = st.snapshots.path(&rec.layers.last().unwrap().chain_id);
        assert_eq!(
            std::fs::read_to_string(top.join("etc/platform")).unwrap(),
            want,
            "{p}"
        );
    }
    let mut o = opts();
    o.platform = Platform::parse("linux/s390x").unwrap();
    let e = pull(st.clone(), &o, &img, Arc::new(NoProgress))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("pull {img}: platform linux/s390x")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whiteouts_hardlinks_and_mounts() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("wh", "wh:latest");
    let (_d, st) = store();
    let img = format!("{}/wh:latest", reg.addr);
    pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&img).unwrap().unwrap();
    assert_eq!(rec.layers.len(), 2);
    let top = st.snapshots.path(&rec.layers[1].chain_id);
    let lowers = strata_image::mount::lower_dirs(&st, &rec).unwrap();
    assert_eq!(
        lowers,
        vec![top.clone(), st.snapshots.path(&rec.layers[0].chain_id)]
    );
    let wh = std::fs::symlink_metadata(top.join("etc/group")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "overlay whiteout"
    );
    let a = std::fs::metadata(top.join("data/hello")).unwrap();
    let b = std::fs::metadata(top.join("data/hello-link")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link kept");
    for force_copy in [false, true] {
        let (p, kind) = strata_image::mount::mount(&st, &rec, force_copy).unwrap();
        let guard = Unmount(st.clone(), rec.clone());
        assert!(p.join("bin/busybox").is_file(), "{kind:?}");
        assert!(
            !p.join("etc/group").exists(),
            "{kind:?}: whiteout hides the lower file"
        );
        assert!(p.join("etc/passwd").is_file());
        assert_eq!(
            std::fs::read_to_string(p.join("data/hello-link")).unwrap(),
            "hello\n"
        );
        if !force_copy {
            assert!(
                std::fs::write(p.join("new"), b"x").is_err(),
                "read-only mount"
            );
        }
        drop(guard);
        assert!(!strata_image::mount::is_mounted(&st, &rec));
    }
}

struct Unmount(Arc<Store>, strata_image::store::ImageRecord);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = strata_image::mount::unmount(&self.0, &self.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_registry_and_credentials() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(true);
    reg.push("busybox", "busybox:latest");
    let (_d, st) = store();
    let img = format!("{}/busybox:latest", reg.addr);
    let e = pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap_err();
    assert!(matches!(e.root(), Error::Auth(_)), "{e}");
    assert!(e.to_string().contains("credentials required"), "{e}");
    let mut o = opts();
    o.creds = Some(Credentials::parse(&format!("{USER}:wrong")).unwrap());
    let e = pull(st.clone(), &o, &img, Arc::new(NoProgress))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("pull {img}: authentication failed")),
        "{e}"
    );
    assert!(st.meta().list().unwrap().is_empty());
    // Credentials from an auth file (as `strata login` writes it).
    let dir = tempfile::tempdir().unwrap();
    let mut af = strata_image::registry::AuthFile::load(&dir.path().join("auth.json")).unwrap();
    af.set(
        &reg.addr,
        &Credentials::parse(&format!("{USER}:{PASS}")).unwrap(),
    );
    af.save().unwrap();
    let mut o = opts();
    o.auth_file = dir.path().join("auth.json");
    pull(st.clone(), &o, &img, Arc::new(NoProgress))
        .await
        .unwrap();
    assert!(st.meta().find(&img).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_leave_store_unchanged() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push("busybox", "busybox:latest");
    reg.push("wh", "wh:latest");
    let (_d, st) = store();
    let o = opts();
    assert_fails_cleanly(
        &st,
        &o,
        &format!("{}/nope:latest", reg.addr),
        "manifest nope:latest: not found",
    )
    .await;
    assert_fails_cleanly(
        &st,
        &o,
        &format!("{}/busybox:nosuchtag", reg.addr),
        "not found",
    )
    .await;
    let wrong = strata_image::Digest::of(b"not the manifest");
    assert_fails_cleanly(
        &st,
        &o,
        &format!("{}/busybox@{wrong}", reg.addr),
        "not found",
    )
    .await;
    // Registry down.
    let down = format!("127.0.0.1:{}/busybox:latest", free_port());
    assert_fails_cleanly(&st, &o, &down, "connect").await;
    // Corrupt the top layer of `wh` in the registry: same size, other bytes -> digest mismatch.
    let img = format!("{}/wh:latest", reg.addr);
    let m = skopeo_manifest(&img);
    let layer = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let path = reg.blob_path(&layer[7..]);
    let orig = std::fs::read(&path).unwrap();
    let mut bad = orig.clone();
    let n = bad.len();
    bad[n - 9] ^= 0xff; // inside the gzip trailer's CRC: decompresses, digest differs
    std::fs::write(&path, &bad).unwrap();
    let e = assert_fails_cleanly(&st, &o, &img, &format!("layer {layer}: ")).await;
    assert!(
        e.contains("digest mismatch") || e.contains("corrupt") || e.contains("crc"),
        "{e}"
    );
    // Truncated blob.
    std::fs::write(&path, &orig[..orig.len() / 2]).unwrap();
    let e = assert_fails_cleanly(&st, &o, &img, &format!("layer {layer}: ")).await;
    assert!(
        e.contains("truncated") || e.contains("size mismatch") || e.contains("end of file"),
        "{e}"
    );
    std::fs::write(&path, &orig).unwrap();
    pull(st.clone(), &o, &img, Arc::new(NoProgress))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_manifests() {
    if !registry_prereqs() {
        return;
    }
    let reg = Registry::start(false);
    reg.push_docker("wh", "docker:v2s2");
    let (_d, st) = store();
    let img = format!("{}/docker:v2s2", reg.addr);
    pull(st.clone(), &opts(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&img).unwrap().unwrap();
    assert_eq!(rec.manifest_media_type, strata_image::oci::DOCKER_MANIFEST);
    assert_eq!(
        rec.layers[0].media_type,
        strata_image::oci::DOCKER_LAYER_GZIP
    );
    let top = st.snapshots.path(&rec.layers[1].chain_id);
    assert_eq!(
        std::fs::read_to_string(top.join("data/hello")).unwrap(),
        "hello\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_registry_times_out() {
    let mock = Mock::with(|_| {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n".to_vec()
    });
    let (_d, st) = store();
    let mut o = opts();
    o.timeout = std::time::Duration::from_millis(300);
    let img = format!("{}/slow:latest", mock.addr);
    let t0 = std::time::Instant::now();
    let e = assert_fails_cleanly(&st, &o, &img, "timed out").await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(6), "{e}");
}

fn skopeo_manifest(img: &str) -> serde_json::Value {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{img}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_and_short_names_from_registries_toml() {
    if !registry_prereqs() {
        return;
    }
    let primary = Registry::start(false);
    primary.push("busybox", "library/busybox:latest");
    let mirror = Registry::start(false);
    mirror.push("wh", "library/busybox:latest"); // the mirror serves other content
    let down = format!("127.0.0.1:{}", free_port());
    let (_d, st) = store();
    let mut o = opts();
    o.tls_verify = None;
    o.config = strata_image::registry::RegistriesConfig::parse(&format!(
        "default_registry = \"{p}\"\n[[registry]]\nlocation = \"{p}\"\ninsecure = true\nmirrors = [\"{down}\", \"{m}\"]\n[[registry]]\nlocation = \"{down}\"\ninsecure = true\n[[registry]]\nlocation = \"{m}\"\ninsecure = true\n",
        p = primary.addr,
        m = mirror.addr
    ))
    .unwrap();
    // A short name goes to the default registry; the dead mirror is skipped, the live one used.
    let r = pull(st.clone(), &o, "library/busybox", Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&r.id.to_string()).unwrap().unwrap();
    assert_eq!(rec.layers.len(), 2, "served by the mirror");
    assert_eq!(r.name, format!("{}/library/busybox:latest", primary.addr));
    // Without mirrors: the primary.
    let mut o2 = o.clone();
    o2.config.registries[0].mirrors.clear();
    let (_d2, st2) = store();
    let r = pull(st2.clone(), &o2, "library/busybox", Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(
        st2.meta()
            .find(&r.id.to_string())
            .unwrap()
            .unwrap()
            .layers
            .len(),
        1
    );
}

/// Unmounts a tmpfs on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_during_unpack_leaves_store_unchanged() {
    if !registry_prereqs() {
        return;
    }
    if !strata_testkit::require_root() {
        return; // mounts a tmpfs
    }
    let reg = Registry::start(false);
    reg.push("busybox", "busybox:latest");
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &mnt,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        "size=1200k",
    )
    .unwrap();
    let _g = Tmpfs(mnt.clone());
    let st = Arc::new(Store::open(&mnt.join("root"), &d.path().join("run")).unwrap());
    let img = format!("{}/busybox:latest", reg.addr);
    let e = assert_fails_cleanly(&st, &opts(), &img, "layer sha256:").await;
    assert!(
        e.contains("No space left") || e.contains("os error 28"),
        "{e}"
    );
}
