//! Capabilities: the bounding set, then effective/permitted/inheritable with capset(2), then the
//! ambient set, in the order that keeps each step permitted.

use crate::error::{Error, Result};
use oci_spec::runtime::{Capabilities, Capability as C, LinuxCapabilities};
use strata_os::cvt_long;

/// The kernel number of a capability.
pub fn number(c: &C) -> u32 {
    match c {
        C::Chown => 0,
        C::DacOverride => 1,
        C::DacReadSearch => 2,
        C::Fowner => 3,
        C::Fsetid => 4,
        C::Kill => 5,
        C::Setgid => 6,
        C::Setuid => 7,
        C::Setpcap => 8,
        C::LinuxImmutable => 9,
        C::NetBindService => 10,
        C::NetBroadcast => 11,
        C::NetAdmin => 12,
        C::NetRaw => 13,
        C::IpcLock => 14,
        C::IpcOwner => 15,
        C::SysModule => 16,
        C::SysRawio => 17,
        C::SysChroot => 18,
        C::SysPtrace => 19,
        C::SysPacct => 20,
        C::SysAdmin => 21,
        C::SysBoot => 22,
        C::SysNice => 23,
        C::SysResource => 24,
        C::SysTime => 25,
        C::SysTtyConfig => 26,
        C::Mknod => 27,
        C::Lease => 28,
        C::AuditWrite => 29,
        C::AuditControl => 30,
        C::Setfcap => 31,
        C::MacOverride => 32,
        C::MacAdmin => 33,
        C::Syslog => 34,
        C::WakeAlarm => 35,
        C::BlockSuspend => 36,
        C::AuditRead => 37,
        C::Perfmon => 38,
        C::Bpf => 39,
        C::CheckpointRestore => 40,
    }
}

/// Parses a capability name as runc's `exec --cap` does (`CAP_` prefix optional).
pub fn parse(name: &str) -> Result<C> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| Error::Other(format!("unknown capability {name:?}")))
}

fn mask(set: &Option<Capabilities>) -> u64 {
    set.iter()
        .flatten()
        .map(number)
        .filter(|&n| n < 64)
        .fold(0u64, |m, n| m | (1 << n))
}

/// The highest capability this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The five sets as bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sets {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
}

impl Sets {
    /// From the spec's capabilities object.
    pub fn from_spec(c: &LinuxCapabilities) -> Sets {
        Sets {
            bounding: mask(c.bounding()),
            effective: mask(c.effective()),
            permitted: mask(c.permitted()),
            inheritable: mask(c.inheritable()),
            ambient: mask(c.ambient()),
        }
    }
}

/// Drops everything outside the bounding set (needs CAP_SETPCAP, so done while still root).
pub fn drop_bounding(s: &Sets) -> Result<()> {
    for n in 0..=last_cap() {
        if s.bounding & (1 << n) == 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
            if r == -1 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(Error::io(
                        format!("drop capability {n} from bounding set"),
                        e,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable, then raises the ambient ones.
pub fn apply(s: &Sets) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let hdr = Header {
        version: 0x20080522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        Data {
            effective: lo(s.effective),
            permitted: lo(s.permitted),
            inheritable: lo(s.inheritable),
        },
        Data {
            effective: hi(s.effective),
            permitted: hi(s.permitted),
            inheritable: hi(s.inheritable),
        },
    ];
    // SAFETY: header and a two-element data array, as capset(2) v3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) };
    cvt_long(r).map_err(|e| Error::io("set capabilities", e))?;
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    for n in 0..=last_cap().min(63) {
        if s.ambient & (1 << n) != 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    n as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r == -1 {
                // An ambient cap must be permitted and inheritable; runc ignores the failure.
                crate::logging::debug(&format!("ambient capability {n} not raised"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number(&parse("CAP_SYS_ADMIN").unwrap()), 21);
        assert_eq!(number(&parse("net_raw").unwrap()), 13);
        assert_eq!(number(&parse("CAP_CHECKPOINT_RESTORE").unwrap()), 40);
        assert!(parse("CAP_FLY").is_err());
    }
}
