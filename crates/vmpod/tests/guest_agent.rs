//! A VM pod's guest end to end under QEMU (TCG on this PVM host): Debian's cloud kernel
//! boots the initramfs with strata-agent as init, the agent loads the virtio modules and
//! answers on its virtio-serial port: the guest's own kernel release and boot id (not the
//! host's), a program's output and exit status, a container run by the OCI runtime in the
//! guest on an overlay of two erofs layer disks, and a power-off that ends QEMU; and the
//! agent's crash, reported as the VM layer's fault.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use strata_vmpod::agent::Agent;
use strata_vmpod::initramfs::{self, Contents};
use strata_vmpod::kernel::{self, Kernel, GUEST_MODULES, ON_DEMAND_MODULES};
use strata_vmpod::qemu::{Accel, Vm, VmSpec};

/// The static agent, built as the initramfs carries it.
fn agent_binary() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/build-static.sh");
    let out = Command::new(&script).output().expect("run build-static.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(path.lines().last().unwrap().trim())
}

fn host(p: &str) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

/// A guest booted from an initramfs with the agent and busybox, with two layer disks (see
/// [`image_layer`]) and the SCSI controller of a pod VM; its kernel, VM, agent and layers.
struct Booted {
    k: Kernel,
    vm: Vm,
    a: Agent,
    busybox: PathBuf,
    layers: [(&'static str, PathBuf); 2],
}

fn boot(dir: &std::path::Path) -> Booted {
    let k = Kernel::find(&kernel::default_dir())
        .unwrap_or_else(|e| panic!("{e} (scripts/install-deps unpacks it)"));
    let busybox = which("busybox");
    let initrd = dir.join("initramfs.cpio");
    let agent = agent_binary();
    initramfs::build(
        &initrd,
        &Contents {
            agent: &agent,
            kernel: &k,
            modules: GUEST_MODULES,
            on_demand: ON_DEMAND_MODULES,
            busybox: Some(&busybox),
        },
    )
    .unwrap();
    let layers = [
        ("layer0", image_layer(dir, 0, &busybox)),
        ("layer1", image_layer(dir, 1, &busybox)),
    ];
    let (accel, why) = Accel::pick();
    let vm = Vm::start(&VmSpec {
        device_disks: Vec::new(),
        kernel: k.image.clone(),
        initrd,
        memory_mib: 256,
        vcpus: 1,
        dir: dir.to_path_buf(),
        accel,
        disks: layers
            .iter()
            .map(|(s, p)| (s.to_string(), p.clone()))
            .collect(),
        hotplug_disks: true,
        shared: false,
        nics: Vec::new(),
    })
    .unwrap_or_else(|e| panic!("{e} ({accel:?}: {why})"));
    let a = Agent::connect(&vm.agent_socket, Duration::from_secs(60)).unwrap();
    Booted {
        k,
        vm,
        a,
        busybox,
        layers,
    }
}

#[test]
fn the_agent_answers_from_the_guests_own_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let Booted {
        k,
        mut vm,
        a,
        busybox,
        layers,
    } = boot(dir.path());
    let hello = a
        .hello()
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    assert_eq!(hello.kernel, k.release);
    assert_ne!(hello.kernel, host("/proc/sys/kernel/osrelease"));
    assert_ne!(hello.boot_id, host("/proc/sys/kernel/random/boot_id"));
    // The guest's modules, not the host's.
    let out = a.exec(&["/bin/busybox", "cat", "/proc/modules"]).unwrap();
    let modules = String::from_utf8_lossy(&out.stdout);
    assert!(modules.contains("virtio_console"), "{modules}");
    assert_eq!(out.code, 0);
    let out = a
        .exec(&["/bin/sh", "-c", "echo to-err >&2; exit 7"])
        .unwrap();
    assert_eq!((out.stderr.as_slice(), out.code), (&b"to-err\n"[..], 7));
    let err = a.exec(&["/nonexistent"]).unwrap_err().to_string();
    assert!(
        err.contains("[layer: vm]") && err.contains("nonexistent"),
        "{err}"
    );
    // A container: the guest's runtime on the overlay of both layers (the top one wins).
    let mut spec = default_spec(dir.path());
    spec["process"]["args"] = serde_json::json!([
        "/bin/sh",
        "-c",
        "uname -r; hostname; cat /etc/motd; cat /proc/1/cmdline; echo; exit 3"
    ]);
    spec["process"]["terminal"] = false.into();
    spec["hostname"] = "vmpod".into();
    let out = a
        .run_container("c1", &spec, &["layer0".into(), "layer1".into()])
        .and_then(|r| r.collect())
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\nvmpod\ntop\n/bin/sh\0-c\0uname -r; hostname; cat /etc/motd; cat /proc/1/cmdline; echo; exit 3\0\n", k.release),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.code, 3);
    // A bad id from the host is refused in the guest, which keeps serving.
    let err = a
        .run_container("../x", &spec, &["layer0".into()])
        .and_then(|r| r.collect())
        .unwrap_err()
        .to_string();
    // A long-running container and a kill sent while it runs (requests in flight together).
    spec["process"]["args"] = serde_json::json!(["/bin/sh", "-c", "echo up; exec sleep 1000"]);
    let mut run = a.run_container("c2", &spec, &["layer0".into()]).unwrap();
    use strata_vmpod::agent::Event;
    assert_eq!(
        run.next_event().unwrap(),
        Some(Event::Output(1, b"up\n".to_vec()))
    );
    a.kill("c2", 9).unwrap();
    assert_eq!(run.next_event().unwrap(), Some(Event::Exit(137)));
    assert!(err.contains("container id"), "{err}");
    assert_eq!(a.exec(&["/bin/busybox", "true"]).unwrap().code, 0);
    // An orphan of the guest (a program's background child) is reaped by the agent, its
    // init: no zombie stays with parent 1.
    let out = a.exec(&["/bin/sh", "-c", "sleep 0.2 & exit 0"]).unwrap();
    assert_eq!(out.code, 0);
    std::thread::sleep(Duration::from_secs(3));
    let stats = a
        .exec(&["/bin/sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"])
        .unwrap();
    let zombies: Vec<String> = String::from_utf8_lossy(&stats.stdout)
        .lines()
        .filter(|l| {
            let mut f = l.rsplit(')').next().unwrap_or("").split_whitespace();
            (f.next(), f.next()) == (Some("Z"), Some("1"))
        })
        .map(str::to_string)
        .collect();
    assert!(zombies.is_empty(), "{zombies:?}");
    // A layer the VM did not boot with, hot-plugged as a SCSI disk while the guest runs (a
    // pod's later container), read by a container: its content.
    let qmp = std::sync::Arc::new(strata_vmpod::qmp::Shared::new(dir.path()));
    let slots = strata_vmpod::slots::Slots::new(qmp);
    let late = image_layer(dir.path(), 2, &busybox);
    let ask = |s: &[String]| a.unused_disks(s);
    let serials = slots
        .attach(&[layers[0].1.clone(), late.clone()], &ask)
        .unwrap()
        .serials;
    assert_eq!(serials, ["scsi:slot0", "scsi:slot1"]);
    let again = slots.attach(&[late], &ask).unwrap();
    assert_eq!(again.serials, ["scsi:slot1"], "attached once");
    assert_eq!(again.disks, [1]);
    spec["process"]["args"] = serde_json::json!(["/bin/cat", "/etc/motd"]);
    let out = a
        .run_container("c3", &spec, &serials)
        .and_then(|r| r.collect())
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    assert_eq!(
        (String::from_utf8_lossy(&out.stdout).as_ref(), out.code),
        ("attached later\n", 0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same id runs again once it ended (its mounts were released).
    let again = a
        .run_container("c3", &spec, &serials)
        .and_then(|r| r.collect());
    assert_eq!(again.map(|o| o.code).ok(), Some(0));
    // The guest holds a disk while a container has it mounted, and lets go after its run.
    spec["process"]["args"] = serde_json::json!(["/bin/sh", "-c", "echo up; exec sleep 1000"]);
    let mut run = a.run_container("c4", &spec, &serials).unwrap();
    assert_eq!(
        run.next_event().unwrap(),
        Some(Event::Output(1, b"up\n".to_vec()))
    );
    assert_eq!(a.unused_disks(&serials).unwrap(), Vec::<String>::new());
    a.kill("c4", 9).unwrap();
    assert_eq!(run.next_event().unwrap(), Some(Event::Exit(137)));
    let t0 = std::time::Instant::now();
    while a.unused_disks(&serials).unwrap() != serials {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the disks stay held"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // An answer is checked against the question: an unknown disk is never in it.
    assert_eq!(
        a.unused_disks(&["nosuchdisk".to_string()]).unwrap(),
        Vec::<String>::new()
    );
    a.shutdown().unwrap();
    let st = vm.wait(Duration::from_secs(30)).unwrap();
    assert!(st.success(), "qemu: {st}");
}

/// The agent crashing (its code overwritten from the guest's root, as a wild write would
/// do it): it is the guest's init, so the guest kernel panics and QEMU exits; the fault the
/// shim reports names the agent and the VM layer.
#[test]
fn an_agent_crash_is_reported_as_the_vm_layers_fault() {
    let dir = tempfile::tempdir().unwrap();
    let Booted { mut vm, a, .. } = boot(dir.path());
    a.hello()
        .unwrap_or_else(|e| panic!("{e}\nconsole:\n{}", vm.console_text()));
    let crash = "set -- $(grep -m1 ' r-xp ' /proc/1/maps | tr '-' ' '); \
                 dd if=/dev/zero of=/proc/1/mem bs=4096 seek=$((0x$1 / 4096)) \
                 count=$(((0x$2 - 0x$1) / 4096)) conv=notrunc 2>/dev/null";
    // The reply may never come: the agent dies answering.
    let _ = a.exec(&["/bin/sh", "-c", crash]);
    let why = vm.fault("the agent's connection ended");
    assert!(
        why.contains("the guest agent (its init) crashed")
            && why.contains("Attempted to kill init"),
        "{why}\nconsole:\n{}",
        vm.console_text()
    );
    vm.wait(Duration::from_secs(30))
        .expect("QEMU ends with its guest's panic");
}

/// Layer `n` of a test image as an erofs disk: layer 0 has busybox and `/etc/motd`
/// "bottom", layer 1 only `/etc/motd` "top", layer 2 only `/etc/motd` "attached later".
fn image_layer(dir: &std::path::Path, n: u32, busybox: &std::path::Path) -> PathBuf {
    let root = dir.join(format!("layer{n}"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    if n == 0 {
        for d in ["bin", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for a in ["sh", "cat", "uname", "hostname", "echo"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
    }
    let motd = ["bottom\n", "top\n", "attached later\n"][n as usize];
    std::fs::write(root.join("etc/motd"), motd).unwrap();
    let img = dir.join(format!("layer{n}.erofs"));
    strata_vmpod::erofs::build(&root, &img).unwrap();
    img
}

/// `strata-runc spec`'s default config.
fn default_spec(dir: &std::path::Path) -> serde_json::Value {
    let bundle = dir.join("spec");
    std::fs::create_dir_all(&bundle).unwrap();
    let st = Command::new(strata_testkit::workspace_bin("strata-runc"))
        .arg("spec")
        .current_dir(&bundle)
        .status()
        .unwrap();
    assert!(st.success());
    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found (scripts/install-deps installs it)"))
}
