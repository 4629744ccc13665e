//! The virtio-mmio transport (version 2): the register interface the guest driver uses to
//! negotiate features, configure queues, notify, and acknowledge interrupts. Every guest
//! write is checked: wrong widths, unknown offsets, out-of-range queue selectors, invalid
//! queue sizes and queue changes after DRIVER_OK are ignored, and a queue whose rings do not
//! lie in guest memory is never activated.

use super::{VirtioDevice, F_VERSION_1};
use crate::allocator::bus::{BusDevice, GuestRequest};
use crate::allocator::memory::GuestMemoryMmap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::EventFd;

/// "virt".
pub const MAGIC: u32 = 0x7472_6976;
/// Vendor id reported to the guest.
pub const VENDOR_ID: u32 = 0x5354_5241; // "STRA"

/// Register offsets.
pub mod reg {
    #![allow(missing_docs)]
    pub const MAGIC: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_AVAIL_LOW: u64 = 0x090;
    pub const QUEUE_AVAIL_HIGH: u64 = 0x094;
    pub const QUEUE_USED_LOW: u64 = 0x0a0;
    pub const QUEUE_USED_HIGH: u64 = 0x0a4;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    pub const CONFIG: u64 = 0x100;
}

/// Device status bits.
pub mod status {
    #![allow(missing_docs)]
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const NEEDS_RESET: u32 = 64;
    pub const FAILED: u32 = 128;
}

/// Interrupt status bit: used buffer notification.
pub const INT_VRING: u32 = 1;

/// Transport statistics (for metrics).
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Queue notifications handled.
    pub notifies: AtomicU64,
    /// Interrupts raised.
    pub interrupts: AtomicU64,
    /// Guest accesses ignored as invalid.
    pub invalid_accesses: AtomicU64,
}

/// A queue's saved state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueueSnap {
    /// Size in use.
    pub size: u16,
    /// Ready flag.
    pub ready: bool,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring address.
    pub avail: u64,
    /// Used ring address.
    pub used: u64,
    /// Next available index the device will read.
    pub next_avail: u16,
    /// Next used index the device will write.
    pub next_used: u16,
    /// EVENT_IDX negotiated.
    pub event_idx: bool,
}

/// A transport's saved state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TransportState {
    /// Device type (checked on restore).
    pub device_type: u32,
    /// Status register.
    pub status: u32,
    /// Driver-accepted features.
    pub driver_features: u64,
    /// Pending interrupt bits.
    pub interrupt_status: u32,
    /// Queue selector.
    pub queue_sel: u32,
    /// Queues.
    pub queues: Vec<QueueSnap>,
}

/// One virtio-mmio device window.
pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    irq: EventFd,
    status: u32,
    features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    interrupt_status: u32,
    config_generation: u32,
    /// Statistics.
    pub stats: Arc<TransportStats>,
}

impl MmioTransport {
    /// Wraps `device`; `irq` is the eventfd wired to its interrupt line.
    pub fn new(device: Box<dyn VirtioDevice>, mem: GuestMemoryMmap, irq: EventFd) -> Self {
        let queues = device
            .queue_max_sizes()
            .iter()
            .map(|s| Queue::new(*s).expect("device queue sizes are valid powers of two"))
            .collect();
        MmioTransport {
            device,
            mem,
            queues,
            irq,
            status: 0,
            features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            interrupt_status: 0,
            config_generation: 0,
            stats: Arc::new(TransportStats::default()),
        }
    }

    /// Captures the transport's state (the VM must be paused).
    pub fn save_state(&self) -> TransportState {
        TransportState {
            device_type: self.device.device_type(),
            status: self.status,
            driver_features: self.driver_features,
            interrupt_status: self.interrupt_status,
            queue_sel: self.queue_sel,
            queues: self
                .queues
                .iter()
                .map(|q| QueueSnap {
                    size: q.size(),
                    ready: q.ready(),
                    desc: q.desc_table(),
                    avail: q.avail_ring(),
                    used: q.used_ring(),
                    next_avail: q.next_avail(),
                    next_used: q.next_used(),
                    event_idx: q.event_idx_enabled(),
                })
                .collect(),
        }
    }

