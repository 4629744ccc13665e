//! `strata-agent`: the init (PID 1) of a VM pod's guest. It moves the root off the
//! initramfs, mounts the pseudo-filesystems, loads the kernel modules its initramfs carries
//! (the virtio drivers of Debian's cloud kernel are modules), finds its virtio-serial port by
//! name and serves the host's requests on it, each in its own thread, until told to power
//! off. Its messages go to the console (the VM's serial log).

mod container;
mod devices;
mod guest;
mod net;
mod reaper;
mod terminal;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use strata_agent::{encode, read_frame, write_frame, Reply, Request, Tagged, PORT_NAME};

/// The port's sending half, shared by the requests' threads.
type Out = Arc<Mutex<std::fs::File>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.len()) {
        (Some("--runtime-run"), 4 | 6) => {
            let console = (args.get(4).map(String::as_str) == Some("--console-socket"))
                .then(|| std::path::PathBuf::from(&args[5]));
            std::process::exit(container::runtime_run(&args[2], &args[3], console))
        }
        (Some("--runtime-exec"), 4..=6) => {
            let flags = &args[4..];
            let console = flags
                .iter()
                .position(|a| a == "--console-socket")
                .and_then(|i| flags.get(i + 1));
            std::process::exit(container::runtime_exec(
                &args[2],
                &args[3],
                flags.iter().any(|a| a == "--detach"),
                console.map(std::path::PathBuf::from),
            ))
        }
        (Some("--runtime-kill"), 4) => {
            let sig = args[3].parse().unwrap_or(libc::SIGTERM);
            std::process::exit(container::runtime_kill(&args[2], sig))
        }
        _ => {}
    }
    if let Err(e) = run() {
        eprintln!("strata-agent: {e}");
    }
    guest::power_off();
}

/// The virtio device type of a SCSI controller (virtio spec 5).
const VIRTIO_ID_SCSI: u32 = 8;

fn run() -> std::io::Result<()> {
    guest::leave_initramfs()?;
    guest::mount_basics()?;
    std::thread::spawn(guest::prepare_cgroups);
    guest::load_modules(std::path::Path::new("/etc/strata/modules"))?;
    net::loopback_up()?;
    reaper::start()?;
    let path = guest::find_port(PORT_NAME, std::time::Duration::from_secs(30))?;
    eprintln!("strata-agent: serving on {}", path.display());
    // The runtime's immutable copy is made while the host is still on its way to the first
    // container (its hello, the network, the start), not on that container's path.
    std::thread::spawn(|| {
        drop(container::runtime_command());
        // A pod's VM (its SCSI controller) gets its containers' layers as SCSI disks: their
        // drivers load while the host readies the first container, not on its path.
        if guest::has_virtio_device(VIRTIO_ID_SCSI) {
            if let Err(e) = guest::load_module_set("scsi") {
                eprintln!("strata-agent: {e}");
            }
        }
    });
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    let mut r = port.try_clone()?;
    let out: Out = Arc::new(Mutex::new(port));
    while let Some(Tagged { tag, msg }) = read_frame::<Tagged<Request>>(&mut r)? {
        if msg == Request::Shutdown {
            send(&out, tag, Reply::Bye)?;
            return Ok(());
        }
        let out = Arc::clone(&out);
        std::thread::spawn(move || {
            if let Err(e) = serve(&out, tag, msg) {
                eprintln!("strata-agent: request {tag}: {e}");
            }
        });
    }
    Ok(())
}

/// Sends one reply.
fn send(out: &Out, tag: u64, msg: Reply) -> std::io::Result<()> {
    let mut w = out.lock().map_err(|_| std::io::Error::other("port lock"))?;
    write_frame(&mut *w, &Tagged { tag, msg })
}

fn fail(out: &Out, tag: u64, message: String) -> std::io::Result<()> {
    send(out, tag, Reply::Error { message })
}

