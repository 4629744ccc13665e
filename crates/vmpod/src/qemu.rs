//! The QEMU backend: Debian's qemu-system-x86_64 with the `microvm` machine (no PCI, no
//! firmware; its virtio-mmio devices are announced through ACPI, which the cloud kernel
//! reads). KVM where it can boot Linux; TCG on PVM hosts, where no VMM boots a stock kernel,
//! or without /dev/kvm. The agent's port is a virtio-serial port on a unix socket QEMU
//! serves; the guest's console goes to a log file.

use crate::{io_err, Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How QEMU runs guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// Software emulation.
    Tcg,
}

impl Accel {
    /// KVM when it boots Linux here; TCG on a PVM host or without /dev/kvm. `$STRATA_VM_ACCEL`
    /// (`kvm` or `tcg`) forces one; another value is said (on the shim's log) and ignored.
    /// Also why.
    pub fn pick() -> (Accel, &'static str) {
        match std::env::var("STRATA_VM_ACCEL").as_deref() {
            Ok("kvm") => return (Accel::Kvm, "forced by STRATA_VM_ACCEL"),
            Ok("tcg") => return (Accel::Tcg, "forced by STRATA_VM_ACCEL"),
            Ok(other) => eprintln!("STRATA_VM_ACCEL={other:?}: neither kvm nor tcg; ignored"),
            Err(_) => {}
        }
        if !Path::new("/dev/kvm").exists() {
            (Accel::Tcg, "no /dev/kvm")
        } else if Path::new("/sys/module/kvm_pvm").exists() {
            (Accel::Tcg, "PVM-flavoured KVM cannot boot a stock kernel")
        } else {
            (Accel::Kvm, "hardware virtualization")
        }
    }
}

/// A VM to boot.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// The kernel image (the ELF vmlinux booted through its PVH note, or the bzImage).
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// Guest memory (MiB).
    pub memory_mib: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// A directory for the VM's sockets and console log (the caller's; removed by it).
    pub dir: PathBuf,
    /// Acceleration.
    pub accel: Accel,
    /// Read-only disks (a container image's layers): serial and image file.
    pub disks: Vec<(String, PathBuf)>,
    /// A container's block devices (`--device`), writable unless given without `w`.
    pub device_disks: Vec<crate::devices::Disk>,
    /// A SCSI controller for the disks attached later (its containers' layers and block
    /// devices) and QMP to attach them ([`crate::slots`], [`crate::scsi`]): a pod's VM.
    pub hotplug_disks: bool,
    /// A virtio-fs device on virtiofsd's socket in `dir` ([`crate::shared`]): the VM's
    /// volumes.
    pub shared: bool,
    /// Network interfaces, each on a TAP that QEMU makes in its network namespace
    /// ([`crate::tap::tap_name`] of its index), with these MACs.
    pub nics: Vec<String>,
}

impl VmSpec {
    /// The virtio transports the VM takes: one per disk, network card and port, the
    /// virtio-fs device, and a pod VM's SCSI controller.
    fn transports(&self) -> usize {
        let pod = match self.hotplug_disks {
            true => crate::scsi::TRANSPORTS,
            false => 0,
        };
        1 + self.disks.len()
            + self.device_disks.len()
            + self.nics.len()
            + pod
            + usize::from(self.shared)
    }
}

/// A running VM (QEMU ends when this is dropped).
pub struct Vm {
    child: Child,
    /// The agent port's socket.
    pub agent_socket: PathBuf,
    /// The guest console's log.
    pub console: PathBuf,
}

/// The host's TSC rate in kHz (TCG's guest TSC runs at it; telling the kernel avoids a
/// calibration against the PIT that TCG's jitter can fail).
fn tsc_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0) as u64)
}

