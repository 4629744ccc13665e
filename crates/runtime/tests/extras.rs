//! Less common parts of the spec: terminals through --console-socket, time namespaces,
//! personality, --no-pivot, the seccomp notify listener, hooks inside the container.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Receives one fd (SCM_RIGHTS) and returns it with the bytes that came along.
fn recv_fd(sock: &std::os::unix::net::UnixStream) -> (OwnedFd, Vec<u8>) {
    let mut data = vec![0u8; 8192];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = [0u8; 64];
    // SAFETY: zeroed msghdr is valid; buffers outlive recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = cbuf.len();
    // SAFETY: `msg` describes live buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the kernel filled the control buffer; we expect one SCM_RIGHTS header.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd received");
        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)
    };
    data.truncate(n as usize);
    // SAFETY: the descriptor was just received and is ours.
    (unsafe { OwnedFd::from_raw_fd(fd) }, data)
}

/// Accepts one connection on a console socket, takes the pty master and reads it until `until`
/// shows up (or to the end). The master is returned too, so the terminal stays open.
fn console_reader(
    listener: UnixListener,
    until: Option<&'static str>,
) -> std::thread::JoinHandle<(String, std::fs::File)> {
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let (master, _) = recv_fd(&s);
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while !until.is_some_and(|u| String::from_utf8_lossy(&out).contains(u)) {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        (String::from_utf8_lossy(&out).into_owned(), f)
    })
}

#[test]
fn terminal_through_console_socket_for_create_and_exec() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new("tty", &["/bin/sh", "-c", "tty; stty size; sleep 100"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    let sock_path = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let t = console_reader(listener, Some("30 100"));
    rt.ok(&[
        "create",
        "-b",
        b.path().to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        "tty",
    ]);
    rt.ok(&["start", "tty"]);
    let (out, _master) = t.join().unwrap();
    assert!(
        out.contains("/dev/pts/0") || out.contains("/dev/console"),
        "{out:?}"
    );
    assert!(out.contains("30 100"), "{out:?}");

    // exec -t with its own console socket
    let sock2 = b.path().join("exec.sock");
    let listener = UnixListener::bind(&sock2).unwrap();
    let t = console_reader(listener, None);
    let o = rt.run(&[
        "exec",
        "-t",
        "--console-socket",
        sock2.to_str().unwrap(),
        "tty",
        "/bin/tty",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (out, _) = t.join().unwrap();
    assert!(out.contains("/dev/pts/"), "{out:?}");
    rt.ok(&["delete", "-f", "tty"]);
}

#[test]
fn time_namespace_offsets_personality_and_no_pivot() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new(
        "timens",
        &["/bin/sh", "-c", "cut -d. -f1 /proc/uptime; uname -m"],
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    let (code, out, err) = rt.run_bundle(&b, "timens");
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    let up: u64 = l[0].parse().unwrap();
    assert!(up >= 864000, "uptime {up} lacks the boottime offset");
    assert_eq!(l[1], "i686");

    let b = Bundle::new("nopivot", &["/bin/sh", "-c", "cat /etc/hostname"]);
    let o = rt.run(&[
        "run",
        "--no-pivot",
        "-b",
        b.path().to_str().unwrap(),
        "nopivot",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "localhost\n");
}

#[test]
fn seccomp_notify_listener_gets_the_fd_and_state() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new(
        "notify",
        &["/bin/sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"],
    );
    let sock_path = b.path().join("seccomp.sock");
    let sp = sock_path.to_str().unwrap().to_string();
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sp,
            "listenerMetadata": "strata-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let listener = UnixListener::bind(&sock_path).unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let (fd, data) = recv_fd(&s);
        let st: serde_json::Value = serde_json::from_slice(&data).unwrap();
        // Answer the one notification: mkdir fails with EACCES.
        let req = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
        let resp = libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EACCES,
            libseccomp::ScmpNotifRespFlags::empty(),
        );
        resp.respond(fd.as_raw_fd()).unwrap();
        st
    });
    let (code, out, err) = rt.run_bundle(&b, "notify");
    assert_eq!(code, 0, "{err}");
    let st = t.join().unwrap();
    assert_eq!(st["fds"], json!(["seccompFd"]));
    assert_eq!(st["metadata"], "strata-test");
    assert_eq!(st["state"]["id"], "notify");
    assert!(out.contains("Permission denied"), "{out}");
}

#[test]
fn create_and_start_container_hooks_run_inside() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new("inhooks", &["/bin/cat", "/tmp/started"]);
    let host_log = b.path().join("created.log");
    let hl = host_log.to_str().unwrap().to_string();
    b.edit(|c| {
        c["hooks"] = json!({
            // createContainer: in the container's namespaces, before pivot_root
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("hostname > {hl}")]}],
            // startContainer: inside the container, after start
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read s; echo started > /tmp/started"]}]
        });
        c["hostname"] = json!("hooked");
    });
    let (code, out, err) = rt.run_bundle(&b, "inhooks");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "started\n");
    assert_eq!(std::fs::read_to_string(&host_log).unwrap(), "hooked\n");
}

#[test]
fn rootfs_propagation_and_mount_propagation_options() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let src = tempfile::tempdir().unwrap();
    // Default: the rootfs is a slave of the host (runc's rslave); rootfsPropagation=private
    // makes it private; a bind with "rshared" is shared inside the container.
    let script = "awk '$5 == \"/\" {print $7}' /proc/self/mountinfo; \
        awk '$5 == \"/shared\" {print $7}' /proc/self/mountinfo";
    let mut b = Bundle::new("prop", &["/bin/sh", "-c", script]);
    let sp = src.path().to_str().unwrap().to_string();
    b.edit(|c| {
        c["linux"]["rootfsPropagation"] = json!("private");
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": sp, "options": ["rbind", "rshared"]
        }));
    });
    let (code, out, err) = rt.run_bundle(&b, "prop");
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert!(
        !l[0].starts_with("master:") && !l[0].starts_with("shared:"),
        "rootfs not private: {out}"
    );
    assert!(l[1].starts_with("shared:"), "bind not shared: {out}");
}

#[test]
fn idmapped_bind_mount_shows_mapped_owners() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("f");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
    // As in the runtime spec: ids on the source file system are the mapping's containerID
    // side and appear as its hostID side (a file owned by 0 on disk shows as 1000 here, which
    // a container whose user namespace maps 0 to 1000 would see as its root).
    let mut b = Bundle::new(
        "idmap",
        &["/bin/sh", "-c", "stat -c '%u %g' /plain/f /mapped/f"],
    );
    let sp = src.path().to_str().unwrap().to_string();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(
            json!({"destination": "/plain", "type": "bind", "source": sp, "options": ["rbind"]}),
        );
        m.push(json!({
            "destination": "/mapped", "type": "bind", "source": sp, "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]
        }));
    });
    let (code, out, err) = rt.run_bundle(&b, "idmap");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["0 0", "1000 2000"]);
    // The file on the host is untouched.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), 0);
}
