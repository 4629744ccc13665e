//! Address spaces (port I/O and MMIO): non-overlapping ranges, each owned by one device.
//! Guest accesses outside every range are ignored (reads return all ones), as on real buses.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What a device asks the dispatcher to do after a guest write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRequest {
    /// The guest asked for a CPU reset (i8042 0xfe): stop the VM, status 0.
    Reset,
    /// The guest asked for power-off (ACPI S5): stop the VM, status 0.
    PowerOff,
    /// The guest reported a panic.
    Panic(u8),
}

/// A device that sits on a bus. `offset` is relative to the start of its range.
pub trait BusDevice: Send {
    /// Handles a guest read of `data.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// Handles a guest write at `offset`; may ask the dispatcher to act.
    fn write(&mut self, offset: u64, data: &[u8]) -> Option<GuestRequest>;
}

/// A shared device handle.
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// One address space.
#[derive(Default, Clone)]
pub struct Bus {
    ranges: BTreeMap<u64, (u64, SharedDevice)>,
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `dev` at `[base, base + len)`; refuses overlaps and empty ranges.
    pub fn insert(&mut self, base: u64, len: u64, dev: SharedDevice) -> Result<()> {
        let end = base
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or_else(|| Error::Config(format!("allocator: bad bus range {base:#x}+{len:#x}")))?;
        if let Some((b, (l, _))) = self.ranges.range(..end).next_back() {
            if b + l > base {
                return Err(Error::Config(format!(
                    "allocator: bus range {base:#x}+{len:#x} overlaps {b:#x}+{l:#x}"
                )));
            }
        }
        self.ranges.insert(base, (len, dev));
        Ok(())
    }

    /// The device and the offset inside its range that an access at `addr` of `size` bytes hits.
    /// Accesses that straddle the end of a range hit nothing.
    pub fn resolve(&self, addr: u64, size: usize) -> Option<(SharedDevice, u64)> {
        let (base, (len, dev)) = self.ranges.range(..=addr).next_back()?;
        let off = addr - base;
        if off.checked_add(size as u64)? <= *len {
            Some((dev.clone(), off))
        } else {
            None
        }
    }

    /// Routes a guest read; unclaimed addresses read as all ones.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.resolve(addr, data.len()) {
            Some((dev, off)) => {
                dev.lock().expect("device lock poisoned").read(off, data);
                true
            }
            None => {
                data.fill(0xff);
                false
            }
        }
    }

    /// Routes a guest write; unclaimed addresses are ignored.
    pub fn write(&self, addr: u64, data: &[u8]) -> Option<GuestRequest> {
        let (dev, off) = self.resolve(addr, data.len())?;
        let r = dev.lock().expect("device lock poisoned").write(off, data);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(u8);
    impl BusDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(self.0 + offset as u8);
        }
        fn write(&mut self, _offset: u64, data: &[u8]) -> Option<GuestRequest> {
            self.0 = data[0];
            None
        }
    }

    #[test]
    fn routes_and_rejects_overlap() {
        let mut bus = Bus::new();
        bus.insert(0x10, 8, Arc::new(Mutex::new(Echo(1)))).unwrap();
        assert!(bus.insert(0x14, 8, Arc::new(Mutex::new(Echo(2)))).is_err());
        assert!(bus.insert(0x8, 9, Arc::new(Mutex::new(Echo(2)))).is_err());
        bus.insert(0x18, 8, Arc::new(Mutex::new(Echo(9)))).unwrap();
        let mut b = [0u8; 1];
        assert!(bus.read(0x12, &mut b));
        assert_eq!(b[0], 3);
        bus.write(0x18, &[5]);
        assert!(bus.read(0x19, &mut b));
        assert_eq!(b[0], 6);
    }

    #[test]
    fn unclaimed_and_straddling_accesses_hit_nothing() {
        let mut bus = Bus::new();
        bus.insert(0x10, 4, Arc::new(Mutex::new(Echo(1)))).unwrap();
        let mut b = [0u8; 4];
        assert!(!bus.read(0x12, &mut b));
        assert_eq!(b, [0xff; 4]);
        assert!(!bus.read(0x100, &mut b[..1]));
        assert!(bus.write(u64::MAX, &[1]).is_none());
        assert!(bus
            .insert(u64::MAX, 2, Arc::new(Mutex::new(Echo(1))))
            .is_err());
    }
}
