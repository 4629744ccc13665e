//! virtio-mmio devices driven by a guest driver through the real register interface.

mod common;
use common::*;
use std::collections::HashMap;

/// Splits the guest output into per-device KEY=value maps.
fn devices(out: &str) -> Vec<HashMap<String, String>> {
    let mut v: Vec<HashMap<String, String>> = Vec::new();
    for l in out.lines() {
        if l.starts_with("DEV=") {
            v.push(HashMap::new());
        }
        if let (Some(m), Some((k, val))) = (v.last_mut(), l.split_once('=')) {
            m.insert(k.to_string(), val.to_string());
        }
    }
    v
}

fn hex(m: &HashMap<String, String>, k: &str) -> u64 {
    u64::from_str_radix(m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}")), 16).unwrap()
}

#[test]
fn guest_drives_blk_rw_ro_and_rng() {
    if !require_kvm() {
        return;
    }
    let k = guest("virtio");
    let mut rw = b"STRATA-DISK-SECTOR0".to_vec();
    rw.resize(8 * 512, 0);
    let mut ro = b"STRATA-DISK-READONLY".to_vec();
    ro.resize(8 * 512, 0);
    let rw_path = scratch_file("virtio-rw.img", &rw);
    let ro_path = scratch_file("virtio-ro.img", &ro);
    let o = run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--mem",
        "64",
        "--drive",
        rw_path.to_str().unwrap(),
        "--drive",
        &format!("{},ro", ro_path.display()),
        "--rng",
    ]);
    let out = ok_stdout(&o);
    assert!(out.contains("DONE\n"), "{out}");
    let d = devices(&out);
    assert_eq!(d.len(), 3, "{out}");
    for m in &d {
        assert_eq!(hex(m, "VERSION"), 2);
        assert_eq!(hex(m, "STATUS"), 0xf, "driver ok with features ok");
        assert_eq!(hex(m, "INTERRUPT_STATUS"), 1, "used-buffer interrupt");
        assert_eq!(hex(m, "INTERRUPT_AFTER_ACK"), 0);
    }
    // Read-write disk: read, write, flush, read back; out-of-range read fails.
    let b = &d[0];
    assert_eq!(hex(b, "DEVICE_ID"), 2);
    assert_eq!(hex(b, "CAPACITY"), 8);
    assert_eq!(hex(b, "READ_STATUS"), 0);
    assert_eq!(b["DATA"], "STRATA-DISK-SECT");
    assert_eq!(hex(b, "WRITE_STATUS"), 0);
    assert_eq!(hex(b, "FLUSH_STATUS"), 0);
    assert_eq!(b["READBACK"], "WWWWWWWW");
    assert_eq!(hex(b, "OUT_OF_RANGE_STATUS"), 1);
    assert_eq!(hex(b, "USED_IDX"), 5);
    let f = std::fs::read(&rw_path).unwrap();
    assert!(
        f[1024..1536].iter().all(|x| *x == b'W'),
        "write reached the image"
    );
    // Read-only disk: reads work, writes fail with IOERR, image unchanged.
    let r = &d[1];
    assert_eq!(r["DATA"], "STRATA-DISK-READ");
    assert_eq!(hex(r, "WRITE_STATUS"), 1);
    assert_eq!(std::fs::read(&ro_path).unwrap(), ro);
    // rng: 32 random bytes.
    let g = &d[2];
    assert_eq!(hex(g, "DEVICE_ID"), 4);
    assert_eq!(hex(g, "RNG_LEN"), 32);
    assert_ne!(hex(g, "RNG_OR"), 0);
}

#[test]
fn missing_drive_is_a_config_error() {
    let k = guest("virtio");
    let o = run_vmm(&[
        "--kernel",
        k.to_str().unwrap(),
        "--drive",
        "/nonexistent.img",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("config: drive drive0: /nonexistent.img"),
        "{}",
        stderr(&o)
    );
}
