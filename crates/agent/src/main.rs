//! `strata-agent`: the init (PID 1) of a VM pod's guest. It mounts the pseudo-filesystems,
//! loads the kernel modules its initramfs carries (the virtio drivers of Debian's cloud
//! kernel are modules), finds its virtio-serial port by name and serves the host's requests
//! on it until told to power off. Its messages go to the console (the VM's serial log).

mod container;
mod guest;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use strata_agent::{encode, read_frame, write_frame, Reply, Request, PORT_NAME};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--runtime-run") && args.len() == 4 {
        std::process::exit(container::runtime_run(&args[2], &args[3]));
    }
    if let Err(e) = run() {
        eprintln!("strata-agent: {e}");
    }
    guest::power_off();
}

fn run() -> std::io::Result<()> {
    guest::leave_initramfs()?;
    guest::mount_basics()?;
    guest::load_modules(std::path::Path::new("/etc/strata/modules"))?;
    let path = guest::find_port(PORT_NAME, std::time::Duration::from_secs(30))?;
    eprintln!("strata-agent: serving on {}", path.display());
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    let mut r = port.try_clone()?;
    let mut w = port;
    while let Some(req) = read_frame::<Request>(&mut r)? {
        match req {
            Request::Hello => write_frame(&mut w, &hello())?,
            Request::Exec { args } => exec(&mut w, &args)?,
            Request::RunContainer { id, spec, layers } => {
                match container::prepare(&id, &spec, &layers) {
                    Ok(bundle) => {
                        let mut cmd = Command::new("/proc/self/exe");
                        cmd.arg("--runtime-run").arg(&bundle).arg(&id);
                        relay(&mut w, cmd, &format!("container {id}"))?
                    }
                    Err(e) => write_frame(
                        &mut w,
                        &Reply::Error {
                            message: format!("container {id}: {e}"),
                        },
                    )?,
                }
            }
            Request::Shutdown => {
                write_frame(&mut w, &Reply::Bye)?;
                return Ok(());
            }
        }
    }
    Ok(())
}

fn hello() -> Reply {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    Reply::Hello {
        kernel: read("/proc/sys/kernel/osrelease"),
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        agent: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Runs `args`, streaming its output, then its exit status.
fn exec(w: &mut impl Write, args: &[String]) -> std::io::Result<()> {
    let Some((prog, rest)) = args.split_first() else {
        return write_frame(
            w,
            &Reply::Error {
                message: "exec: no program".into(),
            },
        );
    };
    let mut cmd = Command::new(prog);
    cmd.args(rest);
    relay(w, cmd, &format!("exec {prog}"))
}

/// Runs `cmd`, sending its output as it comes, then its exit status.
fn relay(w: &mut impl Write, mut cmd: Command, what: &str) -> std::io::Result<()> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return write_frame(
                w,
                &Reply::Error {
                    message: format!("{what}: {e}"),
                },
            );
        }
    };
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let mut pumps = Vec::new();
    for (stream, pipe) in [
        (
            1u8,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            2u8,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let (Some(mut pipe), tx) = (pipe, tx.clone()) else {
            continue;
        };
        pumps.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send((stream, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    for (stream, data) in rx {
        write_frame(
            w,
            &Reply::Output {
                stream,
                data: encode(&data),
            },
        )?;
    }
    for p in pumps {
        let _ = p.join();
    }
    let status = child.wait()?;
    let code = {
        use std::os::unix::process::ExitStatusExt;
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    };
    write_frame(w, &Reply::Exit { code })
}
