//! ACPI tables: RSDP, XSDT, FADT (hardware-reduced), MADT and a DSDT that announces the
//! virtio-mmio devices (LNRO0005, as Firecracker does), so kernels without
//! VIRTIO_MMIO_CMDLINE_DEVICES find them.

use super::aml;
use crate::allocator::layout::*;
use crate::allocator::memory::GuestMemoryMmap;
use crate::error::{Error, Result};
use vm_memory::{Bytes, GuestAddress};

/// A virtio-mmio device to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDeviceInfo {
    /// MMIO window base.
    pub base: u64,
    /// MMIO window size.
    pub len: u64,
    /// IOAPIC pin.
    pub irq: u32,
}

const OEM_ID: &[u8; 6] = b"STRATA";
/// The sleep type the DSDT's \_S5 announces.
pub const SLP_TYP_S5: u8 = 5;
const OEM_TABLE: &[u8; 8] = b"STRATAVM";

/// Sum of bytes (mod 256).
pub fn checksum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x))
}

/// Makes a complete table: header + body, with length and checksum filled in.
pub fn sdt(sig: &[u8; 4], rev: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(36 + body.len());
    t.extend_from_slice(sig);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.push(rev);
    t.push(0);
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(OEM_TABLE);
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"STRA");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    t[9] = 0u8.wrapping_sub(checksum(&t));
    t
}

/// The DSDT body: `Scope(\_SB_) { Device(V000) ... }` and COM1.
pub fn dsdt(devices: &[MmioDeviceInfo]) -> Vec<u8> {
    let mut sb = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let mut body = aml::name("_HID", &aml::string("LNRO0005"));
        body.extend(aml::name("_UID", &aml::integer(i as u64)));
        body.extend(aml::name("_CCA", &aml::integer(1)));
        body.extend(aml::name(
            "_CRS",
            &aml::mmio_irq_resources(d.base as u32, d.len as u32, d.irq),
        ));
        sb.extend(aml::device(&format!("V{i:03}"), &body));
    }
    let mut body = aml::scope_root("_SB_", &sb);
    // \_S5: sleep type 5 for power-off through the FADT sleep control register.
    body.extend(aml::name("_S5_", &aml::package(&[SLP_TYP_S5 as u64, 0])));
    sdt(b"DSDT", 2, &body)
}

/// FADT: hardware-reduced ACPI, points at the DSDT, announces the i8042 and no VGA.
pub fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let mut b = vec![0u8; 276 - 36];
    let put =
        |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off - 36..off - 36 + v.len()].copy_from_slice(v);
    put(&mut b, 40, &(dsdt_addr as u32).to_le_bytes());
    // IAPC_BOOT_ARCH: 8042 present (bit 1), VGA not present (bit 2), MSI not supported (bit 3)
    put(&mut b, 109, &(0b1110u16).to_le_bytes());
    // Flags: HW_REDUCED_ACPI (bit 20), RESET_REG_SUP (10) not set.
    put(&mut b, 112, &(1u32 << 20).to_le_bytes());
    put(&mut b, 131, &[5]); // FADT minor version: 6.5
    put(&mut b, 140, &dsdt_addr.to_le_bytes());
    // SLEEP_CONTROL_REG and SLEEP_STATUS_REG: byte-wide system I/O at ACPI_SLEEP_PORT.
    let gas = |port: u16| {
        let mut g = vec![1u8, 8, 0, 1];
        g.extend_from_slice(&(port as u64).to_le_bytes());
        g
    };
    put(&mut b, 244, &gas(ACPI_SLEEP_PORT));
    put(&mut b, 256, &gas(ACPI_SLEEP_PORT));
    put(&mut b, 268, b"STRATAVM");
    sdt(b"FACP", 6, &b)
}

/// MADT: one local APIC per vCPU and the IOAPIC.
pub fn madt(vcpus: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(LAPIC_ADDR as u32).to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // PCAT_COMPAT: dual 8259 present
    for id in 0..vcpus {
        b.extend_from_slice(&[0, 8, id, id]);
        b.extend_from_slice(&1u32.to_le_bytes()); // enabled
    }
    b.extend_from_slice(&[1, 12, vcpus, 0]);
    b.extend_from_slice(&(IOAPIC_ADDR as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    // IRQ0 (PIT) is wired to IOAPIC pin 2, as on PCs.
    b.extend_from_slice(&[2, 10, 0, 0]);
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    sdt(b"APIC", 6, &b)
}

/// RSDP (ACPI 2.0+) pointing at the XSDT.
pub fn rsdp(xsdt_addr: u64) -> Vec<u8> {
    let mut r = Vec::with_capacity(36);
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(OEM_ID);
    r.push(2);
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&36u32.to_le_bytes());
    r.extend_from_slice(&xsdt_addr.to_le_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r[8] = 0u8.wrapping_sub(checksum(&r[..20]));
    r[32] = 0u8.wrapping_sub(checksum(&r));
    r
}

/// Writes all tables; returns the RSDP address.
pub fn write_tables(mem: &GuestMemoryMmap, vcpus: u8, devices: &[MmioDeviceInfo]) -> Result<u64> {
    let mut next = ACPI_TABLES_ADDR;
    let mut place = |t: &[u8]| -> Result<u64> {
        let a = next;
        if a + t.len() as u64 > ACPI_TABLES_END {
            return Err(Error::BootSetup(
                "acpi tables do not fit below 1 MiB".into(),
            ));
        }
        mem.write_slice(t, GuestAddress(a))
            .map_err(|e| Error::BootSetup(format!("write acpi table: {e}")))?;
        next = (a + t.len() as u64 + 15) & !15;
        Ok(a)
    };
    let dsdt_addr = place(&dsdt(devices))?;
    let fadt_addr = place(&fadt(dsdt_addr))?;
    let madt_addr = place(&madt(vcpus))?;
    let mut x = Vec::new();
    for a in [fadt_addr, madt_addr] {
        x.extend_from_slice(&a.to_le_bytes());
    }
    let xsdt_addr = place(&sdt(b"XSDT", 1, &x))?;
    mem.write_slice(&rsdp(xsdt_addr), GuestAddress(RSDP_ADDR))
        .map_err(|e| Error::BootSetup(format!("write rsdp: {e}")))?;
    Ok(RSDP_ADDR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_checksum_to_zero() {
        let d = [MmioDeviceInfo {
            base: VIRTIO_MMIO_BASE,
            len: 0x1000,
            irq: 5,
        }];
        for t in [dsdt(&d), fadt(0x1000), madt(4), sdt(b"XSDT", 1, &[0; 16])] {
            assert_eq!(checksum(&t), 0);
            assert_eq!(
                u32::from_le_bytes(t[4..8].try_into().unwrap()) as usize,
                t.len()
            );
        }
        let r = rsdp(0xe1000);
        assert_eq!(checksum(&r[..20]), 0);
        assert_eq!(checksum(&r), 0);
    }

    #[test]
    fn dsdt_names_each_device() {
        let d: Vec<_> = (0..3)
            .map(|i| MmioDeviceInfo {
                base: VIRTIO_MMIO_BASE + i * 0x1000,
                len: 0x1000,
                irq: 5 + i as u32,
            })
            .collect();
        let t = dsdt(&d);
        let n = t.windows(8).filter(|w| w == b"LNRO0005").count();
        assert_eq!(n, 3);
        assert!(t.windows(4).any(|w| w == b"V002"));
    }
}
