//! fstab-style mount options as the OCI spec and runc understand them.

/// A mount's options split into what `mount(2)` takes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags to set.
    pub flags: libc::c_ulong,
    /// MS_* flags the options explicitly clear (e.g. `rw`, `suid`).
    pub cleared: libc::c_ulong,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<libc::c_ulong>,
    /// Recursive attributes for mount_setattr (`rro`, `rnosuid`, ...): (set, clear).
    pub rec_attr_set: u64,
    /// Recursive attributes to clear.
    pub rec_attr_clr: u64,
    /// Whether this is a bind mount, and recursive.
    pub bind: Option<bool>,
    /// Remaining file-system specific data (`mode=755,size=65536k`).
    pub data: String,
}

/// Parses a list of options.
pub fn parse(opts: &[String]) -> MountOptions {
    let mut m = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for o in opts {
        let o = o.as_str();
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o {
            "defaults" => (0, 0),
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "bind" => {
                m.bind = Some(m.bind.unwrap_or(false));
                (0, 0)
            }
            "rbind" => {
                m.bind = Some(true);
                (0, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                m.propagation.push(propagation_flag(o).unwrap_or(0));
                (0, 0)
            }
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rstrictatime" | "rnodiratime"
            | "rdiratime" | "rnosymfollow" | "rsymfollow" => {
                let (s, c) = rec_attr(o);
                m.rec_attr_set |= s;
                m.rec_attr_clr |= c;
                (0, 0)
            }
            // runc/crun extensions that do not change the mount call.
            "tmpcopyup" | "idmap" | "ridmap" | "copy-symlink" | "notmpcopyup" => (0, 0),
            _ => {
                data.push(o);
                (0, 0)
            }
        };
        m.flags = (m.flags | set) & !clear;
        m.cleared = (m.cleared | clear) & !set;
    }
    m.data = data.join(",");
    m
}

/// The MS_* propagation flag of a propagation option or of `rootfsPropagation`.
pub fn propagation_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

fn rec_attr(o: &str) -> (u64, u64) {
    const RDONLY: u64 = 0x1;
    const NOSUID: u64 = 0x2;
    const NODEV: u64 = 0x4;
    const NOEXEC: u64 = 0x8;
    const ATIME_MASK: u64 = 0x70;
    const RELATIME: u64 = 0x0;
    const NOATIME: u64 = 0x10;
    const STRICTATIME: u64 = 0x20;
    const NODIRATIME: u64 = 0x80;
    const NOSYMFOLLOW: u64 = 0x200000;
    match o {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnoatime" => (NOATIME, ATIME_MASK),
        "ratime" | "rrelatime" => (RELATIME, ATIME_MASK),
        "rstrictatime" => (STRICTATIME, ATIME_MASK),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_data_and_propagation() {
        let m = parse(&s(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rslave",
        ]));
        assert_eq!(m.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(m.bind, None);
    }

    #[test]
    fn later_option_wins_and_bind_kinds() {
        let m = parse(&s(&["ro", "rw", "rbind"]));
        assert_eq!(m.flags & libc::MS_RDONLY, 0);
        assert_eq!(m.bind, Some(true));
        let m = parse(&s(&["bind", "ro"]));
        assert_eq!(m.bind, Some(false));
        assert_ne!(m.flags & libc::MS_RDONLY, 0);
    }

    #[test]
    fn recursive_attributes() {
        let m = parse(&s(&["rbind", "rro", "rnosuid"]));
        assert_eq!(m.rec_attr_set, 0x1 | 0x2);
    }
}
