//! strata-monitor: the per-container monitor. See the library's documentation for its role
//! and files; `--help` for its command line.

mod daemon;

use daemon::args::{self, Args};
use daemon::container::{raw, Container};
use daemon::event_loop::{Monitor, Streams, Watched};
use daemon::stdio::Stdio;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use strata_monitor::cri_log::Writer;
use strata_monitor::launch::SyncMessage;
use strata_monitor::protocol;
use strata_monitor::record::{self, MonitorPid};

fn main() {
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) if e == args::USAGE => {
            println!("{e}");
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("strata-monitor: {e}");
            report_to_fd(
                3,
                &SyncMessage {
                    error: Some(format!("monitor: {e}")),
                    ..Default::default()
                },
            );
            std::process::exit(2);
        }
    };
    // The sync pipe and the caller's lock are ours alone: no child may inherit them past
    // an exec.
    for fd in [args.sync_fd, args.lock_fd].into_iter().flatten() {
        let _ = strata_os::fd::set_cloexec(fd, true);
    }
    detach(&args);
    std::process::exit(run(args));
}

/// Leaves the caller: the process it started exits now; the monitor carries on in a new
/// session (no terminal's signals reach it), as the reaper of the container it will create.
fn detach(a: &Args) {
    // SAFETY: the monitor is single-threaded.
    match unsafe { strata_os::process::clone_fork(0) } {
        Ok(0) => {}
        // SAFETY: the parent leaves at once, without destructors.
        Ok(_) => unsafe { libc::_exit(0) },
        Err(e) => {
            eprintln!("strata-monitor: fork: {e}");
            std::process::exit(1);
        }
    }
    // SAFETY: setsid in a fresh child that is not a process group leader.
    unsafe { libc::setsid() };
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = strata_os::fd::open("/dev/null", libc::O_RDWR, 0) {
        let _ = strata_os::fd::dup_onto(null.as_raw_fd(), 0);
        let _ = strata_os::fd::dup_onto(null.as_raw_fd(), 1);
    }
    let log = a.dir.join(record::MONITOR_LOG);
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = strata_os::fd::dup_onto(f.as_raw_fd(), 2);
    }
}

/// Everything after detaching; returns the monitor's exit status.
fn run(a: Args) -> i32 {
    let sync = a.sync_fd.map(|fd| {
        // SAFETY: the caller handed us this descriptor (--sync-fd) and nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    let fail = |msg: String| {
        eprintln!("strata-monitor: {msg}");
        if let Some(s) = &sync {
            report_to_fd(
                s.as_raw_fd(),
                &SyncMessage {
                    error: Some(msg),
                    ..Default::default()
                },
            );
        }
        1
    };
    if let Err(e) = strata_os::process::set_child_subreaper() {
        return fail(format!("monitor: become the container's reaper: {e}"));
    }
    // SAFETY: getpid never fails.
    let me = unsafe { libc::getpid() };
    let me = MonitorPid {
        pid: me,
        start: strata_os::process::process_start_time(me).unwrap_or(0),
    };
    if let Err(e) = record::write(&a.dir, record::PID, &me) {
        return fail(format!("monitor: {}: {e}", a.dir.display()));
    }
    let signals = match daemon::signals::signalfd() {
        Ok(s) => s,
        Err(e) => return fail(format!("monitor: signalfd: {e}")),
    };
    let sock = a.dir.join(record::SOCKET);
    let listener = match protocol::bind(&a.dir).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
        Ok(l) => l,
        Err(e) => return fail(format!("monitor: control socket {}: {e}", sock.display())),
    };
    let log = match &a.log {
        Some(p) => match Writer::open(p, a.log_max_size, a.log_max_files) {
            Ok(w) => Some(w),
            Err(e) => return fail(format!("monitor: container log {}: {e}", p.display())),
        },
        None => None,
    };
    let mut stdio = match Stdio::new(&a.dir, a.stdin, a.terminal) {
        Ok(s) => s,
        Err(e) => return fail(format!("monitor: container stdio: {e}")),
    };
    let container = Container::new(&a);
    let close: Vec<i32> = [
        sync.as_ref().map(|s| s.as_raw_fd()),
        a.lock_fd,
        raw(&stdio.stdin),
    ]
    .into_iter()
    .flatten()
    .collect();
    let pid = match container.create(&stdio, &close) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(e) = stdio.after_create(Duration::from_secs(10)) {
        container.discard();
        return fail(format!("monitor: container terminal: {e}"));
    }
    if a.start {
        if let Err(e) = container.start() {
            container.discard();
            return fail(e);
        }
    }
    // The container is made: the caller's lock can go (with the report, the caller learns).
    if let Some(l) = a.lock_fd {
        // SAFETY: closing the descriptor the caller handed us for this purpose only.
        unsafe { libc::close(l) };
    }
    if let Some(s) = sync {
        report_to_fd(
            s.as_raw_fd(),
            &SyncMessage {
                pid: Some(pid),
                monitor: Some(me),
                error: None,
            },
        );
    }
    let watched = Watched {
        signals,
        listener,
        io: Streams {
            stdin: daemon::input::Input::new(stdio.stdin.take(), a.terminal),
            stdout: stdio.stdout.take(),
            stderr: stdio.stderr.take(),
            terminal: a.terminal,
        },
        log,
    };
    let mut m = Monitor::new(container, a.dir.clone(), pid, a.start, watched);
    m.run();
    m.last_answers();
    let _ = std::fs::remove_file(&sock);
    if let Some((prog, rest)) = a.exit_command.split_first() {
        if let Err(e) = std::process::Command::new(prog).args(rest).spawn() {
            eprintln!("strata-monitor: exit command {prog:?}: {e}");
        }
    }
    0
}

/// Writes the sync message (best effort: the caller may be gone).
fn report_to_fd(fd: i32, m: &SyncMessage) {
    if let Ok(b) = serde_json::to_vec(m) {
        let _ = strata_os::fd::write_all(fd, &b);
    }
}
