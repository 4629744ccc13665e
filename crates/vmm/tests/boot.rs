//! Boot protocol tests: purpose-built guests report the entry state they find (zero page,
//! command line, e820, initrd, CPU mode; PVH start_info) and the tests compare it with what
//! a Linux kernel expects.

mod common;
use common::*;

const CR0_PE: u64 = 1;
const CR0_PG: u64 = 1 << 31;

fn e820(out: &str) -> Vec<(u64, u64, u64)> {
    kv_all(out, "E820")
        .iter()
        .map(|l| {
            let v: Vec<u64> = l
                .split(' ')
                .map(|x| u64::from_str_radix(x, 16).unwrap())
                .collect();
            (v[0], v[1], v[2])
        })
        .collect()
}

/// Boots test guest `name` with an initrd holding `initrd`, command line `cmdline` and `mem`
/// MiB, checks that it exits 0 after printing `GUEST <tag>` and `DONE`, and returns its
/// output.
fn boot_reporting_guest(name: &str, tag: &str, initrd: &[u8], cmdline: &str, mem: &str) -> String {
    let k = guest(name);
    let initrd = scratch_file(&format!("{name}-initrd"), initrd);
    let o = run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--initrd",
        initrd.to_str().unwrap(),
        "--cmdline",
        cmdline,
        "--mem",
        mem,
    ]);
    let out = ok_stdout(&o);
    assert!(
        out.contains(&format!("GUEST {tag}\n")) && out.contains("DONE\n"),
        "{out}"
    );
    out
}

fn check_linux64(name: &str) {
    if !require_kvm() {
        return;
    }
    let out = boot_reporting_guest(
        name,
        "linux64",
        b"STRATA-INITRD-OK and some more bytes",
        "console=ttyS0 strata.test=linux64",
        "64",
    );
    // Long mode with paging, PAE, flat __BOOT_CS/__BOOT_DS.
    let cr0 = kvh(&out, "CR0");
    assert_eq!(cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
    assert_ne!(kvh(&out, "CR4") & (1 << 5), 0, "PAE");
    assert_eq!(kvh(&out, "EFER") & 0x500, 0x500, "LME|LMA");
    assert_eq!(kvh(&out, "CS"), 0x10);
    assert_eq!(kvh(&out, "DS"), 0x18);
    // Zero page.
    assert_eq!(kvh(&out, "ZEROPAGE"), 0x7000);
    assert_eq!(kvh(&out, "BOOTFLAG"), 0xaa55);
    assert_eq!(kvh(&out, "HDRS"), 0x5372_6448);
    assert_eq!(kvh(&out, "LOADER"), 0xff);
    assert_eq!(
        kv(&out, "CMDLINE").unwrap(),
        "console=ttyS0 strata.test=linux64"
    );
    // Initrd: page aligned, as high as possible in low memory, intact.
    let rd = kvh(&out, "RAMDISK");
    assert_eq!(rd % 4096, 0);
    assert_eq!(kvh(&out, "RAMDISK_SIZE"), 36);
    assert!(
        rd + 36 <= 64 << 20 && rd + 36 + 4096 > 64 << 20,
        "initrd at {rd:#x}"
    );
    assert_eq!(kv(&out, "INITRD").unwrap(), "STRATA-INITRD-OK");
    // e820: low RAM, BIOS hole reserved, RAM from 1 MiB to the end.
    assert_eq!(kvh(&out, "E820_ENTRIES"), 3);
    assert_eq!(
        e820(&out),
        vec![
            (0, 0x9fc00, 1),
            (0x9fc00, 0x100000 - 0x9fc00, 2),
            (0x100000, (64 << 20) - 0x100000, 1)
        ]
    );
    // CPUID: hypervisor bit set for the guest.
    assert_ne!(kvh(&out, "CPUID1_ECX") & (1 << 31), 0);
    assert_eq!(kvh(&out, "MISC_ENABLE") & 1, 1, "fast strings");
}

#[test]
fn bzimage_64bit_boot_protocol() {
    check_linux64("linux64-bz");
}

#[test]
fn elf_vmlinux_64bit_entry() {
    check_linux64("linux64-elf");
}

#[test]
fn pvh_entry_and_start_info() {
    if !require_kvm() {
        return;
    }
    // 3.5 GiB: RAM is split around the 32-bit MMIO hole (nothing is touched, so no RSS).
    let out = boot_reporting_guest(
        "pvh",
        "pvh",
        b"STRATA-INITRD-OK-pvh",
        "strata.test=pvh",
        "3584",
    );
    let cr0 = kvh(&out, "CR0");
    assert_eq!(
        cr0 & (CR0_PE | CR0_PG),
        CR0_PE,
        "32-bit protected mode, paging off"
    );
    assert_eq!(kvh(&out, "CS"), 0x10);
    assert_eq!(kvh(&out, "START_INFO"), 0x6000);
    assert_eq!(kvh(&out, "MAGIC"), 0x336e_c578);
    assert_eq!(kvh(&out, "VERSION"), 1);
    assert_eq!(kv(&out, "CMDLINE").unwrap(), "strata.test=pvh");
    assert_eq!(kvh(&out, "NR_MODULES"), 1);
    assert_eq!(kvh(&out, "MOD_SIZE"), 20);
    assert_eq!(kv(&out, "INITRD").unwrap(), "STRATA-INITRD-OK");
    assert_eq!(
        e820(&out),
        vec![
            (0, 0x9fc00, 1),
            (0x9fc00, 0x100000 - 0x9fc00, 2),
            (0x100000, 0xc000_0000 - 0x100000, 1),
            (0x1_0000_0000, (3584u64 << 20) - 0xc000_0000, 1),
        ]
    );
}

#[test]
fn microguest_prints_and_exits_zero() {
    if !require_kvm() {
        return;
    }
    let k = guest("microguest");
    let o = run_vmm(&["--kernel", k.to_str().unwrap(), "--mem", "32"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "GUEST-INIT-READY microguest\r\n");
}

#[test]
fn triple_fault_is_reported_distinctly() {
    if !require_kvm() {
        return;
    }
    let o = run_vmm(&["--kernel", guest("stop1").to_str().unwrap(), "--mem", "32"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dispatcher: vcpu 0: triple fault"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn guest_panic_is_reported_distinctly() {
    if !require_kvm() {
        return;
    }
    let o = run_vmm(&["--kernel", guest("stop2").to_str().unwrap(), "--mem", "32"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("dispatcher: vcpu 0: guest panic"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn kvm_internal_error_is_reported_distinctly() {
    if !require_kvm() {
        return;
    }
    let o = run_vmm(&["--kernel", guest("stop3").to_str().unwrap(), "--mem", "32"]);
    if is_pvm() {
        // PVM emulates CPL 0 code and cannot emulate SSE: KVM reports an internal error.
        assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("dispatcher: vcpu 0: kvm internal error: instruction emulation failure"),
            "{e}"
        );
    } else {
        // Hardware virtualization runs SSE natively; the guest then resets.
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("SSE-RAN"));
    }
}
