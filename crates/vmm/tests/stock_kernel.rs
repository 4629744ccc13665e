//! Booting Debian's stock cloud kernel (unpacked by scripts/setup.d/vmm.sh, never into
//! /boot) with a busybox initramfs whose /init prints a marker and reboots.
//!
//! On a PVM-flavoured /dev/kvm stock Linux cannot boot: KVM's instruction emulator, which
//! runs the guest's CPL 0 code there, stops at cmpxchg16b with an internal error. This test
//! then says so on stderr (outside the captured output, so it shows in the test run) and
//! passes only if the VMM reported exactly that, as a KVM internal error with status 4.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const KERNEL_DIR: &str = "/var/cache/strata/kernel/boot";
const MARKER: &str = "STRATA-LINUX-INIT-READY";

fn find(prefix: &str) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(KERNEL_DIR)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v.pop()
}

fn note(msg: &str) {
    // Written straight to the process's stderr so the harness does not capture it.
    let _ = writeln!(std::io::stderr().lock(), "NOTE stock-kernel: {msg}");
}

/// A newc initramfs: busybox-static as /bin/busybox and an /init that prints the marker.
fn initramfs() -> PathBuf {
    let root = scratch().join("initramfs-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static installed");
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox mkdir -p /proc\n/bin/busybox mount -t proc proc /proc\n\
         echo {MARKER} $(/bin/busybox cat /proc/uptime)\n/bin/busybox reboot -f\n"
    );
    std::fs::write(root.join("init"), init).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = scratch().join("initramfs.cpio");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . | cpio -o -H newc --quiet > {}",
            root.display(),
            out.display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "cpio failed");
    out
}

fn boot(kernel: &Path) {
    let initrd = initramfs();
    let o = run_vmm_timeout(
        &[
            "--kernel",
            kernel.to_str().unwrap(),
            "--initrd",
            initrd.to_str().unwrap(),
            "--cmdline",
            "console=ttyS0 reboot=k panic=-1 quiet",
            "--mem",
            "256",
        ],
        Duration::from_secs(240),
    );
    let out = stdout(&o);
    let err = stderr(&o);
    if out.contains(MARKER) {
        assert_eq!(
            o.status.code(),
            Some(0),
            "guest reached init but the vmm exited badly: {err}"
        );
        note(&format!(
            "{} booted to init and rebooted: vmm exit 0",
            kernel.display()
        ));
        return;
    }
    if is_pvm() {
        // The expected limit of this host, reported as such, never a silent pass.
        let line = err
            .lines()
            .find(|l| l.contains("kvm internal error"))
            .unwrap_or("");
        note(&format!(
            "PVM host: stock Linux cannot boot on this /dev/kvm ({}): {line}",
            kernel.display()
        ));
        assert_eq!(
            o.status.code(),
            Some(4),
            "on PVM the vmm must stop with a kvm internal error (status 4); got {:?}\n{err}",
            o.status.code()
        );
        assert!(
            line.contains("dispatcher: vcpu 0: kvm internal error: instruction emulation failure"),
            "{err}"
        );
        return;
    }
    panic!(
        "stock kernel did not reach init (status {:?}):\nstdout:\n{out}\nstderr:\n{err}",
        o.status.code()
    );
}

#[test]
fn stock_debian_kernel_boots_or_reports_pvm_limit() {
    if !require_kvm() {
        return;
    }
    let Some(vmlinux) = find("vmlinux-") else {
        require(
            false,
            &format!("no stock kernel in {KERNEL_DIR} (run scripts/setup.d/vmm.sh)"),
        );
        return;
    };
    // The ELF vmlinux carries the PVH note: the VMM enters it through PVH.
    boot(&vmlinux);
}
