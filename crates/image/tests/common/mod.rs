//! Test harness: prerequisites, fixture images, registries on free loopback ports, a tiny
//! mock registry for documents no real registry would serve.
#![allow(dead_code)]

pub mod pulling;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;

/// Whether the tools exist; outside CI a missing tool skips the test (prints SKIP),
/// in CI (CI=true) it fails (the policy of `strata_testkit::require`).
pub fn prereqs(tools: &[&str]) -> bool {
    strata_testkit::require_tools(tools)
}

/// The standard set for registry tests (which also need root: owners, overlay mounts).
pub fn registry_prereqs() -> bool {
    strata_testkit::require_root()
        && prereqs(&[
            "docker-registry",
            "skopeo",
            "umoci",
            "jq",
            "htpasswd",
            "busybox",
        ])
}

/// The OCI layout with the test images (built once per machine).
pub fn layout() -> PathBuf {
    static L: OnceLock<PathBuf> = OnceLock::new();
    L.get_or_init(|| {
        let out = std::env::temp_dir().join("strata-image-fixtures-v1");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../image/tests/fixtures/make-test-images.sh");
        let st = Command::new("bash")
            .arg(script)
            .arg(&out)
            .status()
            .expect("run fixture script");
        assert!(st.success(), "fixture script failed");
        out.join("layout")
    })
    .clone()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

    /// Pushes `tag` of the fixture layout as `name` (all platforms for indexes).
    pub fn push(&self, tag: &str, name: &str) {
        let mut c = Command::new("skopeo");
        c.args(["copy", "-q", "--all", "--dest-tls-verify=false"]);
        if self.is_auth() {
            c.arg(format!("--dest-creds={USER}:{PASS}"));
        }
        c.arg(format!("oci:{}:{tag}", layout().display()))
            .arg(format!("docker://{}/{name}", self.addr));
        let st = c.status().unwrap();
        assert!(st.success(), "skopeo push {tag} failed");
    }

    /// Pushes `tag` converted to a Docker schema2 manifest.
    pub fn push_docker(&self, tag: &str, name: &str) {
        let st = Command::new("skopeo")
            .args(["copy", "-q", "--format", "v2s2", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout().display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .status()
            .unwrap();
        assert!(st.success(), "skopeo push {tag} failed");
    }

    fn is_auth(&self) -> bool {
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

/// A one-thread HTTP server answering every request with `status`, `ctype` and `body`.
pub struct Mock {
    /// 127.0.0.1:port
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mock {
    /// Starts the server.
    pub fn start(status: u16, ctype: &'static str, body: Vec<u8>) -> Mock {
        Mock::with(move |_req| {
            let mut r = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        })
    }

    /// Starts a server whose `handler` maps the request head to the raw response bytes
    /// (which may lie about Content-Length to simulate a cut connection).
    pub fn with<F: Fn(&str) -> Vec<u8> + Send + 'static>(handler: F) -> Mock {
        Mock::with_listener(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
    }

    /// Like `with`, on a given listener.
    pub fn with_listener<F: Fn(&str) -> Vec<u8> + Send + 'static>(
        l: TcpListener,
        handler: F,
    ) -> Mock {
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        // A TLS ClientHello (a handshake record, 0x16): a plain http
                        // server cannot answer it; close, as a real one would.
                        let mut first = [0u8; 1];
                        if s.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
                            continue;
                        }
                        let mut r = BufReader::new(s.try_clone().unwrap());
                        let mut line = String::new();
                        let mut head = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        let _ = s.write_all(&handler(&head));
                        let _ = s.flush();
                        let mut sink = Vec::new();
                        let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
                        let _ = r.read_to_end(&mut sink);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Mock {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every file name under `dir` (recursively), sorted: to compare store states.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(base, &p, out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.retain(|n| !n.starts_with("images.db") && n != "lock");
    out.sort();
    out
}
