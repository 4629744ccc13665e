//! The few x86-64 Linux system calls strata-pause makes, and its `_start`.

use core::arch::{asm, global_asm};

pub const SIGHUP: usize = 1;
pub const SIGINT: usize = 2;
pub const SIGQUIT: usize = 3;
pub const SIGUSR1: usize = 10;
pub const SIGUSR2: usize = 12;
pub const SIGTERM: usize = 15;
pub const SIGCHLD: usize = 17;
pub const WNOHANG: usize = 1;
pub const ENOENT: usize = 2;

const SYS_WRITE: usize = 1;
const SYS_RT_SIGPROCMASK: usize = 14;
const SYS_FORK: usize = 57;
const SYS_EXECVE: usize = 59;
const SYS_EXIT_GROUP: usize = 231;
const SYS_WAIT4: usize = 61;
const SYS_KILL: usize = 62;
const SYS_RT_SIGTIMEDWAIT: usize = 128;

// _start: pass the initial stack pointer to rust_start, with the stack aligned as the ABI
// wants it at a call.
global_asm!(
    ".globl _start",
    "_start:",
    "xor rbp, rbp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call rust_start",
    "ud2",
);

#[inline(always)]
fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: a raw system call; the callers pass arguments valid for it. rcx and r11 are
    // clobbered by the syscall instruction.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// A signal set (the kernel's 64-bit mask).
pub fn sigset(sigs: &[usize]) -> u64 {
    sigs.iter().fold(0, |m, s| m | 1u64 << (s - 1))
}

/// Blocks the signals of `set`.
pub fn block(set: &u64) {
    syscall4(SYS_RT_SIGPROCMASK, 0, set as *const u64 as usize, 0, 8);
}

/// Unblocks the signals of `set`.
pub fn unblock(set: &u64) {
    syscall4(SYS_RT_SIGPROCMASK, 1, set as *const u64 as usize, 0, 8);
}

/// Waits for one of the (blocked) signals of `set`; its number.
pub fn sigwait(set: &u64) -> usize {
    loop {
        let r = syscall4(SYS_RT_SIGTIMEDWAIT, set as *const u64 as usize, 0, 0, 8);
        if r > 0 {
            return r as usize;
        }
    }
}

/// fork(2): 0 in the child, the child's pid in the parent, a negative errno on failure.
pub fn fork() -> isize {
    syscall4(SYS_FORK, 0, 0, 0, 0)
}

/// execve(2); returns only on failure (a negative errno).
///
/// # Safety
/// `path` must be a NUL-terminated string, `argv` and `envp` NULL-terminated arrays of them.
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> isize {
    syscall4(SYS_EXECVE, path as usize, argv as usize, envp as usize, 0)
}

/// wait4(2).
pub fn wait4(pid: isize, status: &mut i32, options: usize) -> isize {
    syscall4(SYS_WAIT4, pid as usize, status as *mut i32 as usize, options, 0)
}

/// Reaps every child that has exited.
pub fn reap_all() {
    let mut st = 0;
    while wait4(-1, &mut st, WNOHANG) > 0 {}
}

/// kill(2).
pub fn kill(pid: isize, sig: usize) {
    syscall4(SYS_KILL, pid as usize, sig, 0, 0);
}

/// write(2) of all of `buf` (best effort).
pub fn write(fd: usize, buf: &[u8]) {
    syscall4(SYS_WRITE, fd, buf.as_ptr() as usize, buf.len(), 0);
}

/// exit_group(2).
pub fn exit(code: i32) -> ! {
    syscall4(SYS_EXIT_GROUP, code as usize, 0, 0, 0);
    loop {}
}

/// Whether the NUL-terminated string at `p` equals `want` (which includes its NUL).
///
/// # Safety
/// `p` must point to a NUL-terminated string.
pub unsafe fn cstr_eq(p: *const u8, want: &[u8]) -> bool {
    for (i, w) in want.iter().enumerate() {
        // SAFETY: the string is NUL-terminated and we stop at its NUL (the last byte of
        // `want` is NUL, and a mismatch stops earlier).
        if unsafe { *p.add(i) } != *w {
            return false;
        }
    }
    true
}

/// The bytes of a NUL-terminated string (without the NUL).
///
/// # Safety
/// `p` must point to a NUL-terminated string that lives as long as the result is used.
pub unsafe fn cstr<'a>(p: *const u8) -> &'a [u8] {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated, so every byte up to its NUL is readable.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

// The memory functions the compiler may call (there is no C library to provide them). Byte
// loops with volatile accesses, so the compiler cannot turn them into calls to themselves.

/// memcpy.
///
/// # Safety
/// As C's: `n` bytes readable at `src`, writable at `dst`, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

/// memmove.
///
/// # Safety
/// As C's: `n` bytes readable at `src`, writable at `dst` (they may overlap).
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) < (src as usize) {
        // SAFETY: as memcpy's, copying forwards is safe when dst precedes src.
        return unsafe { memcpy(dst, src, n) };
    }
    for i in (0..n).rev() {
        // SAFETY: the caller guarantees both ranges.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

/// memset.
///
/// # Safety
/// As C's: `n` bytes writable at `dst`.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees the range.
        unsafe { core::ptr::write_volatile(dst.add(i), c as u8) };
    }
    dst
}

/// memcmp.
///
/// # Safety
/// As C's: `n` bytes readable at both.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges.
        let (x, y) = unsafe { (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i))) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// bcmp (memcmp's equality-only form, which the compiler may also call).
///
/// # Safety
/// As memcmp.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// strlen.
///
/// # Safety
/// As C's: `s` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

/// The unwinding personality core's precompiled unwind tables refer to; this program is built
/// with panic=abort and never unwinds.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
