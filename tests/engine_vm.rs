//! `strata run --isolation vm`: the container runs in a microVM with its own kernel (QEMU
//! with TCG on this PVM host), through the same monitor, logs, exit statuses, stop and rm
//! as any container; what it shares with the host kernel otherwise (its release, boot id,
//! modules) is not the host's; nothing of the VM is left on the host.

mod common;

use common::{output_via_files, prerequisites, Engine};
use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const IMG: &str = "localhost/busybox";

/// The static agent the guest's initramfs carries (built once).
fn agent() -> &'static PathBuf {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/agent/build-static.sh");
        let out = std::process::Command::new(script)
            .output()
            .expect("build the agent");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
    })
}

fn vm(e: &Engine, args: &[&str]) -> Output {
    output_via_files(e.cmd().env("STRATA_AGENT", agent()).args(args))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn host(p: &str) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn a_vm_container_has_its_own_kernel_and_the_usual_lifecycle() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // Attached, removed at its end: the guest's kernel, not the host's; its exit status.
    let o = vm(
        &e,
        &["run", "--rm", "--isolation", "vm", IMG, "sh", "-c",
          "uname -r; cat /proc/sys/kernel/random/boot_id; grep -c virtio /proc/modules; echo to-err >&2; exit 4"],
    );
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(o.status.code(), Some(4), "{out}{}", text(&o.stderr));
    let release = strata_vmpod_release();
    assert_eq!(lines[0], release);
    assert_ne!(lines[0], host("/proc/sys/kernel/osrelease"));
    assert_ne!(lines[1], host("/proc/sys/kernel/random/boot_id"));
    // The guest's modules (its virtio drivers), whatever the host has loaded (or whether it
    // loads modules at all).
    assert!(lines[2].trim().parse::<usize>().unwrap() >= 3, "{out}");
    assert!(text(&o.stderr).contains("to-err"));
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm removed it");
    // Detached: logs, describe's VM and Hypervisor layers, stop (SIGTERM passed on, then
    // SIGKILL), rm; the VMM goes with it.
    let id = text(
        &vm(
            &e,
            &[
                "run",
                "-d",
                "--name",
                "v1",
                "--isolation",
                "vm",
                IMG,
                "sh",
                "-c",
                "trap 'echo got-term; exit 7' TERM; echo started; while true; do sleep 1; done",
            ],
        )
        .stdout,
    )
    .trim()
    .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let t0 = Instant::now();
    while !e.ok(&["logs", "v1"]).contains("started") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no output from the VM container"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let d = e.ok(&["describe", "v1"]);
    assert!(d.contains(&format!("guest kernel {release}")), "{d}");
    assert!(d.contains("qemu (tcg") || d.contains("qemu (kvm"), "{d}");
    let vmm: i32 = d
        .split("VMM pid ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the VMM's pid in describe");
    assert!(std::path::Path::new(&format!("/proc/{vmm}")).exists());
    e.ok(&["stop", "-t", "20", "v1"]);
    let st = e.inspect("v1");
    assert_eq!(
        st["State"]["ExitCode"], 7,
        "the trap ran in the guest: {st}"
    );
    assert!(e.ok(&["logs", "v1"]).contains("got-term"));
    let t0 = Instant::now();
    while std::path::Path::new(&format!("/proc/{vmm}")).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the VMM outlived its container"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    e.ok(&["rm", "v1"]);
    // What VM containers do not do yet is refused, naming the layer.
    let (code, _, err) = e.status(&["run", "--rm", "-t", "--isolation", "vm", IMG, "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("[layer: vm]") && err.contains("terminal"),
        "{err}"
    );
    let (code, _, err) = e.status(&["run", "--rm", "--isolation", "vmx", IMG, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("use container or vm"), "{err}");
}

/// The guest kernel's release (the unpacked kernel's directory name).
fn strata_vmpod_release() -> String {
    let boot = std::fs::read_dir("/var/cache/strata/kernel/boot")
        .expect("the guest kernel (scripts/install-deps)");
    boot.flatten()
        .find_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_string)
        })
        .expect("a vmlinuz")
}
