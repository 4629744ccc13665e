//! Building a VM from a configuration and running it to its end.

use crate::allocator::bus::{Bus, SharedDevice};
use crate::allocator::irq::IrqAllocator;
use crate::allocator::layout::*;
use crate::allocator::memory::{self, GuestMemoryMmap};
use crate::boot::{self, loader, params, Entry};
use crate::config::VmConfig;
use crate::dispatcher::exit::VcpuOutcome;
use crate::dispatcher::kick;
use crate::dispatcher::vcpu::{self, Buses, VcpuShared};
use crate::error::{Error, Result};
use crate::interpreter::virtio::{block::Block, mmio::MmioTransport, rng::Rng, VirtioDevice};
use crate::interpreter::{i8042::I8042, pvpanic::PvPanic, serial::LineOut, serial::SerialDevice};
use crate::security::seccomp::{self, ThreadKind};
use kvm_bindings::{kvm_pit_config, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use std::os::unix::thread::JoinHandleExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::EventFd;

/// A VM that is built and ready to run.
pub struct Vm {
    /// The KVM VM.
    pub vm: VmFd,
    /// Guest memory.
    pub mem: GuestMemoryMmap,
    /// vCPUs not yet started.
    pub vcpus: Vec<VcpuFd>,
    /// The buses.
    pub buses: Buses,
    /// The serial console.
    pub serial: Arc<Mutex<SerialDevice>>,
    /// State shared with vCPU threads.
    pub shared: Arc<VcpuShared>,
    /// How the boot vCPU enters the guest.
    pub entry: Entry,
    /// Install seccomp filters on the VMM's threads.
    pub seccomp: bool,
}

/// Opens the KVM device with a clear error.
pub fn open_kvm(path: &Path) -> Result<Kvm> {
    let cpath =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Kvm {
            path: path.to_path_buf(),
            msg: "path contains a nul byte".into(),
        })?;
    let kvm = Kvm::new_with_path(&cpath).map_err(|e| Error::Kvm {
        path: path.to_path_buf(),
        msg: format!("open: {}", std::io::Error::from_raw_os_error(e.errno())),
    })?;
    let v = kvm.get_api_version();
    if v != 12 {
        return Err(Error::Kvm {
            path: path.to_path_buf(),
            msg: format!("unsupported api version {v}"),
        });
    }
    Ok(kvm)
}

fn serial_out(spec: Option<&str>) -> Result<crate::interpreter::serial::ConsoleOut> {
    match spec {
        None | Some("stdout") | Some("-") => Ok(LineOut::new(Box::new(std::io::stdout()))),
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::io(format!("interpreter: serial output {p}"), e))?;
            Ok(LineOut::new(Box::new(f)))
        }
    }
}

/// Creates the configured virtio devices, puts each on the MMIO bus with its own interrupt
/// line, and returns what the DSDT must announce.
fn attach_virtio_devices(
    cfg: &VmConfig,
    vm: &VmFd,
    mem: &GuestMemoryMmap,
    mmio: &mut Bus,
) -> Result<Vec<boot::acpi::MmioDeviceInfo>> {
    let mut devices: Vec<Box<dyn VirtioDevice>> = Vec::new();
    for d in &cfg.drives {
        let b = Block::open(&d.path_on_host, d.is_read_only, &d.drive_id).map_err(|e| {
            Error::Config(format!(
                "drive {}: {}: {e}",
                d.drive_id,
                d.path_on_host.display()
            ))
        })?;
        devices.push(Box::new(b));
    }
    if cfg.entropy.is_some() {
        devices.push(Box::new(Rng::default()));
    }
    let mut irqs = IrqAllocator::new(VIRTIO_FIRST_IRQ, LAST_IRQ);
    let mut info = Vec::new();
    for (i, dev) in devices.into_iter().enumerate() {
        let irq = irqs.allocate()?;
        let base = VIRTIO_MMIO_BASE + i as u64 * VIRTIO_MMIO_SIZE;
        let evt = EventFd::new(libc::EFD_NONBLOCK)
            .map_err(|e| Error::io("interpreter: virtio irq eventfd", e))?;
        vm.register_irqfd(&evt, irq)
            .map_err(|e| Error::kvm("register virtio irqfd", e))?;
        let t = MmioTransport::new(dev, mem.clone(), evt);
        mmio.insert(base, VIRTIO_MMIO_SIZE, Arc::new(Mutex::new(t)))?;
        info.push(boot::acpi::MmioDeviceInfo {
            base,
            len: VIRTIO_MMIO_SIZE,
            irq,
        });
    }
    Ok(info)
}

impl Vm {
    /// Validates `cfg` and builds the VM: nothing of the guest runs yet.
    pub fn build(cfg: &VmConfig) -> Result<Vm> {
        cfg.validate()?;
        let kvm_path = cfg
            .kvm_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("/dev/kvm"));
        let kvm = open_kvm(&kvm_path)?;
        let boot_src = cfg.boot_source.as_ref().expect("validated");
        let mc = &cfg.machine_config;
        let mem_bytes = mc.mem_size_mib << 20;