/// TCG's translation cache of a VM, in MiB, by default: host memory each VM costs beyond its
/// guest's, up to this size (QEMU's default is a gigabyte), and the size that keeps a VM
/// container's VM and a pod's VM within issue 12's 40 MiB each. A guest here translates ~57
/// MiB of code by the time its first container's process runs (QEMU `info jit`), then ~1 MiB
/// more per container started; a smaller cache makes QEMU translate what runs again after
/// each flush (it flushes all). Medians of 5 here, a VM container's `strata run --rm` to its
/// exit / its VM's own memory: 32 MiB 2788 ms / 51 MiB, 24: 2847 ms / 42 MiB, 20: 2892 ms /
/// 38 MiB, 16: 3181 ms / 33 MiB; an exec in a running VM container does not feel it (43 ms
/// at 20 and 32). A pod VM runs container after container, and what one container's start
/// runs does not stay in 20 MiB until the next: pod creation to its first container /
/// another container in the running pod VM / the pod VM's own memory, 32 MiB: 2343 / 160-250
/// ms / 54 MiB; 20: 2544 / 570-620 ms / 39 MiB. `STRATA_VM_TCG_CACHE_MIB=32` buys pods that
/// start many containers the quicker starts.
const TCG_CACHE_MIB: u32 = 20;

/// TCG's translation cache, in MiB: `chosen` (`$STRATA_VM_TCG_CACHE_MIB`), else
/// [`TCG_CACHE_MIB`]. A choice that is not a size from 8 to 4096 is said (on the shim's log)
/// and ignored.
fn tcg_cache_mib(chosen: Option<&str>) -> u32 {
    let default = TCG_CACHE_MIB;
    let Some(v) = chosen else {
        return default;
    };
    match v.parse() {
        Ok(m) if (8..=4096).contains(&m) => m,
        _ => {
            eprintln!(
                "STRATA_VM_TCG_CACHE_MIB={v:?}: not a size from 8 to 4096 MiB; {default} taken"
            );
            default
        }
    }
}

/// The guest CPU under TCG: every feature TCG emulates (`max`) but ERMS (and FSRM, which
/// later QEMUs offer and Linux treats alike). TCG runs a `rep` string instruction one
/// iteration per pass through its translated block, and with ERMS the guest kernel copies and
/// clears memory (memcpy, copy_{to,from}_user, clear_page) a byte per iteration (`rep
/// movsb`, `rep stosb`) where without it it takes 8 bytes (`rep movsq`): here a bare boot to
/// the agent is ~0.15 s quicker and a VM container's run to its process ~0.2 s. Programs in
/// the guest lose nothing but a hint (their memcpy picks its vector loops).
pub const TCG_CPU: &str = "max,-erms,-fsrm";

/// Kernel parameters for a quicker boot, those Kata Containers gives its guests: no crypto
/// self-tests at boot (the largest initcall here, ~0.2 s of emulated code under TCG), a TSC
/// trusted as the clock without the watchdog's checks, no check of the timer's IRQ routing,
/// expedited RCU grace periods (module loads, mounts and cgroup changes wait for them), and
/// no probing of the i8042 controller the VM lacks.
pub const BOOT_PARAMS: &str = "cryptomgr.notests tsc=reliable no_timer_check \
rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1";