    /// Restores a saved state onto a freshly created transport for the same device.
    pub fn restore_state(&mut self, s: &TransportState) -> Result<(), String> {
        if s.device_type != self.device.device_type() || s.queues.len() != self.queues.len() {
            return Err("snapshot device does not match the configured device".into());
        }
        self.status = s.status;
        self.driver_features = s.driver_features;
        self.interrupt_status = s.interrupt_status;
        self.queue_sel = s.queue_sel;
        for (q, qs) in self.queues.iter_mut().zip(&s.queues) {
            q.try_set_size(qs.size)
                .map_err(|e| format!("queue size: {e:?}"))?;
            q.try_set_desc_table_address(vm_memory::GuestAddress(qs.desc))
                .map_err(|e| format!("queue desc: {e:?}"))?;
            q.try_set_avail_ring_address(vm_memory::GuestAddress(qs.avail))
                .map_err(|e| format!("queue avail: {e:?}"))?;
            q.try_set_used_ring_address(vm_memory::GuestAddress(qs.used))
                .map_err(|e| format!("queue used: {e:?}"))?;
            q.set_next_avail(qs.next_avail);
            q.set_next_used(qs.next_used);
            q.set_event_idx(qs.event_idx);
            q.set_ready(qs.ready);
            if qs.ready && !q.is_valid(&self.mem) {
                return Err("snapshot queue rings are outside guest memory".into());
            }
        }
        Ok(())
    }

    /// The device's current status register.
    pub fn status(&self) -> u32 {
        self.status
    }

    fn device_features(&self) -> u64 {
        self.device.features() | F_VERSION_1
    }

    fn selected_queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    /// Queue registers may change only between FEATURES_OK and DRIVER_OK, on a queue that is
    /// not ready.
    fn queue_config_allowed(&self) -> bool {
        self.status & status::FEATURES_OK != 0
            && self.status & status::DRIVER_OK == 0
            && self.status & status::FAILED == 0
            && self
                .queues
                .get(self.queue_sel as usize)
                .is_some_and(|q| !q.ready())
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.interrupt_status = 0;
        self.queue_sel = 0;
        for q in &mut self.queues {
            q.reset();
        }
        self.device.reset();
    }

