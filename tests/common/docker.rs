//! The Docker API's end-to-end helpers: a `strata system service` on a socket of the test
//! engine, the real docker CLI pointed at it (under a time limit), raw HTTP requests on the
//! socket, and a docker-registry with busybox pushed. Each is stopped by pid on drop.

use super::{output_via_files, prerequisites, Engine};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use strata_testkit::{require_tools, ChildGuard};

pub const IMG: &str = "localhost/busybox";

/// A `strata system service` on a socket in the test engine's directory.
pub struct Service {
    pub child: ChildGuard,
    pub socket: PathBuf,
    pub config: PathBuf,
}

impl Service {
    pub fn start(e: &Engine) -> Service {
        let socket = e.dir.path().join("docker.sock");
        let config = e.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = e.cmd();
        cmd.args(["system", "service"])
            .arg(format!("unix://{}", socket.display()));
        let mut child = ChildGuard::spawn_quiet(&mut cmd).expect("start strata system service");
        let t0 = Instant::now();
        while !socket.exists() {
            if let Ok(Some(st)) = child.0.try_wait() {
                panic!("strata system service exited before serving: {st}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the API socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Service {
            child,
            socket,
            config,
        }
    }

    /// The docker CLI on this socket, under a time limit (a hung request fails the test
    /// instead of hanging it).
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "120", "docker"])
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .stdin(std::process::Stdio::null());
        c
    }

    /// Runs the docker CLI (through files: a detached container keeps pipes open).
    pub fn docker(&self, args: &[&str]) -> Output {
        output_via_files(&mut self.docker_cmd(args))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// One raw HTTP/1.1 request on the socket: (status, headers, body).
    pub fn raw(&self, request: &[u8]) -> (u16, String, String) {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // A server that refuses early (a body over the bound) may close before all is sent.
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }

    /// A request with a body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        self.raw(req.as_bytes())
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }
}

pub fn setup() -> Option<(Engine, Service)> {
    if !(prerequisites() && require_tools(&["docker"])) {
        return None;
    }
    let e = Engine::new();
    let s = Service::start(&e);
    Some((e, s))
}

pub fn json_message(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|err| panic!("not a JSON error body ({err}): {body:?}"));
    v["message"].as_str().expect("a message").to_string()
}

pub use strata_testkit::registry::Registry;

/// A registry holding the busybox image as `test/busybox:1.0`.
pub fn registry_with_busybox() -> Registry {
    let reg = Registry::start(false);
    let src = format!("oci-archive:{}", super::busybox_archive().display());
    reg.copy_in(&src, "test/busybox:1.0", &[]);
    reg
}

pub fn write_registries(e: &Engine, addr: &str) -> PathBuf {
    let p = e.dir.path().join("registries.toml");
    std::fs::write(
        &p,
        format!("[[registry]]\nlocation = \"{addr}\"\ninsecure = true\n"),
    )
    .unwrap();
    p
}
