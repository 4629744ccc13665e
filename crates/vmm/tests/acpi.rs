//! ACPI and MP tables, checked by a guest that walks them as an OS does.

mod common;
use common::*;

#[test]
fn guest_walks_acpi_and_mp_tables() {
    if !require_kvm() {
        return;
    }
    let k = guest("acpi");
    let d = scratch_file("acpi-disk", &[0u8; 4096]);
    let d = d.to_str().unwrap();
    let o = run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--mem",
        "32",
        "--vcpus",
        "3",
        "--drive",
        d,
        "--drive",
        &format!("{d},ro"),
        "--rng",
    ]);
    let out = ok_stdout(&o);
    assert!(out.contains("DONE\n"), "{out}");
    // The zero page points at the RSDP the guest found by scanning the BIOS area.
    assert_eq!(kvh(&out, "ZP_RSDP"), kvh(&out, "RSDP"));
    assert_eq!(kvh(&out, "RSDP_SUM"), 0);
    assert_eq!(kvh(&out, "RSDP_XSUM"), 0);
    let tables = kv_all(&out, "TABLE");
    let sigs: Vec<&str> = tables.iter().map(|t| &t[..4]).collect();
    assert_eq!(sigs, ["XSDT", "FACP", "DSDT", "APIC"], "{out}");
    for t in &tables {
        assert!(t.ends_with(" 0000000000000000"), "bad checksum: {t}");
    }
    assert_eq!(kvh(&out, "MADT_CPUS"), 3);
    // The DSDT announces every virtio-mmio device (Debian kernels have no cmdline devices).
    assert_eq!(kvh(&out, "VIRTIO_MMIO_DEVICES"), 3, "{out}");
    assert_eq!(kvh(&out, "MP_SUM"), 0);
    assert_eq!(kvh(&out, "MP_TABLE_SUM"), 0);
    assert_eq!(kvh(&out, "MP_CPUS"), 3);
    // Power-off through ACPI: \_S5 in the DSDT, the FADT's sleep control register in port
    // space; the guest halts forever (and this test times out) if the write is ignored.
    assert_eq!(kvh(&out, "S5_OBJECTS"), 1);
    assert_eq!(kvh(&out, "SLEEP_REG_SPACE"), 1);
    assert_eq!(kvh(&out, "SLEEP_REG_PORT"), 0x3c0);
    assert!(!out.contains("POWEROFF IGNORED"), "{out}");
}
