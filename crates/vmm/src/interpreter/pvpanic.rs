//! pvpanic-style port (0x505): a guest write of a non-zero byte reports a guest panic, which
//! the dispatcher turns into a distinct exit status. Reads return the supported-events mask.

use crate::allocator::bus::{BusDevice, GuestRequest};

/// Events announced to the guest: "panicked".
const PVPANIC_PANICKED: u8 = 1;

/// The panic port device.
#[derive(Default)]
pub struct PvPanic;

impl BusDevice for PvPanic {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
        data[0] = PVPANIC_PANICKED;
    }

    fn write(&mut self, _offset: u64, data: &[u8]) -> Option<GuestRequest> {
        match data.first() {
            Some(&v) if v & PVPANIC_PANICKED != 0 => Some(GuestRequest::Panic(v)),
            _ => None,
        }
    }
}
