//! A docker-registry (Debian's distribution registry) on a free loopback port, with
//! htpasswd auth or TLS when asked, for the tests that pull and push.

use crate::{free_port, ChildGuard};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A docker-registry process on a free loopback port; killed and removed on drop (the
/// process first, then its directory).
pub struct Registry {
    /// 127.0.0.1:port
    pub addr: String,
    /// Storage root.
    pub data: PathBuf,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

/// User and password of the auth registry.
pub const USER: &str = "tester";
/// Password.
pub const PASS: &str = "s3cret";

impl Registry {
    /// Starts a registry (with htpasswd auth if `auth`).
    pub fn start(auth: bool) -> Registry {
        Registry::start_with(auth, false)
    }

    /// Starts a registry (with htpasswd auth if `auth`; over https with a self-signed
    /// certificate for 127.0.0.1 if `tls`).
    pub fn start_with(auth: bool, tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: test-not-secret\n",
                data.display()
            );
            if tls {
                let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
                let st = Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args([
                        "-subj",
                        "/CN=127.0.0.1",
                        "-addext",
                        "subjectAltName=IP:127.0.0.1",
                    ])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(st.success(), "openssl req failed");
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
            }
            if auth {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASS])
                    .output()
                    .unwrap();
                assert!(out.status.success());
                let hp = dir.path().join("htpasswd");
                std::fs::write(&hp, &out.stdout).unwrap();
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    hp.display()
                ));
            }
            let cfgp = dir.path().join("config.yml");
            std::fs::write(&cfgp, cfg).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = ChildGuard::spawn_quiet(
                Command::new("docker-registry")
                    .arg("serve")
                    .arg(&cfgp)
                    .stdout(log.try_clone().unwrap())
                    .stderr(log),
            )
            .expect("start docker-registry");
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.0.try_wait() {
                    break;
                }
                if TcpStream::connect(&addr).is_ok() {
                    // The port answering may be another test's registry that took it
                    // between free_port() and this one's bind (this one then exits
                    // "address in use"): only a registry still running after a moment is
                    // ours.
                    std::thread::sleep(Duration::from_millis(150));
                    if let Ok(Some(_)) = child.0.try_wait() {
                        break;
                    }
                    return Registry {
                        addr,
                        data,
                        _child: child,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(child); // killed and reaped
        }
        panic!("docker-registry did not start");
    }

    /// Copies the image `src` (a skopeo source: `oci:DIR:TAG`, `oci-archive:FILE`) in as
    /// `name`, with skopeo's `extra` options (`--all`, `--format v2s2`).
    pub fn copy_in(&self, src: &str, name: &str, extra: &[&str]) {
        let mut c = Command::new("skopeo");
        c.args(["copy", "-q", "--dest-tls-verify=false"])
            .args(extra);
        if self.is_auth() {
            c.arg(format!("--dest-creds={USER}:{PASS}"));
        }
        c.arg(src).arg(format!("docker://{}/{name}", self.addr));
        let st = c.status().expect("skopeo (install skopeo)");
        assert!(st.success(), "skopeo copy {src} to {name} failed");
    }

    /// Whether it asks for the test credentials.
    pub fn is_auth(&self) -> bool {
        self._dir.path().join("htpasswd").exists()
    }

    /// Path of a blob in the registry's storage.
    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.data
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}
