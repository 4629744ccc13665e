//! strata-pause: a pod's infra process, and `--init`'s init.
//!
//! Without arguments it holds the pod's namespaces: it sleeps in `pause(2)`, reaps any child
//! re-parented to it (when the pod shares its pid namespace it is PID 1 there), and exits 0
//! on SIGTERM, SIGINT or SIGHUP. With `-- CMD ARGS...` it is a minimal init: it starts CMD,
//! forwards the termination signals to it, reaps every zombie, and exits with CMD's status
//! (128+signal if a signal ended it), as tini does for docker's `--init`.
//!
//! It is freestanding (`no_std`, raw system calls, its own `_start`): the binary is static and
//! needs nothing from the root filesystem it runs in, which for a pod's infra is empty.
//! Built by the crate's build script (see build.rs), not as a cargo target.

#![no_std]
#![no_main]

mod sys;

use core::panic::PanicInfo;

/// Signals the init forwards to its command.
const FORWARDED: [usize; 6] = [sys::SIGTERM, sys::SIGINT, sys::SIGHUP, sys::SIGQUIT, sys::SIGUSR1, sys::SIGUSR2];

/// The process entry point: the stack pointer points at argc, then argv, NULL, envp, NULL.
///
/// # Safety
/// Called by the kernel with the initial stack layout of the System V ABI.
#[no_mangle]
pub unsafe extern "C" fn rust_start(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack: argc, then argc argument pointers, a NULL, the
    // environment pointers, a NULL.
    let (argc, argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (argc, argv, argv.add(argc + 1))
    };
    // argv[1] == "--": init mode.
    // SAFETY: argv holds argc valid pointers to NUL-terminated strings.
    let init = argc >= 3 && unsafe { sys::cstr_eq(*argv.add(1), b"--\0") };
    if init {
        // SAFETY: argv[2..] and envp are the kernel's NULL-terminated arrays.
        sys::exit(unsafe { run_init(argv.add(2), envp) })
    }
    pause()
}

/// Holds the namespaces until told to stop.
fn pause() -> ! {
    let set = sys::sigset(&[sys::SIGCHLD, sys::SIGTERM, sys::SIGINT, sys::SIGHUP]);
    sys::block(&set);
    loop {
        match sys::sigwait(&set) {
            sys::SIGCHLD => sys::reap_all(),
            _ => sys::exit(0),
        }
    }
}

/// Runs `argv` as a child, forwards signals to it, reaps zombies; its exit status.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of NUL-terminated strings.
unsafe fn run_init(argv: *const *const u8, envp: *const *const u8) -> i32 {
    let mut all = [sys::SIGCHLD; 7];
    all[1..].copy_from_slice(&FORWARDED);
    let set = sys::sigset(&all);
    sys::block(&set);
    let child = sys::fork();
    if child == 0 {
        sys::unblock(&set);
        // SAFETY: argv and envp are the kernel's NULL-terminated arrays of C strings.
        let err = unsafe { exec_path(argv, envp) };
        sys::write(2, b"strata-init: cannot run the command\n");
        sys::exit(if err == -(sys::ENOENT as isize) { 127 } else { 126 });
    }
    if child < 0 {
        sys::write(2, b"strata-init: fork failed\n");
        return 125;
    }
    loop {
        let sig = sys::sigwait(&set);
        if sig != sys::SIGCHLD {
            sys::kill(child, sig);
            continue;
        }
        loop {
            let mut status: i32 = 0;
            let p = sys::wait4(-1, &mut status, sys::WNOHANG);
            if p <= 0 {
                break;
            }
            if p == child {
                sys::reap_all();
                return if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
            }
        }
    }
}

/// execve of argv[0], searched in PATH (from `envp`, else the usual default) when it has no
/// slash, as execvp does; returns the last error (a negative errno).
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of NUL-terminated strings.
unsafe fn exec_path(argv: *const *const u8, envp: *const *const u8) -> isize {
    // SAFETY: argv[0] is a NUL-terminated string (the caller's contract).
    let prog = unsafe { sys::cstr(*argv) };
    if prog.contains(&b'/') {
        // SAFETY: as above.
        return unsafe { sys::execve(*argv, argv, envp) };
    }
    let mut path: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let mut e = envp;
    // SAFETY: envp is NULL-terminated; each entry is a NUL-terminated string.
    unsafe {
        while !(*e).is_null() {
            let kv = sys::cstr(*e);
            if let Some(v) = kv.strip_prefix(b"PATH=") {
                path = v;
            }
            e = e.add(1);
        }
    }
    let mut err = -(sys::ENOENT as isize);
    let mut buf = [0u8; 4096];
    for dir in path.split(|&c| c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let n = dir.len() + 1 + prog.len();
        if n + 1 > buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..n].copy_from_slice(prog);
        buf[n] = 0;
        // SAFETY: `buf` holds a NUL-terminated path; argv and envp as above.
        let r = unsafe { sys::execve(buf.as_ptr(), argv, envp) };
        if r != -(sys::ENOENT as isize) {
            err = r;
        }
    }
    err
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    sys::exit(125)
}
