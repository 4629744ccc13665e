//! Several vCPUs: the BSP starts an AP with INIT/SIPI through the in-kernel local APIC.

mod common;
use common::*;
use std::process::Output;

/// Runs the SMP test guest with `vcpus` vCPUs and 32 MiB.
fn run_smp_guest(vcpus: &str) -> Output {
    let k = guest("smp");
    run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--mem",
        "32",
        "--vcpus",
        vcpus,
    ])
}

#[test]
fn bsp_starts_ap_with_init_sipi() {
    if !require_kvm() {
        return;
    }
    let o = run_smp_guest("2");
    let out = ok_stdout(&o);
    assert_eq!(kvh(&out, "BSP_APIC_ID"), 0);
    // CPUID leaf 1 on the AP reports the APIC id the VMM gave vCPU 1.
    assert_eq!(kvh(&out, "AP_APIC_ID"), 1);
    assert!(out.contains("DONE\n"));
}

#[test]
fn single_vcpu_ap_never_answers() {
    if !require_kvm() {
        return;
    }
    let o = run_smp_guest("1");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("AP TIMEOUT"), "{}", stdout(&o));
}
