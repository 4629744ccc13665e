//! ACPI hardware-reduced sleep control register: writing SLP_EN with the sleep type of
//! \_S5 (announced in the DSDT) powers the VM off; anything else is ignored.

use crate::allocator::bus::{BusDevice, GuestRequest};
use crate::boot::acpi::SLP_TYP_S5;

/// SLP_EN bit of the sleep control register.
const SLP_EN: u8 = 1 << 5;

/// The power-management device.
#[derive(Default)]
pub struct AcpiPm;

impl BusDevice for AcpiPm {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) -> Option<GuestRequest> {
        let v = *data.first()?;
        (v & SLP_EN != 0 && (v >> 2) & 7 == SLP_TYP_S5).then_some(GuestRequest::PowerOff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s5_with_slp_en_powers_off() {
        let mut d = AcpiPm;
        assert_eq!(
            d.write(0, &[SLP_EN | (SLP_TYP_S5 << 2)]),
            Some(GuestRequest::PowerOff)
        );
        assert_eq!(d.write(0, &[SLP_TYP_S5 << 2]), None);
        assert_eq!(d.write(0, &[SLP_EN | (3 << 2)]), None);
        assert_eq!(d.write(0, &[]), None);
    }
}
