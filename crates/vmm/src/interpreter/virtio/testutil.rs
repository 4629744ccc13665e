//! A minimal virtio driver that talks to a transport through its real register interface
//! and places split virtqueues in guest memory; used by unit tests and fuzz targets.

use super::mmio::{reg, status, MmioTransport};
use super::VirtioDevice;
use crate::allocator::bus::BusDevice;
use crate::allocator::memory::GuestMemoryMmap;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

/// Descriptor flag: chain continues.
pub const NEXT: u16 = 1;
/// Descriptor flag: device-writable.
pub const WRITE: u16 = 2;
/// Descriptor table address.
pub const DESC: u64 = 0x1000;
/// Available ring address.
pub const AVAIL: u64 = 0x3000;
/// Used ring address.
pub const USED: u64 = 0x4000;
/// Start of free memory for buffers.
pub const DATA: u64 = 0x10000;

/// The test driver.
pub struct TestDriver {
    /// Guest memory.
    pub mem: GuestMemoryMmap,
    /// The transport under test.
    pub t: MmioTransport,
    /// Interrupt eventfd (a clone of the transport's).
    pub irq: EventFd,
    /// Queue size in use.
    pub qsize: u16,
    next_desc: u16,
    avail_idx: u16,
}

impl TestDriver {
    /// A driver for `dev` with 1 MiB of guest memory.
    pub fn new(dev: Box<dyn VirtioDevice>) -> Self {
        let mem = crate::allocator::memory::create(1 << 20).expect("test memory");
        let irq = EventFd::new(libc::EFD_NONBLOCK).expect("eventfd");
        let t = MmioTransport::new(dev, mem.clone(), irq.try_clone().expect("eventfd clone"));
        TestDriver {
            mem,
            t,
            irq,
            qsize: 16,
            next_desc: 0,
            avail_idx: 0,
        }
    }

    /// Reads a 32-bit register.
    pub fn r(&mut self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.t.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    /// Writes a 32-bit register.
    pub fn w(&mut self, off: u64, v: u32) {
        self.t.write(off, &v.to_le_bytes());
    }

    /// Status handshake, feature negotiation (`features`, VERSION_1 added) and set-up of
    /// every queue; returns whether the device accepted FEATURES_OK.
    pub fn init(&mut self, features: u64, nqueues: u32) -> bool {
        self.w(reg::STATUS, 0);
        self.w(reg::STATUS, status::ACKNOWLEDGE);
        self.w(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        let f = features | super::F_VERSION_1;
        self.w(reg::DRIVER_FEATURES_SEL, 0);
        self.w(reg::DRIVER_FEATURES, f as u32);
        self.w(reg::DRIVER_FEATURES_SEL, 1);
        self.w(reg::DRIVER_FEATURES, (f >> 32) as u32);
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.w(reg::STATUS, s);
        if self.r(reg::STATUS) & status::FEATURES_OK == 0 {
            return false;
        }
        for q in 0..nqueues {
            let base = q as u64 * 0x8000;
            self.w(reg::QUEUE_SEL, q);
            self.w(reg::QUEUE_NUM, self.qsize as u32);
            self.w(reg::QUEUE_DESC_LOW, (DESC + base) as u32);
            self.w(reg::QUEUE_DESC_HIGH, 0);
            self.w(reg::QUEUE_AVAIL_LOW, (AVAIL + base) as u32);
            self.w(reg::QUEUE_AVAIL_HIGH, 0);
            self.w(reg::QUEUE_USED_LOW, (USED + base) as u32);
            self.w(reg::QUEUE_USED_HIGH, 0);
            self.w(reg::QUEUE_READY, 1);
        }
        self.w(reg::STATUS, s | status::DRIVER_OK);
        true
    }

    /// Writes raw descriptor `i` of queue 0.
    pub fn put_desc(&mut self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let a = DESC + i as u64 * 16;
        self.mem.write_obj(addr, GuestAddress(a)).unwrap();
        self.mem.write_obj(len, GuestAddress(a + 8)).unwrap();
        self.mem.write_obj(flags, GuestAddress(a + 12)).unwrap();
        self.mem.write_obj(next, GuestAddress(a + 14)).unwrap();
    }

    /// Publishes head `head` in queue 0's available ring and notifies queue `q`.
    pub fn publish(&mut self, head: u16, q: u32) {
        let slot = (self.avail_idx % self.qsize) as u64;
        self.mem
            .write_obj(head, GuestAddress(AVAIL + 4 + slot * 2))
            .unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem
            .write_obj(self.avail_idx, GuestAddress(AVAIL + 2))
            .unwrap();
        self.w(reg::QUEUE_NOTIFY, q);
    }

    /// Adds a chain of (addr, len, device-writable) buffers to queue 0 and notifies it;
    /// returns the head index.
    pub fn submit(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (i, (addr, len, wr)) in bufs.iter().enumerate() {
            let idx = (head + i as u16) % self.qsize;
            let mut flags = if *wr { WRITE } else { 0 };
            if i + 1 < bufs.len() {
                flags |= NEXT;
            }
            self.put_desc(idx, *addr, *len, flags, (idx + 1) % self.qsize);
        }
        self.next_desc = (head + bufs.len() as u16) % self.qsize;
        self.publish(head, 0);
        head
    }

    /// The used ring's index of queue 0.
    pub fn used_idx(&self) -> u16 {
        self.mem.read_obj(GuestAddress(USED + 2)).unwrap()
    }

    /// Used ring element `i` of queue 0: (descriptor id, length).
    pub fn used(&self, i: u16) -> (u32, u32) {
        let a = USED + 4 + (i % self.qsize) as u64 * 8;
        (
            self.mem.read_obj(GuestAddress(a)).unwrap(),
            self.mem.read_obj(GuestAddress(a + 4)).unwrap(),
        )
    }
}
