//! Builds the strata-pause program (program/main.rs): freestanding Rust (`no_std`, raw system
//! calls, its own `_start`) compiled by rustc with `panic=abort` and linked with no C library
//! at all, so the result is a small static executable that runs in an empty root filesystem.
//! The library embeds it (`strata_pause::PROGRAM`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("program");
    for f in ["main.rs", "sys.rs"] {
        println!("cargo:rerun-if-changed=program/{f}");
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("TARGET");
    let st = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--crate-name",
            "strata_pause",
        ])
        .args(["--target", &target])
        // musl targets link their own start files (crt1.o, with its `_start`) by default.
        .args(if target.ends_with("-musl") {
            &["-C", "link-self-contained=no"][..]
        } else {
            &[]
        })
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=s",
            "-C",
            "debuginfo=0",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "relocation-model=static", "-C", "codegen-units=1"])
        .args([
            "-C",
            "link-arg=-nostartfiles",
            "-C",
            "link-arg=-nostdlib",
            "-C",
            "link-arg=-static",
        ])
        .args([
            "-C",
            "link-arg=-Wl,--gc-sections",
            "-C",
            "link-arg=-Wl,--build-id=none",
        ])
        .arg(src.join("main.rs"))
        .arg("-o")
        .arg(out.join("strata-pause"))
        .status()
        .expect("run rustc for strata-pause");
    assert!(st.success(), "building the strata-pause program failed");
}