        let vm = kvm.create_vm().map_err(|e| Error::kvm("create vm", e))?;
        vm.set_tss_address(KVM_TSS_ADDR as usize)
            .map_err(|e| Error::kvm("set tss address", e))?;
        vm.create_irq_chip()
            .map_err(|e| Error::kvm("create irqchip", e))?;
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        if mc.legacy_pit {
            vm.create_pit2(pit)
                .map_err(|e| Error::kvm("create pit", e))?;
        }

        let mem = memory::create(mem_bytes)?;
        memory::register(&vm, &mem, false)?;

        let kernel = loader::load_kernel(&mem, &boot_src.kernel_image_path)?;
        let initrd = match &boot_src.initrd_path {
            Some(p) => {
                let max = kernel.setup_header.map(|h| h.initrd_addr_max as u64);
                Some(loader::load_initrd(&mem, p, kernel.kernel_end, max)?)
            }
            None => None,
        };
        let cmdline = cfg.cmdline();
        params::write_cmdline(&mem, &cmdline)?;
        let mut mmio = Bus::new();
        let mmio_devices = attach_virtio_devices(cfg, &vm, &mem, &mut mmio)?;
        let rsdp = boot::acpi::write_tables(&mem, mc.vcpu_count, &mmio_devices)?;
        boot::mptable::write(&mem, mc.vcpu_count)?;
        match kernel.entry {
            Entry::Linux64 { .. } => {
                params::write_zero_page(&mem, &kernel, cmdline.len() + 1, initrd, Some(rsdp))?
            }
            Entry::Pvh32 { .. } => params::write_pvh_info(&mem, initrd, Some(rsdp))?,
        }

        let mut pio = Bus::new();
        let serial_evt = EventFd::new(libc::EFD_NONBLOCK)
            .map_err(|e| Error::io("interpreter: serial eventfd", e))?;
        vm.register_irqfd(&serial_evt, COM1_IRQ)
            .map_err(|e| Error::kvm("register serial irqfd", e))?;
        let serial = Arc::new(Mutex::new(SerialDevice::new(
            serial_evt,
            serial_out(cfg.serial_output.as_deref())?,
        )));
        pio.insert(COM1_PORT as u64, 8, serial.clone() as SharedDevice)?;
        pio.insert(
            I8042_DATA_PORT as u64,
            5,
            Arc::new(Mutex::new(I8042::new())),
        )?;
        pio.insert(PVPANIC_PORT as u64, 1, Arc::new(Mutex::new(PvPanic)))?;

        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| Error::kvm("get supported cpuid", e))?;
        let mut vcpus = Vec::new();
        for id in 0..mc.vcpu_count {
            let v = vm
                .create_vcpu(id as u64)
                .map_err(|e| Error::kvm("create vcpu", e))?;
            boot::cpu::setup_cpuid(&v, &cpuid, id, mc.vcpu_count)?;
            boot::cpu::setup_msrs(&v)?;
            boot::cpu::setup_lint(&v)?;
            if id == 0 {
                boot::cpu::setup_boot_vcpu(&v, &mem, kernel.entry)?;
            }
            vcpus.push(v);
        }
        Ok(Vm {
            vm,
            mem,
            vcpus,
            buses: Buses { pio, mmio },
            serial,
            shared: Arc::new(VcpuShared::default()),
            entry: kernel.entry,
            seccomp: cfg.seccomp,
        })
    }

    /// Runs every vCPU on its own thread until the first one ends; returns that outcome.
    pub fn run(mut self) -> Result<()> {
        kick::install_handler();
        let filters = if self.seccomp {
            Some((
                seccomp::filter(ThreadKind::Vcpu)?,
                seccomp::filter(ThreadKind::Main)?,
            ))
        } else {
            None
        };
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for (id, mut v) in self.vcpus.drain(..).enumerate() {
            let tx = tx.clone();
            let buses = self.buses.clone();
            let shared = self.shared.clone();
            let filter = filters.as_ref().map(|f| f.0.clone());
            let h = std::thread::Builder::new()
                .name(format!("vcpu{id}"))
                .spawn(move || {
                    kick::register_current(&mut v);
                    if let Some(f) = filter {
                        if let Err(e) = seccomp::apply(&f) {
                            let kind = crate::error::VcpuFailure::Unhandled(e.to_string());
                            let _ = tx.send((id, VcpuOutcome::Failed(kind)));
                            return v;
                        }
                    }
                    let o = vcpu::run(id, &mut v, &buses, &shared);
                    kick::unregister_current();
                    let _ = tx.send((id, o));
                    v
                })
                .map_err(|e| Error::io("dispatcher: spawn vcpu thread", e))?;
            threads.push(h);
        }
        drop(tx);
        if let Some((_, main)) = &filters {
            seccomp::apply(main)?;
        }
        let (id, outcome) = rx
            .recv()
            .map_err(|_| Error::Device("dispatcher: no vcpu outcome".into()))?;
        self.shared.stop.store(true, Ordering::Release);
        for t in &threads {
            kick::kick(t.as_pthread_t());
        }
        self.serial.lock().expect("serial lock").flush();
        match outcome {
            VcpuOutcome::GuestStop | VcpuOutcome::Stopped => Ok(()),
            VcpuOutcome::Failed(kind) => Err(Error::Vcpu { vcpu: id, kind }),
        }
    }
}