/// The QEMU command line for `s` (run in `s.dir`, where its agent socket and console log
/// are made).
pub fn command(s: &VmSpec) -> Command {
    // A panic resets the guest at once by a triple fault (`reboot=t`: the kernel's other
    // reset methods can spin for minutes under a loaded TCG), and QEMU exits (-no-reboot).
    let mut append = format!("console=ttyS0 quiet panic=-1 reboot=t pci=off {BOOT_PARAMS}");
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-M",
        "microvm",
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
    ]);
    cmd.args(["-display", "none", "-monitor", "none"]);
    match s.accel {
        Accel::Kvm => {
            cmd.args(["-accel", "kvm", "-cpu", "host,-arch-capabilities"]);
        }
        Accel::Tcg => {
            cmd.args([
                "-accel",
                &format!(
                    "tcg,tb-size={}",
                    tcg_cache_mib(std::env::var("STRATA_VM_TCG_CACHE_MIB").ok().as_deref())
                ),
                "-cpu",
                TCG_CPU,
            ]);
            if let Some(k) = tsc_khz() {
                append.push_str(&format!(" tsc_early_khz={k}"));
            }
        }
    }
    cmd.arg("-smp").arg(s.vcpus.to_string());
    cmd.arg("-m").arg(format!("{}M", s.memory_mib));
    if s.shared {
        // vhost-user devices need the guest's memory shared with their daemon.
        cmd.arg("-object").arg(format!(
            "memory-backend-memfd,id=mem,size={}M,share=on",
            s.memory_mib
        ));
        cmd.args(["-machine", "memory-backend=mem"]);
        cmd.arg("-chardev")
            .arg(format!("socket,id=vfs,path={}", crate::shared::SOCKET));
        cmd.arg("-device").arg(format!(
            "vhost-user-fs-device,chardev=vfs,tag={}",
            strata_agent::SHARED_TAG
        ));
    }
    cmd.args(["-serial", "file:console.log"]);
    cmd.arg("-kernel").arg(&s.kernel);
    cmd.arg("-initrd").arg(&s.initrd);
    cmd.arg("-append").arg(append);
    for (i, (serial, file)) in s.disks.iter().enumerate() {
        cmd.arg("-drive").arg(format!(
            "id=d{i},file={},format=raw,if=none,readonly=on",
            file.display()
        ));
        cmd.arg("-device")
            .arg(format!("virtio-blk-device,drive=d{i},serial={serial}"));
    }
    for (i, d) in s.device_disks.iter().enumerate() {
        // QEMU's option syntax doubles a comma inside a value.
        let file = d.host.display().to_string().replace(',', ",,");
        let ro = if d.read_only { "on" } else { "off" };
        cmd.arg("-drive").arg(format!(
            "id=v{i},file={file},format=raw,if=none,cache=none,readonly={ro}"
        ));
        cmd.arg("-device")
            .arg(format!("virtio-blk-device,drive=v{i},serial={}", d.serial));
    }
    if s.hotplug_disks {
        cmd.args(crate::scsi::qemu_args());
        cmd.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", crate::qmp::SOCKET));
    }
    for (i, mac) in s.nics.iter().enumerate() {
        cmd.arg("-netdev").arg(format!(
            "tap,id=n{i},ifname={},script=no,downscript=no",
            crate::tap::tap_name(i)
        ));
        cmd.arg("-device")
            .arg(format!("virtio-net-device,netdev=n{i},mac={mac}"));
    }
    cmd.args(["-device", "virtio-serial-device"]);
    // Relative to QEMU's working directory (the VM's): a socket's path holds 108 bytes.
    cmd.current_dir(&s.dir);
    cmd.arg("-chardev")
        .arg("socket,id=agent,path=agent.sock,server=on,wait=off");
    cmd.arg("-device").arg(format!(
        "virtserialport,chardev=agent,name={}",
        strata_agent::PORT_NAME
    ));
    cmd
}

