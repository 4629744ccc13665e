//! Glue for a fully static musl build of `strata-runc` (how it is benchmarked and meant to be
//! installed: musl's libc touches far fewer pages than glibc's, and the runtime's peak memory is
//! mostly its code pages). Debian ships libseccomp.a compiled against glibc; it refers to one
//! glibc-only symbol, the fortified `fprintf`, which libseccomp calls only from
//! `seccomp_export_pfc` (a debugging dump the runtime never asks for).

use std::ffi::{c_char, c_int, c_void};

/// glibc's `__fprintf_chk`, reached only through `seccomp_export_pfc`: fails with EINVAL instead
/// of printing, since a variadic definition is not possible in stable Rust.
///
/// # Safety
/// Callable from C with any arguments; it reads none of them.
#[no_mangle]
pub unsafe extern "C" fn __fprintf_chk(
    _stream: *mut c_void,
    _flag: c_int,
    _fmt: *const c_char,
) -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot, always valid to write.
    unsafe { *libc::__errno_location() = libc::EINVAL };
    -1
}
