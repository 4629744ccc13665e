//! Defaults that confine a container as docker does: its capability set, masked and
//! read-only /proc and /sys paths, the device cgroup's allow list, and a seccomp profile.

use serde_json::{json, Value};

/// docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows (the names `--cap-add` and `--cap-drop` accept).
pub const ALL_CAPS: &[&str] = ALL_CAPS_BY_NUMBER;

/// The capabilities `--privileged` and `--cap-add ALL` give: every one this engine's own
/// bounding set holds (podman's rule; a host, or a nested container, may lack some, and
/// asking for one it lacks would fail the container's start).
pub fn host_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    ALL_CAPS_BY_NUMBER
        .iter()
        .enumerate()
        .filter(|(n, _)| bounding & (1 << n) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Capability names by number (bit n of a capability mask is `ALL_CAPS_BY_NUMBER[n]`).
pub const ALL_CAPS_BY_NUMBER: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths hidden from a container (docker's list).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths read-only in a container (docker's list).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Normalizes a capability name (`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN`).
pub fn cap_name(s: &str) -> String {
    let up = s.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set from the defaults (or all, privileged), `--cap-add` and `--cap-drop`.
/// Unknown names are an error naming them.
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, String> {
    let known = |c: &str| c == "ALL" || ALL_CAPS.contains(&c);
    for c in add.iter().chain(drop) {
        let n = cap_name(c);
        if !known(&n) {
            return Err(format!("unknown capability {c:?}"));
        }
    }
    let add: Vec<String> = add.iter().map(|c| cap_name(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| cap_name(c)).collect();
    let mut caps: Vec<String> = if privileged || add.iter().any(|c| c == "ALL") {
        host_caps()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for c in add.iter().filter(|c| *c != "ALL") {
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    if drop.iter().any(|c| c == "ALL") {
        caps.retain(|c| add.contains(c));
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    Ok(caps)
}

/// The device cgroup's allow list of an unprivileged container (docker's).
pub fn device_rules(privileged: bool) -> Value {
    if privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let c = |major: i64, minor: Option<i64>, access: &str| json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": access});
    json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"},
        {"allow": true, "type": "b", "access": "m"},
        c(1, Some(3), "rwm"),
        c(1, Some(5), "rwm"),
        c(1, Some(7), "rwm"),
        c(1, Some(8), "rwm"),
        c(1, Some(9), "rwm"),
        c(5, Some(0), "rwm"),
        c(5, Some(1), "rwm"),
        c(5, Some(2), "rwm"),
        c(136, None, "rwm"),
        c(10, Some(200), "rwm"),
    ])
}

/// System calls the default profile refuses with EPERM: what docker's default allow list
/// leaves out that the capabilities above would not already stop (kernel modules and
/// keyrings, clock and reboot, kexec, accounting, handle-based opens, BPF and perf,
/// userfaultfd, and the obsolete calls).
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
];

/// The default seccomp profile: allow, except [`DENIED`] (EPERM). Capabilities the
/// container is given back unlock what they cover, as docker's profile does for
/// CAP_SYS_ADMIN (mount, unshare, setns...), CAP_SYS_PTRACE (ptrace, process_vm_*),
/// CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_BOOT and CAP_SYS_PACCT.
pub fn default_seccomp(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let unlocked: &[(&str, &[&str])] = &[
        (
            "CAP_SYS_ADMIN",
            &[
                "mount",
                "umount",
                "umount2",
                "unshare",
                "setns",
                "pivot_root",
                "mount_setattr",
                "move_mount",
                "open_tree",
                "fsopen",
                "fsconfig",
                "fsmount",
                "fspick",
                "quotactl",
                "name_to_handle_at",
                "open_by_handle_at",
                "lookup_dcookie",
                "perf_event_open",
                "bpf",
                "keyctl",
                "add_key",
                "request_key",
            ],
        ),
        (
            "CAP_SYS_PTRACE",
            &["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"],
        ),
        (
            "CAP_SYS_MODULE",
            &["init_module", "finit_module", "delete_module"],
        ),
        (
            "CAP_SYS_TIME",
            &["settimeofday", "stime", "clock_settime", "clock_adjtime"],
        ),
        ("CAP_SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
        ("CAP_SYS_PACCT", &["acct"]),
        (
            "CAP_SYS_NICE",
            &["mbind", "move_pages", "set_mempolicy", "get_mempolicy"],
        ),
        ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ];
    let names: Vec<&str> = DENIED
        .iter()
        .copied()
        .filter(|n| {
            !unlocked
                .iter()
                .any(|(cap, calls)| has(cap) && calls.contains(n))
        })
        .collect();
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_add_drop_all_and_unknown() {
        let c = capabilities(false, &["net_admin".into()], &["CAP_MKNOD".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_MKNOD".to_string()));
        let c = capabilities(false, &["CHOWN".into()], &["ALL".into()]).unwrap();
        assert_eq!(c, ["CAP_CHOWN"]);
        assert_eq!(capabilities(true, &[], &[]).unwrap(), host_caps());
        assert!(
            host_caps().len() <= ALL_CAPS.len() && host_caps().contains(&"CAP_SYS_ADMIN".into())
        );
        assert!(capabilities(false, &["FLY".into()], &[])
            .unwrap_err()
            .contains("FLY"));
    }

    #[test]
    fn sys_admin_unlocks_mount_in_the_profile() {
        let names = |v: Value| v["syscalls"][0]["names"].as_array().unwrap().clone();
        assert!(names(default_seccomp(&[])).contains(&json!("mount")));
        assert!(!names(default_seccomp(&["CAP_SYS_ADMIN".into()])).contains(&json!("mount")));
        assert!(names(default_seccomp(&["CAP_SYS_ADMIN".into()])).contains(&json!("reboot")));
    }
}