    fn set_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        // The driver may only add bits (besides reset), in the order the spec gives.
        if v & self.status != self.status {
            self.invalid();
            return;
        }
        let new = v & !self.status;
        if new & status::FEATURES_OK != 0 {
            // FEATURES_OK is accepted only if the driver took VERSION_1 and nothing unoffered.
            let ok = self.driver_features & F_VERSION_1 != 0
                && self.driver_features & !self.device_features() == 0;
            if !ok {
                self.status = v & !status::FEATURES_OK;
                return;
            }
        }
        if new & status::DRIVER_OK != 0 && self.status & status::FEATURES_OK == 0 {
            self.invalid();
            return;
        }
        self.status = v;
    }

    fn invalid(&self) {
        self.stats.invalid_accesses.fetch_add(1, Ordering::Relaxed);
    }

    fn notify(&mut self, idx: u32) {
        self.stats.notifies.fetch_add(1, Ordering::Relaxed);
        if self.status & status::DRIVER_OK == 0 || self.status & status::FAILED != 0 {
            return;
        }
        let Some(q) = self.queues.get_mut(idx as usize) else {
            self.invalid();
            return;
        };
        if !q.ready() {
            return;
        }
        if self.device.process_queue(idx as usize, q, &self.mem) {
            let needs = q.needs_notification(&self.mem).unwrap_or(true);
            if needs {
                self.raise_interrupt();
            }
        }
    }

    /// Sets the used-buffer interrupt bit and signals the interrupt line.
    pub fn raise_interrupt(&mut self) {
        self.interrupt_status |= INT_VRING;
        self.stats.interrupts.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.irq.write(1) {
            tracing::warn!("interpreter: virtio-mmio: raise irq: {e}");
        }
    }

    /// Lets a device's own thread process a queue (e.g. host-side receive).
    pub fn process(&mut self, idx: usize) {
        self.notify(idx as u32);
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            reg::MAGIC => MAGIC,
            reg::VERSION => 2,
            reg::DEVICE_ID => self.device.device_type(),
            reg::VENDOR_ID => VENDOR_ID,
            reg::DEVICE_FEATURES => match self.features_sel {
                0 => self.device_features() as u32,
                1 => (self.device_features() >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => self
                .selected_queue()
                .map(|q| q.max_size() as u32)
                .unwrap_or(0),
            reg::QUEUE_READY => self.selected_queue().map(|q| q.ready() as u32).unwrap_or(0),
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            reg::CONFIG_GENERATION => self.config_generation,
            _ => {
                self.invalid();
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, v: u32) {
        match offset {
            reg::DEVICE_FEATURES_SEL => self.features_sel = v,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = v,
            reg::DRIVER_FEATURES => {
                // Features may be written only before FEATURES_OK.
                if self.status & status::DRIVER == 0 || self.status & status::FEATURES_OK != 0 {
                    return self.invalid();
                }
                match self.driver_features_sel {
                    0 => self.driver_features = (self.driver_features & !0xffff_ffff) | v as u64,
                    1 => {
                        self.driver_features =
                            (self.driver_features & 0xffff_ffff) | ((v as u64) << 32)
                    }
                    _ => self.invalid(),
                }
            }
            reg::QUEUE_SEL => self.queue_sel = v,
            reg::QUEUE_NOTIFY => self.notify(v),
            reg::INTERRUPT_ACK => self.interrupt_status &= !v,
            reg::STATUS => self.set_status(v),
            reg::QUEUE_NUM
            | reg::QUEUE_READY
            | reg::QUEUE_DESC_LOW
            | reg::QUEUE_DESC_HIGH
            | reg::QUEUE_AVAIL_LOW
            | reg::QUEUE_AVAIL_HIGH
            | reg::QUEUE_USED_LOW
            | reg::QUEUE_USED_HIGH => {
                if !self.queue_config_allowed() {
                    return self.invalid();
                }
                let mem = self.mem.clone();
                let q = self
                    .selected_queue()
                    .expect("checked by queue_config_allowed");
                match offset {
                    reg::QUEUE_NUM => {
                        // Powers of two up to the maximum only (split virtqueues).
                        if v == 0 || v > q.max_size() as u32 || !v.is_power_of_two() {
                            return self.invalid();
                        }
                        q.set_size(v as u16);
                    }
                    reg::QUEUE_READY => {
                        if v == 1 {
                            // Never activate a queue whose rings are not in guest memory
                            // (is_valid checks a queue marked ready).
                            q.set_ready(true);
                            if !q.is_valid(&mem) {
                                q.set_ready(false);
                                self.invalid();
                            }
                        } else {
                            q.set_ready(false);
                        }
                    }
                    reg::QUEUE_DESC_LOW => q.set_desc_table_address(Some(v), None),
                    reg::QUEUE_DESC_HIGH => q.set_desc_table_address(None, Some(v)),
                    reg::QUEUE_AVAIL_LOW => q.set_avail_ring_address(Some(v), None),
                    reg::QUEUE_AVAIL_HIGH => q.set_avail_ring_address(None, Some(v)),
                    reg::QUEUE_USED_LOW => q.set_used_ring_address(Some(v), None),
                    _ => q.set_used_ring_address(None, Some(v)),
                }
            }
            _ => self.invalid(),
        }
    }
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= reg::CONFIG {
            self.device.read_config(offset - reg::CONFIG, data);
            return;
        }
        if data.len() != 4 || offset % 4 != 0 {
            self.invalid();
            data.fill(0);
            return;
        }
        let v = self.read_reg(offset);
        data.copy_from_slice(&v.to_le_bytes());
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<GuestRequest> {
        if offset >= reg::CONFIG {
            self.device.write_config(offset - reg::CONFIG, data);
            self.config_generation = self.config_generation.wrapping_add(1);
            return None;
        }
        if data.len() != 4 || offset % 4 != 0 {
            self.invalid();
            return None;
        }
        let v = u32::from_le_bytes(data.try_into().expect("length checked"));
        self.write_reg(offset, v);
        None
    }
}
