//! cgroup v2 device control: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE generated from
//! the rules (the last matching rule decides, no match denies), attached to the cgroup.

use crate::cgroups::v1::devices::DEFAULT_ALLOW;
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use strata_os::{cvt_long, fd, owned};

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95;

/// A rule reduced to what the program compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1 block, 2 char, 0 any.
    pub typ: u32,
    /// Access bits: 1 mknod, 2 read, 4 write.
    pub access: u32,
    /// Major, or None for any.
    pub major: Option<u32>,
    /// Minor, or None for any.
    pub minor: Option<u32>,
    /// Allow or deny.
    pub allow: bool,
}

fn access_bits(a: &str) -> u32 {
    a.chars().fold(0, |m, c| {
        m | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// From the spec's rule.
pub fn rule(d: &LinuxDeviceCgroup) -> Rule {
    Rule {
        typ: match d.typ() {
            Some(LinuxDeviceType::B) => 1,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 2,
            _ => 0,
        },
        access: access_bits(
            d.access()
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or("rwm"),
        ),
        major: d.major().filter(|v| *v >= 0).map(|v| v as u32),
        minor: d.minor().filter(|v| *v >= 0).map(|v| v as u32),
        allow: d.allow(),
    }
}

/// From the kernel text form used for the defaults (`c 1:3 rwm`).
pub fn rule_from_text(t: &str) -> Rule {
    let mut it = t.split_whitespace();
    let typ = match it.next() {
        Some("b") => 1,
        Some("c") => 2,
        _ => 0,
    };
    let (ma, mi) = it
        .next()
        .unwrap_or("*:*")
        .split_once(':')
        .unwrap_or(("*", "*"));
    Rule {
        typ,
        major: ma.parse().ok(),
        minor: mi.parse().ok(),
        access: access_bits(it.next().unwrap_or("rwm")),
        allow: true,
    }
}

/// Whether `rules` let a process have `access` (bits: 1 mknod, 2 read, 4 write) on device
/// `typ` (1 block, 2 char) `major:minor`, as [`program`]'s filter decides it: the last rule
/// that matches the device and covers the access decides; none denies.
pub fn allows(rules: &[Rule], typ: u32, major: u32, minor: u32, access: u32) -> bool {
    rules
        .iter()
        .rev()
        .find(|r| {
            (r.typ == 0 || r.typ == typ)
                && access & r.access == access
                && r.major.is_none_or(|m| m == major)
                && r.minor.is_none_or(|m| m == minor)
        })
        .is_some_and(|r| r.allow)
}

/// Generates the program.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = ctx->access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = type
        insn(LDX_W, 3, 1, 0, 0),        // r3 = ctx->access_type
        insn(RSH32_K, 3, 0, 0, 16),     // r3 = access
        insn(LDX_W, 4, 1, 4, 0),        // r4 = major
        insn(LDX_W, 5, 1, 8, 0),        // r5 = minor
    ];
    // Last rule wins: test them from the last one back; the first match returns.
    for r in rules.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        if r.typ != 0 {
            block.push(insn(JNE_K, 2, 0, 0, r.typ as i32));
        }
        if r.access != 7 {
            // The requested access must be within the rule's: (access & rule) == access.
            block.push(insn(MOV32_X, 1, 3, 0, 0));
            block.push(insn(AND32_K, 1, 0, 0, r.access as i32));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, r.allow as i32));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every jump skips to the end of this block.
        let n = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                ins.off = (n - i - 1) as i16;
            }
        }
        let unconditional = n == 2;
        p.extend(block);
        if unconditional {
            // Nothing after a rule that matches everything is reachable, and the verifier
            // refuses unreachable instructions.
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-padded bpf_attr-sized buffer (128 bytes) valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) };
    cvt_long(r)
}

/// Loads the program for `rules` (spec rules then the defaults) and attaches it to the cgroup
/// directory, replacing programs this runtime attached before. FIFO rules are skipped, as in v1
/// (read as "any type" they would widen the rule).
pub fn attach(dir: &Path, spec_rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let fifo = |d: &&LinuxDeviceCgroup| d.typ() == Some(LinuxDeviceType::P);
    let mut rules: Vec<Rule> = spec_rules.iter().filter(|d| !fifo(d)).map(rule).collect();
    rules.extend(DEFAULT_ALLOW.iter().map(|t| rule_from_text(t)));
    let prog = program(&rules);
    let fd = load(&prog).map_err(|(e, log)| {
        Error::Other(format!(
            "cgroup {}: load device eBPF program: {e}: {log}",
            dir.display()
        ))
    })?;
    let prog_fd = owned(fd as i32).map_err(|e| Error::io("bpf program fd", e))?;
    let cg = fd::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::io(format!("cgroup {}", dir.display()), e))?;
    let old = query(&cg);
    let mut attr = [0u64; 16];
    // target_fd u32, attach_bpf_fd u32, attach_type u32, attach_flags u32.
    attr[0] = cg.as_raw_fd() as u64 | ((prog_fd.as_raw_fd() as u64) << 32);
    attr[1] = 6 | (2u64 << 32); // BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI
    bpf(8, &mut attr).map_err(|e| {
        Error::Other(format!(
            "cgroup {}: attach device eBPF program: {e}",
            dir.display()
        ))
    })?;
    for id in old {
        detach(&cg, id);
    }
    Ok(())
}

