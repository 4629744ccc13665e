//! Intel MultiProcessor Specification 1.4 table in the EBDA: processors, the ISA bus, the
//! IOAPIC and the legacy interrupt routing, for guests that do not use ACPI.

use crate::allocator::layout::*;
use crate::allocator::memory::GuestMemoryMmap;
use crate::boot::acpi::checksum;
use crate::error::{Error, Result};
use vm_memory::{Bytes, GuestAddress};

/// Builds the floating pointer and configuration table for `vcpus` processors placed at
/// `addr` (floating pointer first, table right after).
pub fn build(addr: u64, vcpus: u8) -> Vec<u8> {
    let table_addr = addr + 16;
    let mut entries = Vec::new();
    let mut count = 0u16;
    for id in 0..vcpus {
        let flags = if id == 0 { 3 } else { 1 }; // enabled, BSP
        entries.extend_from_slice(&[0, id, 0x14, flags]);
        entries.extend_from_slice(&0x600u32.to_le_bytes()); // cpu signature (family 6)
        entries.extend_from_slice(&0x201u32.to_le_bytes()); // features: FPU, APIC
        entries.extend_from_slice(&[0; 8]);
        count += 1;
    }
    entries.extend_from_slice(&[1, 0]);
    entries.extend_from_slice(b"ISA   ");
    count += 1;
    let ioapic_id = vcpus;
    entries.extend_from_slice(&[2, ioapic_id, 0x11, 1]);
    entries.extend_from_slice(&(IOAPIC_ADDR as u32).to_le_bytes());
    count += 1;
    for irq in 0..16u8 {
        let pin = if irq == 0 { 2 } else { irq };
        entries.extend_from_slice(&[3, 0, 0, 0, 0, irq, ioapic_id, pin]);
        count += 1;
    }
    entries.extend_from_slice(&[4, 3, 0, 0, 0, 0, 0xff, 0]); // ExtINT -> LINT0
    entries.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0xff, 1]); // NMI -> LINT1
    count += 2;

    let mut t = Vec::new();
    t.extend_from_slice(b"PCMP");
    t.extend_from_slice(&((44 + entries.len()) as u16).to_le_bytes());
    t.push(4);
    t.push(0);
    t.extend_from_slice(b"STRATA  ");
    t.extend_from_slice(b"STRATA-VMM  ");
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    t.extend_from_slice(&count.to_le_bytes());
    t.extend_from_slice(&(LAPIC_ADDR as u32).to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    t.push(0);
    t.push(0);
    t.extend_from_slice(&entries);
    t[7] = 0u8.wrapping_sub(checksum(&t));

    let mut f = Vec::new();
    f.extend_from_slice(b"_MP_");
    f.extend_from_slice(&(table_addr as u32).to_le_bytes());
    f.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
    f[10] = 0u8.wrapping_sub(checksum(&f));
    f.extend_from_slice(&t);
    f
}

/// Writes the MP table at the start of the EBDA.
pub fn write(mem: &GuestMemoryMmap, vcpus: u8) -> Result<()> {
    let b = build(EBDA_START, vcpus);
    if EBDA_START + b.len() as u64 > 0xa0000 {
        return Err(Error::BootSetup(format!(
            "mp table for {vcpus} vcpus does not fit in the ebda"
        )));
    }
    mem.write_slice(&b, GuestAddress(EBDA_START))
        .map_err(|e| Error::BootSetup(format!("write mp table: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_and_fits_for_max_vcpus() {
        let b = build(EBDA_START, crate::config::MAX_VCPUS);
        assert!(EBDA_START + b.len() as u64 <= 0xa0000);
        assert_eq!(checksum(&b[..16]), 0);
        let len = u16::from_le_bytes([b[20], b[21]]) as usize;
        assert_eq!(len, b.len() - 16);
        assert_eq!(checksum(&b[16..]), 0);
    }
}
