//! Building a VM from a configuration (or a snapshot) and running it.

mod devices;
pub mod running;

use crate::allocator::layout::*;
use crate::allocator::memory::{self, GuestMemoryMmap};
use crate::boot::{self, loader, params, Entry};
use crate::config::VmConfig;
use crate::dispatcher::vcpu::{Buses, VcpuShared};
use crate::error::{Error, Result};
use crate::interpreter::serial::SerialDevice;
use crate::interpreter::virtio::mmio::MmioTransport;
use crate::snapshot::{memfile, state, Snapshot};
use kvm_bindings::{kvm_pit_config, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use running::RunningVm;

/// A VM that is built and ready to start.
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
    /// The virtio-mmio transports, in bus order.
    pub transports: Vec<Arc<Mutex<MmioTransport>>>,
    /// State shared with vCPU threads.
    pub shared: Arc<VcpuShared>,
    /// The configuration it was built from.
    pub config: VmConfig,
    /// virtio-net RX work, started with the vCPUs.
    pub net_rx: Vec<devices::NetRx>,
    /// The vsock muxer, started with the vCPUs.
    pub vsock_mux: Option<crate::interpreter::virtio::vsock::muxer::Muxer>,
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

fn create_vm(cfg: &VmConfig) -> Result<(Kvm, VmFd)> {
    let kvm_path = cfg
        .kvm_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("/dev/kvm"));
    let kvm = open_kvm(&kvm_path)?;
    let vm = kvm.create_vm().map_err(|e| Error::kvm("create vm", e))?;
    vm.set_tss_address(KVM_TSS_ADDR as usize)
        .map_err(|e| Error::kvm("set tss address", e))?;
    vm.create_irq_chip()
        .map_err(|e| Error::kvm("create irqchip", e))?;
    if cfg.machine_config.legacy_pit {
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        vm.create_pit2(pit)
            .map_err(|e| Error::kvm("create pit", e))?;
    }
    Ok((kvm, vm))
}

fn create_vcpus(kvm: &Kvm, vm: &VmFd, cfg: &VmConfig) -> Result<Vec<VcpuFd>> {
    let n = cfg.machine_config.vcpu_count;
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| Error::kvm("get supported cpuid", e))?;
    let mut vcpus = Vec::new();
    for id in 0..n {
        let v = vm
            .create_vcpu(id as u64)
            .map_err(|e| Error::kvm("create vcpu", e))?;
        boot::cpu::setup_cpuid(&v, &cpuid, id, n)?;
        boot::cpu::setup_msrs(&v)?;
        boot::cpu::setup_lint(&v)?;
        vcpus.push(v);
    }
    Ok(vcpus)
}

/// Registers `mem` with `vm` on a helper thread while `work` runs on this one, and returns
/// `work`'s result once both are done (a registration error comes first).
fn register_during<T>(
    vm: &VmFd,
    mem: &GuestMemoryMmap,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    std::thread::scope(|s| {
        let reg = s.spawn(|| memory::register(vm, mem, false));
        let out = work();
        let reg = reg
            .join()
            .unwrap_or_else(|_| Err(Error::Memory("register thread panicked".into())));
        reg.and(out)
    })
}

impl Vm {
    /// Validates `cfg` and builds the VM: nothing of the guest runs yet.
    pub fn build(cfg: &VmConfig) -> Result<Vm> {
        cfg.validate()?;
        let (kvm, vm) = create_vm(cfg)?;
        let mc = &cfg.machine_config;
        let mem = memory::create(mc.mem_size_mib << 20)?;
        // Registering guest memory waits for KVM's SRCU grace periods (milliseconds on a busy
        // PVM host): do it on a helper thread while the rest of the VM is set up.
        let (vcpus, devs) = register_during(&vm, &mem, || Self::setup_guest(cfg, &kvm, &vm, &mem))?;
        Ok(Self::assemble(cfg, vm, mem, vcpus, devs))
    }

