//! Shared helpers for the integration tests: building the assembly test guests, running the
//! VMM binary with a timeout, reading the guest's KEY=value lines.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
pub use strata_testkit::require;

/// Path of the VMM binary under test.
pub fn vmm_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata-vmm")
}

/// Returns false (after printing SKIP) when /dev/kvm is unusable outside CI; panics in CI
/// (strata-testkit's prerequisite policy).
pub fn require_kvm() -> bool {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => true,
        Err(e) => require(false, &format!("/dev/kvm unusable: {e}")),
    }
}

/// True on a PVM-flavoured KVM host.
pub fn is_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

fn guests_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests")
}

/// A scratch directory for this test binary (under the target dir). The harness has no
/// global teardown, so each run first removes the scratch dirs of test processes that ended.
pub fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(rd) = std::fs::read_dir(base) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = n.strip_prefix("vmm-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let d = base.join(format!("vmm-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
    .clone()
}

fn run_tool(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e} (binutils installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a test guest (cached per test binary). Names: `linux64-bz`, `linux64-elf`, `pvh`,
/// `stop1`..`stop3`, and any `<name>` with guests/<name>.S linked by guests/<name>.ld or, for
/// PVH guests, pvh.ld.
pub fn guest(name: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap();
    if let Some(p) = c.get(name) {
        return p.clone();
    }
    let src = guests_src();
    let dir = scratch();
    let obj = dir.join(format!("{name}.o"));
    let elf = dir.join(format!("{name}.elf"));
    let (source, defsym, ld, binary) = match name {
        "linux64-bz" => ("linux64.S", None, "bzimage.ld", true),
        "linux64-elf" => ("linux64.S", None, "elf64.ld", false),
        "acpi" => ("acpi.S", None, "elf64.ld", false),
        "virtio" => ("virtio.S", None, "elf64.ld", false),
        "count" => ("count.S", None, "pvh.ld", false),
        "net" => ("net.S", None, "elf64.ld", false),
        "vsock" => ("vsock.S", None, "elf64.ld", false),
        "echo" => ("echo.S", None, "pvh.ld", false),
        n if n.starts_with("stop") => {
            ("stop.S", Some(format!("MODE={}", &n[4..])), "pvh.ld", false)
        }
        n => {
            let ld = if src.join(format!("{n}.ld")).exists() {
                format!("{n}.ld")
            } else {
                "pvh.ld".into()
            };
            let s: &'static str = Box::leak(format!("{n}.S").into_boxed_str());
            (s, None, Box::leak(ld.into_boxed_str()) as &str, false)
        }
    };
    let mut as_cmd = Command::new("as");
    as_cmd.arg("--64").arg("-I").arg(&src).arg("-o").arg(&obj);
    if let Some(d) = defsym {
        as_cmd.arg("--defsym").arg(d);
    }
    run_tool(as_cmd.arg(src.join(source)));
    run_tool(
        Command::new("ld")
            .args(["-m", "elf_x86_64", "-n", "-T"])
            .arg(src.join(ld))
            .arg("-o")
            .arg(&elf)
            .arg(&obj),
    );
    let out = if binary {
        let img = dir.join(format!("{name}.img"));
        run_tool(
            Command::new("objcopy")
                .args(["-O", "binary"])
                .arg(&elf)
                .arg(&img),
        );
        img
    } else {
        elf
    };
    c.insert(name.to_string(), out.clone());
    out
}

/// Runs the VMM with `args`, killing it (by pid) after `timeout`.
pub fn run_vmm_timeout(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(vmm_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata-vmm");
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

/// Runs the VMM with a 30 s timeout.
pub fn run_vmm(args: &[&str]) -> Output {
    run_vmm_timeout(args, Duration::from_secs(30))
}

/// Standard output as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that the VMM exited with status 0 (showing both streams if not) and returns its
/// standard output.
pub fn ok_stdout(o: &Output) -> String {
    let out = stdout(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(o)
    );
    out
}

/// The value of the first `KEY=value` line.
pub fn kv(out: &str, key: &str) -> Option<String> {
    let p = format!("{key}=");
    out.lines()
        .find_map(|l| l.strip_prefix(&p).map(|s| s.trim_end().to_string()))
}

/// The value of a `KEY=hex` line as a number.
pub fn kvh(out: &str, key: &str) -> u64 {
    let v = kv(out, key).unwrap_or_else(|| panic!("no {key}= line in guest output:\n{out}"));
    u64::from_str_radix(&v, 16).unwrap_or_else(|_| panic!("{key}={v}: not hex"))
}

/// Every value of `KEY=value` lines.
pub fn kv_all(out: &str, key: &str) -> Vec<String> {
    let p = format!("{key}=");
    out.lines()
        .filter_map(|l| l.strip_prefix(&p).map(|s| s.trim_end().to_string()))
        .collect()
}

/// Writes a file into the scratch dir and returns its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, data).unwrap();
    p
}
