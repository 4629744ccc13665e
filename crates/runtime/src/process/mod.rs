//! What is applied to a process between the container's rootfs and `execve`: shared by the
//! container's init and by `exec`.

pub mod caps;
pub mod console;
pub mod fds;
pub mod lsm;
pub mod rlimits;
pub mod seccomp;
pub mod sysctl;
pub mod user;

use crate::error::{Error, Result};
use crate::sync::Channel;
use libseccomp::ScmpFilterContext;
use oci_spec::runtime::{LinuxSeccomp, Process};
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;
use strata_os::cvt::cstr;
use strata_os::{cvt, process as os_process};

/// Inputs to [`prepare`].
pub struct Ctx<'a> {
    /// The process to run.
    pub process: &'a Process,
    /// The container's seccomp profile.
    pub seccomp: Option<&'a LinuxSeccomp>,
    /// Whether /proc/self/setgroups allows setgroups (false in some user namespaces).
    pub setgroups: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Where to send the seccomp notify fd.
    pub channel: Option<&'a Channel>,
    /// Personality domain from the spec (LINUX32 gives PER_LINUX32).
    pub personality32: bool,
}

/// Everything needed for the final `execve`.
pub struct ExecPlan {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    deferred_seccomp: Option<ScmpFilterContext>,
}

fn cstrings(v: &[String], what: &str) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_str()).map_err(|_| Error::Spec(format!("{what} {s:?} contains NUL")))
        })
        .collect()
}

/// Finds the program: a name with a slash is used as is; otherwise PATH from the process's
/// environment (or the default) is searched, as runc does.
pub fn find_program(arg0: &str, env: &[String]) -> Result<String> {
    let executable = |p: &str| {
        cstr(p)
            .map(|c| {
                // SAFETY: valid C string.
                let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
                ok && std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
            })
            .unwrap_or(false)
    };
    if arg0.contains('/') {
        if executable(arg0) {
            return Ok(arg0.to_string());
        }
        let why = match std::fs::metadata(arg0) {
            Err(e) => e.to_string(),
            Ok(m) if m.is_dir() => "is a directory".into(),
            Ok(_) => "permission denied".into(),
        };
        return Err(Error::Other(format!("exec {arg0:?}: {why}")));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = format!("{}/{arg0}", dir.trim_end_matches('/'));
        if executable(&cand) {
            return Ok(cand);
        }
    }
    Err(Error::Other(format!(
        "exec {arg0:?}: executable file not found in $PATH"
    )))
}

