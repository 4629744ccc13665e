//! strata-pause: the process that holds a pod's namespaces (the course's "pause container"),
//! and with `-- CMD ARGS...` the minimal init of `--init`. The program itself is in
//! `program/` (freestanding: no C library, its own `_start`); the build compiles it into a
//! small static executable that this library embeds, so the engine can install it where it
//! needs it (a pod's infra root filesystem is empty: a static binary is all it can run).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The strata-pause executable.
pub const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/strata-pause"));

/// Writes the program to `dir/strata-pause` (once: an identical file is kept) and returns its
/// path. The file is written beside and renamed into place, so a reader never sees half of it.
pub fn install(dir: &Path) -> io::Result<PathBuf> {
    let p = dir.join("strata-pause");
    if std::fs::read(&p).is_ok_and(|b| b == PROGRAM) {
        return Ok(p);
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".strata-pause.{}", std::process::id()));
    std::fs::write(&tmp, PROGRAM)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o555))?;
    std::fs::rename(&tmp, &p)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Duration;

    #[test]
    fn it_is_a_small_static_executable() {
        assert_eq!(&PROGRAM[..4], b"\x7fELF");
        assert!(PROGRAM.len() < 64 * 1024, "{} bytes", PROGRAM.len());
        let t = tempfile::tempdir().unwrap();
        let p = install(t.path()).unwrap();
        let out = Command::new("file").arg(&p).output();
        if let Ok(o) = out {
            let s = String::from_utf8_lossy(&o.stdout);
            assert!(s.contains("statically linked"), "{s}");
        }
        assert_eq!(
            install(t.path()).unwrap(),
            p,
            "installing again keeps the file"
        );
    }

    #[test]
    fn as_init_it_returns_the_status_of_its_command() {
        let t = tempfile::tempdir().unwrap();
        let p = install(t.path()).unwrap();
        let st = strata_testkit::status(Command::new(&p).args(["--", "/bin/sh", "-c", "exit 7"]))
            .unwrap();
        assert_eq!(st.code(), Some(7));
        let st = strata_testkit::status(Command::new(&p).args(["--", "/no/such/thing"])).unwrap();
        assert_eq!(st.code(), Some(127));
        let st =
            strata_testkit::status(Command::new(&p).args(["--", "/bin/sh", "-c", "kill -TERM $$"]))
                .unwrap();
        assert_eq!(st.code(), Some(128 + 15));
    }

    #[test]
    fn as_pause_it_waits_and_ends_on_sigterm() {
        let t = tempfile::tempdir().unwrap();
        let p = install(t.path()).unwrap();
        let mut g = strata_testkit::ChildGuard::spawn(&mut Command::new(&p)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(g.0.try_wait().unwrap().is_none(), "it holds on");
        g.signal(15); // SIGTERM
        let st = g
            .wait_timeout(Duration::from_secs(5))
            .expect("ended on SIGTERM");
        assert_eq!(st.code(), Some(0));
    }
}
