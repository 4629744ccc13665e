//! The monitor's command line (what [`strata_monitor::LaunchOptions::args`] writes).

use std::ffi::OsString;
use std::path::PathBuf;

/// The parsed command line.
#[derive(Debug, Default)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime_root: PathBuf,
    pub dir: PathBuf,
    pub sync_fd: Option<i32>,
    pub lock_fd: Option<i32>,
    pub log: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub stdin: bool,
    pub terminal: bool,
    pub start: bool,
    pub systemd_cgroup: bool,
    pub vm_shim: Option<PathBuf>,
    pub exit_command: Vec<OsString>,
}

pub const USAGE: &str = "usage: strata-monitor --id ID --bundle DIR --runtime-root DIR --dir DIR \
[--sync-fd N] [--lock-fd N] [--log FILE [--log-max-size BYTES] [--log-max-files N]] [--stdin] [--terminal] \
[--start] [--systemd-cgroup] [--vm-shim PATH] [-- EXIT-COMMAND...]

strata-monitor is started by the strata engine, once per container: it creates the container
through the runtime library, owns its stdio and log, reaps it and records its exit in DIR.";

/// Parses the arguments after the program name.
pub fn parse(mut it: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let mut a = Args {
        log_max_files: 1,
        ..Default::default()
    };
    while let Some(flag) = it.next() {
        let flag = flag
            .into_string()
            .map_err(|f| format!("unknown argument {f:?}"))?;
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, v: OsString| {
            v.to_str()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("{name}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--id" => {
                a.id = value("--id")?
                    .into_string()
                    .map_err(|v| format!("--id: {v:?} is not text"))?
            }
            "--bundle" => a.bundle = value("--bundle")?.into(),
            "--runtime-root" => a.runtime_root = value("--runtime-root")?.into(),
            "--dir" => a.dir = value("--dir")?.into(),
            "--sync-fd" => a.sync_fd = Some(number("--sync-fd", value("--sync-fd")?)? as i32),
            "--lock-fd" => a.lock_fd = Some(number("--lock-fd", value("--lock-fd")?)? as i32),
            "--log" => a.log = Some(value("--log")?.into()),
            "--log-max-size" => {
                a.log_max_size = number("--log-max-size", value("--log-max-size")?)?
            }
            "--log-max-files" => {
                a.log_max_files = number("--log-max-files", value("--log-max-files")?)? as u32
            }
            "--stdin" => a.stdin = true,
            "--terminal" => a.terminal = true,
            "--start" => a.start = true,
            "--systemd-cgroup" => a.systemd_cgroup = true,
            "--vm-shim" => a.vm_shim = Some(value("--vm-shim")?.into()),
            "--" => {
                a.exit_command = it.collect();
                break;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    for (missing, name) in [
        (a.id.is_empty(), "--id"),
        (a.bundle.as_os_str().is_empty(), "--bundle"),
        (a.runtime_root.as_os_str().is_empty(), "--runtime-root"),
        (a.dir.as_os_str().is_empty(), "--dir"),
    ] {
        if missing {
            return Err(format!("{name} is required (see --help)"));
        }
    }
    // The monitor leaves the caller's working directory: relative paths are the caller's.
    for p in [&mut a.bundle, &mut a.runtime_root, &mut a.dir] {
        *p = std::path::absolute(&*p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(l) = a.log.as_mut() {
        *l = std::path::absolute(&*l).map_err(|e| format!("{}: {e}", l.display()))?;
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_monitor::LaunchOptions;

    #[test]
    fn parses_what_launch_writes() {
        let o = LaunchOptions {
            monitor: "m".into(),
            id: "c1".into(),
            bundle: "/b".into(),
            runtime_root: "/r".into(),
            dir: "/d".into(),
            log: Some("/l".into()),
            log_max_size: 10,
            log_max_files: 3,
            stdin: true,
            start: true,
            exit_command: vec!["/bin/echo".into(), "bye".into()],
            ..Default::default()
        };
        let a = parse(o.args().into_iter()).unwrap();
        assert_eq!(a.id, "c1");
        assert_eq!(a.log.as_deref(), Some(std::path::Path::new("/l")));
        assert_eq!((a.log_max_size, a.log_max_files), (10, 3));
        assert!(a.stdin && a.start && !a.terminal);
        assert_eq!(a.sync_fd, Some(3));
        assert_eq!(a.exit_command, ["/bin/echo", "bye"]);
        let e = parse(["--id".into()].into_iter()).unwrap_err();
        assert_eq!(e, "--id needs a value");
        assert!(parse(["--bogus".into()].into_iter())
            .unwrap_err()
            .contains("unknown flag"));
    }
}
