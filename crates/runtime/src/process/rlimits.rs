//! `process.rlimits`.

use crate::error::{Error, Result};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType as R};

/// The type libc's setrlimit takes for the resource (glibc uses its own enum type).
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(t: R) -> Resource {
    match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies every limit. Raising a hard limit needs CAP_SYS_RESOURCE; without it the error says
/// so and names the limit.
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let rl = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: `rl` is a valid rlimit.
        if unsafe { libc::setrlimit(resource(l.typ()), &rl) } == -1 {
            let e = std::io::Error::last_os_error();
            let name = serde_json::to_value(l.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                let mut cur = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: `cur` is a valid out-pointer.
                unsafe { libc::getrlimit(resource(l.typ()), &mut cur) };
                format!(
                    ": raising the hard limit above {} needs CAP_SYS_RESOURCE, which this host does not grant; lower it",
                    cur.rlim_max
                )
            } else {
                String::new()
            };
            return Err(Error::Other(format!(
                "rlimit {name} soft={} hard={}: {e}{hint}",
                l.soft(),
                l.hard()
            )));
        }
    }
    Ok(())
}