    /// Puts the parts of a built or restored VM together.
    fn assemble(
        cfg: &VmConfig,
        vm: VmFd,
        mem: GuestMemoryMmap,
        vcpus: Vec<VcpuFd>,
        devs: devices::Devices,
    ) -> Vm {
        Vm {
            vm,
            mem,
            vcpus,
            buses: devs.buses,
            serial: devs.serial,
            transports: devs.transports,
            shared: Arc::new(VcpuShared::new(cfg.machine_config.vcpu_count as usize)),
            config: cfg.clone(),
            net_rx: devs.net_rx,
            vsock_mux: devs.vsock_mux,
        }
    }

    /// Loads the kernel and initrd, writes the boot structures, creates devices and vCPUs.
    fn setup_guest(
        cfg: &VmConfig,
        kvm: &Kvm,
        vm: &VmFd,
        mem: &GuestMemoryMmap,
    ) -> Result<(Vec<VcpuFd>, devices::Devices)> {
        let boot_src = cfg.boot_source.as_ref().expect("validated");
        let mc = &cfg.machine_config;
        let kernel = loader::load_kernel(mem, &boot_src.kernel_image_path)?;
        let initrd = match &boot_src.initrd_path {
            Some(p) => {
                let max = kernel.setup_header.map(|h| h.initrd_addr_max as u64);
                Some(loader::load_initrd(mem, p, kernel.kernel_end, max)?)
            }
            None => None,
        };
        let cmdline = cfg.cmdline();
        params::write_cmdline(mem, &cmdline)?;
        let devs = devices::create(cfg, vm, mem)?;
        let rsdp = boot::acpi::write_tables(mem, mc.vcpu_count, &devs.mmio_info)?;
        boot::mptable::write(mem, mc.vcpu_count)?;
        match kernel.entry {
            Entry::Linux64 { .. } => {
                params::write_zero_page(mem, &kernel, cmdline.len() + 1, initrd, Some(rsdp))?
            }
            Entry::Pvh32 { .. } => params::write_pvh_info(mem, initrd, Some(rsdp))?,
        }
        let vcpus = create_vcpus(kvm, vm, cfg)?;
        boot::cpu::setup_boot_vcpu(&vcpus[0], mem, kernel.entry)?;
        Ok((vcpus, devs))
    }

    /// Re-creates a VM from a snapshot: its memory file mapped privately, devices from its
    /// configuration with their saved state, vCPU and irqchip state restored.
    pub fn restore(snap: &Snapshot) -> Result<Vm> {
        let cfg = &snap.config;
        let mc = &cfg.machine_config;
        let mem_bytes = memory::check_size(mc.mem_size_mib)?;
        let (kvm, vm) = create_vm(cfg)?;
        let mem = memfile::load(&snap.mem_file, mem_bytes)?;
        // As in `build`: memory registration overlaps the rest of the restore.
        let (vcpus, devs) =
            register_during(&vm, &mem, || Self::restore_state(snap, &kvm, &vm, &mem))?;
        Ok(Self::assemble(cfg, vm, mem, vcpus, devs))
    }

    /// Devices with their saved transport state, irqchip and clock, vCPUs with their state.
    fn restore_state(
        snap: &Snapshot,
        kvm: &Kvm,
        vm: &VmFd,
        mem: &GuestMemoryMmap,
    ) -> Result<(Vec<VcpuFd>, devices::Devices)> {
        let cfg = &snap.config;
        let devs = devices::create(cfg, vm, mem)?;
        if devs.transports.len() != snap.devices.len() {
            return Err(Error::Config(
                "snapshot: device list does not match its config".into(),
            ));
        }
        for (t, s) in devs.transports.iter().zip(&snap.devices) {
            t.lock()
                .expect("transport lock")
                .restore_state(s)
                .map_err(|e| Error::Config(format!("snapshot: {e}")))?;
        }
        state::restore_vm(vm, &snap.vm)?;
        let vcpus = create_vcpus(kvm, vm, cfg)?;
        for (v, s) in vcpus.iter().zip(&snap.vcpus) {
            state::restore_vcpu(v, s)?;
        }
        Ok((vcpus, devs))
    }
}
