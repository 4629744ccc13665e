//! A stand-in for systemd on D-Bus, for the tests of the systemd cgroup driver (our machines
//! run no systemd): Debian's dbus-daemon on a private socket with fixtures/mock_systemd.py
//! (python3-dbus), which answers the Manager calls the runtime makes and records each one.

use crate::{require, ChildGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private bus with the systemd stand-in (fields drop in order: the stand-in, the bus, the
/// directory).
pub struct FakeSystemd {
    _mock: ChildGuard,
    _daemon: ChildGuard,
    dir: tempfile::TempDir,
}

impl FakeSystemd {
    /// Starts the bus and the stand-in; None (after [`require`]'s SKIP) without
    /// dbus-daemon, python3-dbus and python3-gi.
    pub fn start() -> Option<FakeSystemd> {
        let have_python_dbus = Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import dbus, dbus.service; from gi.repository import GLib",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !require(
            Path::new("/usr/bin/dbus-daemon").exists() && have_python_dbus,
            "dbus-daemon, python3-dbus and python3-gi (scripts/install-deps)",
        ) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("strata-dbus")
            .tempdir()
            .unwrap();
        let sock = dir.path().join("bus");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
                sock.display()
            ),
        )
        .unwrap();
        let daemon = ChildGuard(
            Command::new("/usr/bin/dbus-daemon")
                .arg(format!("--config-file={}", conf.display()))
                .arg("--nofork")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for(&sock, "dbus-daemon socket");
        let address = format!("unix:path={}", sock.display());
        let ready = dir.path().join("ready");
        let mock = ChildGuard(
            Command::new("/usr/bin/python3")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mock_systemd.py"))
                .arg(&address)
                .arg(dir.path().join("calls.jsonl"))
                .arg(&ready)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for(&ready, "systemd stand-in");
        Some(FakeSystemd {
            _mock: mock,
            _daemon: daemon,
            dir,
        })
    }

    /// The bus address (for `STRATA_RUNC_SYSTEMD_BUS`).
    pub fn address(&self) -> String {
        format!("unix:path={}", self.dir.path().join("bus").display())
    }

    /// The stand-in's log: one JSON object a line (`method`, `name`, `mode`, `props`).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("calls.jsonl")
    }

    /// The lines of the log so far.
    pub fn call_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn wait_for(p: &Path, what: &str) {
    let t = Instant::now();
    while !p.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what} did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