/// BPF_PROG_LOAD without a verifier log; on failure once more with one, for the message.
fn load(prog: &[Insn]) -> std::result::Result<libc::c_long, (std::io::Error, String)> {
    let license = c"Apache-2.0";
    let mut attr = [0u64; 16];
    // bpf_attr for BPF_PROG_LOAD: prog_type u32, insn_cnt u32, insns u64, license u64,
    // log_level u32, log_size u32, log_buf u64.
    attr[0] = 15 | ((prog.len() as u64) << 32); // BPF_PROG_TYPE_CGROUP_DEVICE
    attr[1] = prog.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    match bpf(5, &mut attr) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            attr[3] = 1 | ((log.len() as u64) << 32);
            attr[4] = log.as_mut_ptr() as u64;
            let _ = bpf(5, &mut attr);
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_matches(char::from(0))
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            Err((e, last))
        }
    }
}

fn query(cg: &OwnedFd) -> Vec<u32> {
    let mut ids = [0u32; 64];
    let mut attr = [0u64; 16];
    // target_fd u32, attach_type u32, query_flags u32, attach_flags u32, prog_ids u64, prog_cnt u32
    attr[0] = cg.as_raw_fd() as u64 | (6u64 << 32);
    attr[2] = ids.as_mut_ptr() as u64;
    attr[3] = ids.len() as u64;
    if bpf(16, &mut attr).is_err() {
        return vec![];
    }
    let n = (attr[3] & 0xffff_ffff) as usize;
    ids[..n.min(64)].to_vec()
}

fn detach(cg: &OwnedFd, id: u32) {
    let mut attr = [0u64; 16];
    attr[0] = id as u64;
    let Ok(fd) = bpf(13, &mut attr) else { return }; // BPF_PROG_GET_FD_BY_ID
    let Ok(pfd) = owned(fd as i32) else {
        return;
    };
    let mut attr = [0u64; 16];
    attr[0] = cg.as_raw_fd() as u64 | ((pfd.as_raw_fd() as u64) << 32);
    attr[1] = 6;
    let _ = bpf(9, &mut attr); // BPF_PROG_DETACH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a *:* rwm` denied.
    fn deny_all() -> Rule {
        Rule {
            typ: 0,
            access: 7,
            major: None,
            minor: None,
            allow: false,
        }
    }

    #[test]
    fn program_shape() {
        let p = program(&[rule_from_text("c 1:3 rwm")]);
        // prologue 6, block: type jne, major jne, minor jne, mov, exit = 5, epilogue 2
        assert_eq!(p.len(), 13);
        assert_eq!(p[6].code, JNE_K);
        assert_eq!(p[6].off, 4);
        assert_eq!(p.last().unwrap().code, EXIT);
    }

    #[test]
    fn nothing_follows_a_match_all_rule() {
        let deny_all = deny_all();
        let p = program(&[deny_all, rule_from_text("c 1:3 rwm")]);
        // prologue 6, the 1:3 block (5), then deny-all's mov+exit and nothing else
        assert_eq!(p.len(), 13);
        assert_eq!(p[11], insn(MOV64_K, 0, 0, 0, 0));
    }

    #[test]
    fn the_last_rule_covering_the_access_decides() {
        let deny_all = deny_all();
        let rules = [
            deny_all,
            rule_from_text("b 7:* rm"),
            rule_from_text("b 7:0 r"),
        ];
        assert!(allows(&rules, 1, 7, 0, 1), "mknod by the 7:* rule");
        assert!(allows(&rules, 1, 7, 0, 2));
        assert!(!allows(&rules, 1, 7, 0, 4), "no rule gives w");
        assert!(!allows(&rules, 2, 7, 0, 2), "a char device is not b");
        assert!(!allows(&[], 1, 7, 0, 2));
        let deny_m = Rule {
            allow: false,
            ..rule_from_text("b 7:0 m")
        };
        assert!(!allows(&[rules[1], deny_m], 1, 7, 0, 1));
    }

    #[test]
    fn text_rules_parse() {
        let r = rule_from_text("c 136:* rw");
        assert_eq!((r.typ, r.major, r.minor, r.access), (2, Some(136), None, 6));
    }
}
