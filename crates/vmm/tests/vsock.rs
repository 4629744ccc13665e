//! virtio-vsock with the hybrid (unix socket) host side: the host connects with
//! `CONNECT <port>`, the guest (an echo server) accepts, data goes both ways, and closing
//! the host socket shuts the guest's stream down.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;

/// Starts the vsock echo guest with its hybrid socket at scratch `sock` and reads its output
/// up to the READY line. Returns the VMM, its remaining stdout, the socket path and the
/// lines read. The VMM is killed (by pid) if the test fails before it exits.
fn start_echo_guest(
    sock: &str,
    stderr: Stdio,
) -> (ChildGuard, BufReader<ChildStdout>, PathBuf, Vec<String>) {
    let k = guest("vsock");
    let uds = scratch().join(sock);
    let _ = std::fs::remove_file(&uds);
    let vsock_arg = format!("3,{}", uds.display());
    let child = Command::new(vmm_bin())
        .args([
            "--kernel",
            k.to_str().unwrap(),
            "--mem",
            "64",
            "--vsock",
            &vsock_arg,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut vmm = ChildGuard(child);
    let mut out = BufReader::new(vmm.0.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "guest ended early: {lines:?}"
        );
        let done = l.starts_with("READY");
        lines.push(l);
        if done {
            break;
        }
    }
    (vmm, out, uds, lines)
}

#[test]
fn host_connects_to_guest_echo_server() {
    if !require_kvm() {
        return;
    }
    let (mut vmm, mut out, uds, lines) = start_echo_guest("vsock.sock", Stdio::piped());
    assert!(
        lines.iter().any(|l| l.trim() == "CID=0000000000000003"),
        "{lines:?}"
    );

    let mut s = UnixStream::connect(&uds).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"CONNECT 5000\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut ok = String::new();
    r.read_line(&mut ok).unwrap();
    assert_eq!(ok, "OK 1073741824\n");
    s.write_all(b"ping-strata\n").unwrap();
    let mut echo = [0u8; 12];
    r.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping-strata\n");
    drop(r);
    drop(s);

    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = vmm.0.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "vmm did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    vmm.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(kvh(&rest, "REQUEST_PORT"), 5000);
    assert_eq!(kv(&rest, "GOT").unwrap(), "ping-strata");
    assert_eq!(kvh(&rest, "CLOSED_OP"), 4, "host close becomes SHUTDOWN");
    assert!(!uds.exists(), "vsock socket left behind");
}

#[test]
fn connect_to_unknown_guest_port_is_refused_cleanly() {
    if !require_kvm() {
        return;
    }
    // A guest without a listener on port 7 never answers with RESPONSE; the handshake line
    // must be well-formed, and garbage closes the connection without harming the VM.
    let (mut vmm, _out, uds, _) = start_echo_guest("vsock2.sock", Stdio::null());
    let mut s = UnixStream::connect(&uds).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HELLO there\n").unwrap();
    let mut b = [0u8; 16];
    assert_eq!(
        s.read(&mut b).unwrap_or(0),
        0,
        "bad handshake must be closed"
    );
    assert!(
        vmm.0.try_wait().unwrap().is_none(),
        "the vm must survive a bad handshake"
    );
}
