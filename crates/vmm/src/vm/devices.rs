//! Creating the devices of a VM: serial, i8042, pvpanic on the port bus; virtio-mmio
//! transports on the MMIO bus, each with its own interrupt line.

use crate::allocator::bus::{Bus, SharedDevice};
use crate::allocator::irq::IrqAllocator;
use crate::allocator::layout::*;
use crate::allocator::memory::GuestMemoryMmap;
use crate::boot::acpi::MmioDeviceInfo;
use crate::config::VmConfig;
use crate::dispatcher::vcpu::Buses;
use crate::error::{Error, Result};
use crate::interpreter::serial::{ConsoleOut, LineOut, SerialDevice};
use crate::interpreter::virtio::net::{self, Net};
use crate::interpreter::virtio::vsock;
use crate::interpreter::virtio::{block::Block, mmio::MmioTransport, rng::Rng, VirtioDevice};
use crate::interpreter::{acpi_pm::AcpiPm, i8042::I8042, pvpanic::PvPanic};
use kvm_ioctls::VmFd;
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::EventFd;

/// What `create` made.
pub struct Devices {
    /// Port and MMIO buses.
    pub buses: Buses,
    /// COM1.
    pub serial: Arc<Mutex<SerialDevice>>,
    /// virtio transports in bus order.
    pub transports: Vec<Arc<Mutex<MmioTransport>>>,
    /// What the DSDT announces.
    pub mmio_info: Vec<MmioDeviceInfo>,
    /// What each virtio-net RX thread needs.
    pub net_rx: Vec<NetRx>,
    /// The vsock muxer, run on its own thread.
    pub vsock_mux: Option<vsock::muxer::Muxer>,
}

/// Removes `p` if it is a leftover unix socket; refuses any other existing file.
fn remove_stale_socket(p: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if !m.file_type().is_socket() {
            return Err(Error::Config(format!(
                "vsock: {}: exists and is not a socket",
                p.display()
            )));
        }
        std::fs::remove_file(p).map_err(|e| Error::io(format!("vsock: {}", p.display()), e))?;
    }
    Ok(())
}

/// The pieces of a virtio-net device its RX thread works with.
pub struct NetRx {
    /// TAP handle for reading.
    pub tap: std::fs::File,
    /// Pending frames.
    pub pending: net::Pending,
    /// The device's transport.
    pub transport: Arc<Mutex<MmioTransport>>,
}

fn serial_out(spec: Option<&str>) -> Result<ConsoleOut> {
    match spec {
        None | Some("stdout") | Some("-") => Ok(LineOut::new(Box::new(std::io::stdout()))),
        Some(p) if p.starts_with("unix:") => {
            let path = &p["unix:".len()..];
            let sock = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| Error::Config(format!("serial output {p}: connect: {e}")))?;
            Ok(LineOut::new(Box::new(sock)))
        }
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

/// Creates every configured device and wires its interrupt.
pub fn create(cfg: &VmConfig, vm: &VmFd, mem: &GuestMemoryMmap) -> Result<Devices> {
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
    pio.insert(ACPI_SLEEP_PORT as u64, 1, Arc::new(Mutex::new(AcpiPm)))?;

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
    let mut nets = Vec::new();
    for (i, n) in cfg.network_interfaces.iter().enumerate() {
        let tap = net::open_tap(&n.host_dev_name).map_err(|e| {
            Error::Config(format!(
                "network interface {}: tap {}: {e}",
                n.iface_id, n.host_dev_name
            ))
        })?;
        let mac = match &n.guest_mac {
            Some(m) => net::parse_mac(m).ok_or_else(|| Error::Config(format!("bad mac {m}")))?,
            None => [0x52, 0x54, 0x00, 0x12, 0x34, 0x56u8.wrapping_add(i as u8)],
        };
        let dev = Net::new(tap, mac);
        let rx_tap = dev
            .tap_clone()
            .map_err(|e| Error::io("interpreter: virtio-net: dup tap", e))?;
        nets.push((devices.len(), rx_tap, dev.pending()));
        devices.push(Box::new(dev));
    }
    let mut vsock_parts = None;
    if let Some(v) = &cfg.vsock {
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = EventFd::new(libc::EFD_NONBLOCK)
            .map_err(|e| Error::io("interpreter: vsock eventfd", e))?;
        let pending = vsock::Pending::default();
        let dev_wake = wake
            .try_clone()
            .map_err(|e| Error::io("interpreter: vsock eventfd", e))?;
        vsock_parts = Some((devices.len(), v.clone(), rx, wake, pending.clone()));
        devices.push(Box::new(vsock::Vsock::new(
            v.guest_cid,
            pending,
            tx,
            dev_wake,
        )));
    }
    if cfg.entropy.is_some() {
        devices.push(Box::new(Rng::default()));
    }
    let mut mmio = Bus::new();
    let mut irqs = IrqAllocator::new(VIRTIO_FIRST_IRQ, LAST_IRQ);
    let mut transports = Vec::new();
    let mut mmio_info = Vec::new();
    for (i, dev) in devices.into_iter().enumerate() {
        let irq = irqs.allocate()?;
        let base = VIRTIO_MMIO_BASE + i as u64 * VIRTIO_MMIO_SIZE;
        let evt = EventFd::new(libc::EFD_NONBLOCK)
            .map_err(|e| Error::io("interpreter: virtio irq eventfd", e))?;
        vm.register_irqfd(&evt, irq)
            .map_err(|e| Error::kvm("register virtio irqfd", e))?;
        let t = Arc::new(Mutex::new(MmioTransport::new(dev, mem.clone(), evt)));
        mmio.insert(base, VIRTIO_MMIO_SIZE, t.clone() as SharedDevice)?;
        transports.push(t);
        mmio_info.push(MmioDeviceInfo {
            base,
            len: VIRTIO_MMIO_SIZE,
            irq,
        });
    }
    let vsock_mux = match vsock_parts {
        Some((i, v, rx, wake, pending)) => {
            remove_stale_socket(&v.uds_path)?;
            let m = vsock::muxer::Muxer::new(
                v.guest_cid,
                v.uds_path.clone(),
                rx,
                wake,
                pending,
                transports[i].clone(),
            )
            .map_err(|e| Error::Config(format!("vsock: {}: {e}", v.uds_path.display())))?;
            Some(m)
        }
        None => None,
    };
    let net_rx = nets
        .into_iter()
        .map(|(i, tap, pending)| NetRx {
            tap,
            pending,
            transport: transports[i].clone(),
        })
        .collect();
    Ok(Devices {
        buses: Buses { pio, mmio },
        serial,
        transports,
        mmio_info,
        net_rx,
        vsock_mux,
    })
}