impl Vm {
    /// Starts QEMU; returns once its agent socket exists.
    pub fn start(s: &VmSpec) -> Result<Vm> {
        let used = s.transports();
        if used > crate::assets::TRANSPORTS {
            return Err(Error(format!(
                "vm: {} network cards and {} disks need {used} virtio transports, more than QEMU's microvm has ({}): {}",
                s.nics.len(),
                s.disks.len() + s.device_disks.len(),
                crate::assets::TRANSPORTS,
                match s.hotplug_disks {
                    true => "give the pod fewer networks",
                    false => "give the container fewer networks or block devices",
                },
            )));
        }
        let mut cmd = command(s);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; QEMU dies with whoever started it (the
            // shim), so no VM outlives its container.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        // QEMU's own messages go to a file: a pipe nobody reads could fill and stop it.
        let log = s.dir.join("qemu.log");
        let err =
            std::fs::File::create(&log).map_err(io_err(format!("qemu log {}", log.display())))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        let child = cmd
            .spawn()
            .map_err(io_err("start qemu-system-x86_64 (install qemu-system-x86)"))?;
        let mut vm = Vm {
            child,
            agent_socket: s.dir.join("agent.sock"),
            console: s.dir.join("console.log"),
        };
        let t0 = Instant::now();
        while !vm.agent_socket.exists() {
            if let Ok(Some(st)) = vm.child.try_wait() {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(Error(format!(
                    "qemu exited at start ({st}): {}",
                    err.trim()
                )));
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(Error("qemu made no agent socket in 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(vm)
    }

    /// QEMU's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether QEMU has exited.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for QEMU to exit (after the guest powered off).
    pub fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let t0 = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Ok(st),
                Ok(None) if t0.elapsed() < timeout => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    return Err(Error(format!(
                        "qemu {} still runs after {timeout:?}",
                        self.pid()
                    )))
                }
                Err(e) => return Err(Error(format!("qemu {}: {e}", self.pid()))),
            }
        }
    }

    /// Why the guest stopped answering, as a user should read it: the VMM killed (by
    /// whom it does not know), the guest kernel's panic, or the agent gone with the VM
    /// still up; `err` is what the host saw.
    pub fn fault(&mut self, err: &str) -> String {
        use std::os::unix::process::ExitStatusExt;
        // QEMU exits right after a panic (-no-reboot) or is being killed: give it a moment.
        let st = self.wait(Duration::from_secs(2)).ok();
        let console = self.console_text();
        if let Some(panic) = console
            .lines()
            .find(|l| l.contains("Kernel panic"))
            .map(|l| l.trim().to_string())
        {
            // The agent is the guest's init: its end is the kernel's panic.
            if panic.contains("Attempted to kill init") {
                return format!(
                    "the guest agent (its init) crashed; the guest kernel panicked: {panic}"
                );
            }
            return format!("the guest kernel panicked: {panic}");
        }
        match st {
            Some(st) if st.signal().is_some() => format!(
                "the VMM (qemu, pid {}) was killed by signal {}",
                self.pid(),
                st.signal().unwrap_or(0)
            ),
            Some(st) => format!("the VMM (qemu, pid {}) exited ({st}): {err}", self.pid()),
            None => format!("the guest agent stopped answering: {err}"),
        }
    }

    /// The guest console so far.
    pub fn console_text(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_vm_counts_its_scsi_controller_as_transports() {
        let mut spec = VmSpec {
            kernel: PathBuf::from("vmlinux"),
            initrd: PathBuf::from("initramfs.cpio"),
            memory_mib: 256,
            vcpus: 1,
            dir: PathBuf::from("/nonexistent"),
            accel: Accel::Tcg,
            disks: Vec::new(),
            device_disks: Vec::new(),
            hotplug_disks: true,
            shared: true,
            nics: vec!["02:00:00:00:00:01".into(); 21],
        };
        assert_eq!(spec.transports(), crate::assets::TRANSPORTS);
        spec.nics.push("02:00:00:00:00:06".into());
        let err = Vm::start(&spec).err().expect("too many").to_string();
        assert!(
            err.contains("22 network cards") && err.contains("fewer networks"),
            "{err}"
        );
    }

    #[test]
    fn a_chosen_translation_cache_is_taken_within_bounds() {
        assert_eq!(tcg_cache_mib(None), TCG_CACHE_MIB);
        assert_eq!(tcg_cache_mib(Some("64")), 64);
        assert_eq!(tcg_cache_mib(Some("16")), 16);
        for bad in ["7", "4097", "big", ""] {
            assert_eq!(tcg_cache_mib(Some(bad)), TCG_CACHE_MIB, "{bad}");
        }
    }
}
