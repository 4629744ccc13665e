//! Test harness: prerequisites, fixture images, registries on free loopback ports, a tiny
//! mock registry for documents no real registry would serve.
#![allow(dead_code)]

pub mod pulling;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

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

#[allow(unused_imports)] // not every test crate sharing this module uses it
pub use strata_testkit::free_port;

// Not every test that shares this module uses all of it.
#[allow(unused_imports)]
pub use strata_testkit::registry::{Registry, PASS, USER};

/// Pushing the fixture layout's images into a test registry.
pub trait PushFixture {
    /// Pushes `tag` of the fixture layout as `name` (all platforms for indexes).
    fn push(&self, tag: &str, name: &str);
    /// Pushes `tag` converted to a Docker schema2 manifest.
    fn push_docker(&self, tag: &str, name: &str);
}

impl PushFixture for Registry {
    fn push(&self, tag: &str, name: &str) {
        self.copy_in(
            &format!("oci:{}:{tag}", layout().display()),
            name,
            &["--all"],
        );
    }

    fn push_docker(&self, tag: &str, name: &str) {
        self.copy_in(
            &format!("oci:{}:{tag}", layout().display()),
            name,
            &["--format", "v2s2"],
        );
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