/// Applies everything to the calling process except a seccomp filter that must come last, and
/// returns the plan for [`exec`].
pub fn prepare(c: &Ctx) -> Result<ExecPlan> {
    let p = c.process;
    if let Some(adj) = p.oom_score_adj() {
        crate::rootfs::paths::write_proc("/proc/self/oom_score_adj", &adj.to_string()).map_err(|e| {
            if adj < 0 {
                Error::Other(format!(
                    "oomScoreAdj {adj}: {e}: a negative value needs CAP_SYS_RESOURCE, which this host does not grant"
                ))
            } else {
                e
            }
        })?;
    }
    if let Some(r) = p.rlimits() {
        rlimits::apply(r)?;
    }
    if c.personality32 {
        // SAFETY: personality with an integer argument.
        unsafe { libc::personality(0x0008) }; // PER_LINUX32
    }
    if let Some(a) = p.apparmor_profile() {
        lsm::apparmor(a)?;
    }
    if let Some(l) = p.selinux_label() {
        lsm::selinux(l)?;
    }
    let nnp = p.no_new_privileges().unwrap_or(false);
    // The cwd, its check and the program are settled before the user's seccomp filter can
    // refuse the calls they need. Only a cwd root may not enter waits for the user's switch.
    let cwd = p.cwd().as_path();
    let chdir = || os_process::chdir(cwd);
    let chdir_later = match chdir() {
        Ok(_) => check_cwd(cwd).map(|_| false)?,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => true,
        Err(e) => return Err(Error::io(format!("chdir to cwd {}", cwd.display()), e)),
    };
    let env: Vec<String> = p.env().clone().unwrap_or_default();
    let args = p.args().clone().unwrap_or_default();
    let prog = find_program(&args[0], &env)?;
    fds::cloexec_from(3 + c.preserve_fds);
    let mut deferred = None;
    if let Some(s) = c.seccomp {
        let notify = seccomp::uses_notify(s);
        let filter = seccomp::build(s, nnp)?;
        if !nnp || notify {
            // Without noNewPrivileges the filter needs CAP_SYS_ADMIN: load it while we have it.
            if let Some(fd) = seccomp::load(&filter, notify)? {
                if let Some(ch) = c.channel {
                    ch.send_fd("seccomp", fd.as_raw_fd())
                        .map_err(|e| Error::io("send seccomp listener", e))?;
                }
            }
        } else {
            deferred = Some(filter);
        }
    }
    let sets = p
        .capabilities()
        .as_ref()
        .map(caps::Sets::from_spec)
        .unwrap_or_default();
    caps::drop_bounding(&sets)?;
    user::switch(p.user(), c.setgroups)?;
    caps::apply(&sets)?;
    if chdir_later {
        chdir().map_err(|e| Error::io(format!("chdir to cwd {}", cwd.display()), e))?;
        check_cwd(cwd)?;
    }
    if nnp {
        // SAFETY: prctl with integer arguments.
        cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
            .map_err(|e| Error::io("set no_new_privs", e))?;
    }
    Ok(ExecPlan {
        path: CString::new(prog).map_err(|_| Error::Spec("program path contains NUL".into()))?,
        argv: cstrings(&args, "argument")?,
        envp: cstrings(&env, "environment entry")?,
        deferred_seccomp: deferred,
    })
}

/// CVE-2024-21626: a cwd reached through a leaked descriptor lies outside the root, which the
/// getcwd system call reports as unreachable (a path not starting with `/`, or ENOENT). Refuse
/// to run there; a getcwd that fails otherwise proves nothing either way, and is refused too.
fn check_cwd(cwd: &Path) -> Result<()> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer and its length; the raw system call, so the kernel's answer is seen.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let e = std::io::Error::last_os_error();
    if r > 0 && buf[0] == b'/' {
        return Ok(());
    }
    if r > 0 || e.raw_os_error() == Some(libc::ENOENT) {
        return Err(Error::Other(format!(
            "cwd {} resolves outside the container's root filesystem: refusing",
            cwd.display()
        )));
    }
    Err(Error::io(
        format!(
            "cwd {}: getcwd to check it is inside the root",
            cwd.display()
        ),
        e,
    ))
}

/// Loads a deferred seccomp filter and executes the program. Returns only on failure.
pub fn exec(plan: ExecPlan) -> Error {
    if let Some(f) = &plan.deferred_seccomp {
        if let Err(e) = seccomp::load(f, false) {
            return e;
        }
    }
    let e = os_process::execve(&plan.path, &plan.argv, &plan.envp);
    Error::Other(format!("exec {:?}: {e}", plan.path))
}

/// Signals as the container's process must find them, set first thing in the init and in
/// `exec`'s child: none blocked (`run` and `exec` block the ones they forward), and SIGPIPE,
/// which Rust's runtime ignores at start-up and an ignored signal would stay across `execve`,
/// back to its default action in the program executed (as under runc and crun).
pub fn reset_signals() -> Result<()> {
    // SAFETY: an empty set, initialised by sigemptyset, unblocks every signal.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    os_process::default_at_exec(libc::SIGPIPE).map_err(|e| Error::io("reset SIGPIPE", e))
}

/// Whether setgroups is allowed (false when /proc/self/setgroups says "deny").
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}