fn serve(out: &Out, tag: u64, req: Request) -> std::io::Result<()> {
    match req {
        Request::Hello => send(out, tag, hello()),
        Request::Exec { args } => {
            let Some((prog, rest)) = args.split_first() else {
                return fail(out, tag, "exec: no program".into());
            };
            let mut cmd = Command::new(prog);
            cmd.args(rest);
            relay(out, tag, cmd, &format!("exec {prog}"), (None, None))
        }
        Request::RunContainer {
            id,
            spec,
            layers,
            files,
            stdin,
            tty,
            size,
        } => match container::prepare(&id, spec, &layers, &files) {
            Ok(bundle) => {
                let mut cmd = container::runtime_command();
                cmd.arg("--runtime-run").arg(&bundle).arg(&id);
                let what = format!("container {id}");
                // Its input and terminal go by its id.
                let oom = bundle.join(container::OOM_MARK);
                let r = if tty {
                    let sock = bundle.join("console.sock");
                    terminal::relay(out, tag, cmd, (&id, &sock, Some(&oom)), size, &what)
                } else {
                    relay(
                        out,
                        tag,
                        cmd,
                        &what,
                        (stdin.then_some(id.as_str()), Some(&oom)),
                    )
                };
                // Its overlay and layer mounts go, so the id can run again (a pod's
                // container restarted in the same VM).
                container::release(&id);
                r
            }
            Err(e) => {
                // What it mounted before failing goes (a pod VM's layer disks stay usable).
                container::release(&id);
                fail(out, tag, format!("container {id}: {e}"))
            }
        },
        Request::ExecContainer {
            id,
            exec_id,
            process,
            stdin,
            detach,
            tty,
            size,
        } => {
            let file = match container::exec_file(&id, &exec_id, &process) {
                Ok(f) => f,
                Err(e) => return fail(out, tag, format!("exec in {id}: {e}")),
            };
            if tty && !detach {
                let mut cmd = container::runtime_command();
                cmd.arg("--runtime-exec").arg(&id).arg(&file);
                let sock = file.with_extension("sock");
                let what = format!("exec in {id}");
                let r = terminal::relay(out, tag, cmd, (&exec_id, &sock, None), size, &what);
                let _ = std::fs::remove_file(&file);
                return r;
            }
            let mut cmd = container::runtime_command();
            cmd.arg("--runtime-exec").arg(&id).arg(&file);
            if detach {
                cmd.arg("--detach");
                let st = reaper::status(
                    cmd.stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null()),
                )?;
                let _ = std::fs::remove_file(&file);
                return send(
                    out,
                    tag,
                    Reply::Exit {
                        code: st.code().unwrap_or(125),
                        oom_killed: false,
                    },
                );
            }
            let what = format!("exec in {id}");
            let r = relay(
                out,
                tag,
                cmd,
                &what,
                (stdin.then_some(exec_id.as_str()), None),
            );
            let _ = std::fs::remove_file(&file);
            r
        }
        Request::Input { exec_id, data, eof } => {
            let bytes = match strata_agent::decode(&data) {
                Ok(b) => b,
                Err(e) => return fail(out, tag, format!("input for {exec_id}: {e}")),
            };
            // The exec's request is served on a thread of its own: its input may come
            // before its process has started. The host sends the next input only once this
            // one is answered, so the order holds.
            let t0 = std::time::Instant::now();
            let mut m = loop {
                let m = inputs()
                    .lock()
                    .map_err(|_| std::io::Error::other("inputs lock"))?;
                if m.contains_key(&exec_id) || t0.elapsed() > std::time::Duration::from_secs(30) {
                    break m;
                }
                drop(m);
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            let Some(w) = m.get_mut(&exec_id) else {
                return fail(out, tag, format!("input for {exec_id}: no such exec"));
            };
            // A process that stopped reading: its input is dropped, as a closed pipe's.
            let _ = std::io::Write::write_all(w, &bytes);
            if eof {
                m.remove(&exec_id);
            }
            send(out, tag, Reply::Done)
        }
        Request::Network {
            mac,
            address,
            gateway,
            mtu,
        } => {
            let done = net::Config::parse(&mac, &address, gateway.as_deref(), mtu)
                .and_then(|c| net::configure(&c));
            match done {
                Ok(name) => {
                    eprintln!("strata-agent: {name} is {address}");
                    send(out, tag, Reply::Done)
                }
                Err(e) => fail(out, tag, e.to_string()),
            }
        }
        Request::UpdateFile { id, dest, data } => match container::update_file(&id, &dest, &data) {
            Ok(()) => send(out, tag, Reply::Done),
            Err(e) => fail(out, tag, format!("update {dest} of {id}: {e}")),
        },
        Request::Kill { id, signal } => {
            if let Err(e) = container::check_id(&id) {
                return fail(out, tag, format!("kill: {e}"));
            }
            let st = reaper::status(
                container::runtime_command()
                    .arg("--runtime-kill")
                    .arg(&id)
                    .arg(signal.to_string()),
            )?;
            if st.success() {
                send(out, tag, Reply::Done)
            } else {
                fail(out, tag, format!("kill {id}: the runtime failed ({st})"))
            }
        }
        Request::Resize {
            exec_id,
            rows,
            cols,
        } => match terminal::resize(&exec_id, rows, cols) {
            Ok(()) => send(out, tag, Reply::Done),
            Err(e) => fail(out, tag, format!("resize {exec_id}: {e}")),
        },
        Request::Shutdown => send(out, tag, Reply::Bye),
        Request::UnusedDisks { serials } => {
            let unused = container::unused_disks(&serials);
            send(out, tag, Reply::Unused { serials: unused })
        }
        Request::AttachLayers { .. } | Request::AttachDevices { .. } => fail(
            out,
            tag,
            "attaching disks: the host's shim serves this, not the guest".into(),
        ),
    }
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

/// Where an exec's input goes: its stdin pipe, or its terminal.
type InputEnd = Box<dyn std::io::Write + Send>;

/// The input ends of running execs, by exec id.
fn inputs() -> &'static Mutex<HashMap<String, InputEnd>> {
    static INPUTS: OnceLock<Mutex<HashMap<String, InputEnd>>> = OnceLock::new();
    INPUTS.get_or_init(Mutex::default)
}

