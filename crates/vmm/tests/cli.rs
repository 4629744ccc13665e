//! Command-line and config-file behaviour: one-shot boots from JSON, and clear errors (exit
//! status 2, one line naming the layer) before any guest code runs.

mod common;
use common::*;

fn expect_config_error(args: &[&str], needle: &str) {
    let o = run_vmm(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
    assert!(stdout(&o).is_empty(), "guest code ran: {}", stdout(&o));
    assert_eq!(e.lines().count(), 1, "one-line error expected: {e}");
}

#[test]
fn no_kernel() {
    expect_config_error(&["--mem", "32"], "strata-vmm: config: no kernel");
}

#[test]
fn missing_kernel_file() {
    expect_config_error(
        &["--kernel", "/nonexistent/vmlinux"],
        "boot /nonexistent/vmlinux: open kernel",
    );
}

#[test]
fn bad_image() {
    let p = scratch_file("not-a-kernel", &[0x42u8; 4096]);
    expect_config_error(
        &["--kernel", p.to_str().unwrap()],
        "bad image: neither an ELF nor a bzImage",
    );
}

#[test]
fn no_kvm_device() {
    let k = guest("microguest");
    expect_config_error(
        &["--kernel", k.to_str().unwrap(), "--kvm", "/nonexistent/kvm"],
        "kvm /nonexistent/kvm: open: No such file or directory",
    );
}

#[test]
fn more_memory_than_the_host() {
    let k = guest("microguest");
    expect_config_error(
        &["--kernel", k.to_str().unwrap(), "--mem", "100000000"],
        "more than the host has",
    );
}

#[test]
fn too_many_vcpus() {
    let k = guest("microguest");
    expect_config_error(
        &["--kernel", k.to_str().unwrap(), "--vcpus", "0"],
        "vcpu_count 0",
    );
}

#[test]
fn malformed_config() {
    let p = scratch_file("bad.json", b"{\"boot-source\": ");
    expect_config_error(&["--config", p.to_str().unwrap()], "malformed json");
    let p = scratch_file("unknown.json", br#"{"machine-config": {"cpus": 1}}"#);
    expect_config_error(&["--config", p.to_str().unwrap()], "unknown field `cpus`");
    expect_config_error(
        &["--config", "/nonexistent.json"],
        "config /nonexistent.json: read",
    );
}

#[test]
fn help_explains() {
    let o = run_vmm(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for w in [
        "--config",
        "--kernel",
        "--initrd",
        "--cmdline",
        "--mem",
        "--vcpus",
        "--log-level",
    ] {
        assert!(h.contains(w), "{w} missing from help");
    }
}

#[test]
fn boots_from_config_file_with_flag_override() {
    if !require_kvm() {
        return;
    }
    let k = guest("linux64-bz");
    let cfg = format!(
        r#"{{"boot-source": {{"kernel_image_path": "{}", "boot_args": "from=config"}},
            "machine-config": {{"vcpu_count": 1, "mem_size_mib": 48}}}}"#,
        k.display()
    );
    let p = scratch_file("vm.json", cfg.as_bytes());
    let o = run_vmm(&["--config", p.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(kv(&out, "CMDLINE").unwrap(), "from=config");
    assert!(
        out.contains("E820=0000000000100000 0000000002f00000 0000000000000001"),
        "{out}"
    );
    let o = run_vmm(&["--config", p.to_str().unwrap(), "--cmdline", "from=flag"]);
    assert_eq!(kv(&stdout(&o), "CMDLINE").unwrap(), "from=flag");
}

#[test]
fn serial_to_file() {
    if !require_kvm() {
        return;
    }
    let k = guest("microguest");
    let log = scratch().join("serial.log");
    let _ = std::fs::remove_file(&log);
    let o = run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--serial",
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "GUEST-INIT-READY microguest\r\n"
    );
}

#[test]
fn serial_to_unix_socket() {
    if !require_kvm() {
        return;
    }
    let k = guest("microguest");
    let path = scratch().join("serial.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let (mut s, _) = listener.accept().unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    let arg = format!("unix:{}", path.display());
    let o = run_vmm(&["--kernel", k.to_str().unwrap(), "--serial", &arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), "GUEST-INIT-READY microguest\r\n");
    let _ = std::fs::remove_file(&path);
    // No listener: a clear config error before the guest runs.
    let o = run_vmm(&["--kernel", k.to_str().unwrap(), "--serial", &arg]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("serial output unix:"), "{}", stderr(&o));
}

#[test]
fn serial_input_from_stdin_pipe() {
    if !require_kvm() {
        return;
    }
    use std::io::Write;
    let k = guest("echo");
    let mut child = std::process::Command::new(vmm_bin())
        .args(["--kernel", k.to_str().unwrap(), "--mem", "32"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from the host\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(kv(&stdout(&o), "ECHO").unwrap(), "hello from the host");
}