/// Runs `cmd`, sending its output as it comes, then its exit status; with `input`, its
/// stdin is kept under that exec id for [`Request::Input`].
fn relay(
    out: &Out,
    tag: u64,
    mut cmd: Command,
    what: &str,
    (input, oom_mark): (Option<&str>, Option<&std::path::Path>),
) -> std::io::Result<()> {
    let child = reaper::spawn(
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()),
    );
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(out, tag, format!("{what}: {e}")),
    };
    if let (Some(key), Some(stdin)) = (input, child.stdin.take()) {
        if let Ok(mut m) = inputs().lock() {
            m.insert(key.to_string(), Box::new(stdin));
        }
    }
    let result = pump_from(out, tag, &mut child, (None, oom_mark));
    if let Some(key) = input {
        if let Ok(mut m) = inputs().lock() {
            m.remove(key);
        }
    }
    result
}

/// Sends `child`'s output as it comes (with `terminal`, a pty master, as its stdout), then
/// its exit status, with whether a container run's `oom_mark` (a file
/// [`container::runtime_run`] makes when the OOM killer acted) is there.
fn pump_from(
    out: &Out,
    tag: u64,
    child: &mut std::process::Child,
    (terminal, oom_mark): (Option<std::fs::File>, Option<&std::path::Path>),
) -> std::io::Result<()> {
    let stdout = match terminal {
        Some(t) => Some(Box::new(t) as Box<dyn Read + Send>),
        None => child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    };
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let mut pumps = Vec::new();
    for (stream, pipe) in [
        (1u8, stdout),
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
        send(
            out,
            tag,
            Reply::Output {
                stream,
                data: encode(&data),
            },
        )?;
    }
    for p in pumps {
        let _ = p.join();
    }
    let status = reaper::wait(child)?;
    let code = {
        use std::os::unix::process::ExitStatusExt;
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    };
    // A container's run leaves a mark when the OOM killer acted in its cgroup.
    let oom_killed = oom_mark.is_some_and(|p| p.exists());
    send(out, tag, Reply::Exit { code, oom_killed })
}
