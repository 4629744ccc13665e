//! From C conventions to Rust ones: `-1`-on-error returns, fresh descriptors, C strings.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Converts a `-1`-on-error libc return into `io::Result`.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Converts a `-1`-on-error raw syscall return into `io::Result`.
pub fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a freshly returned file descriptor (or the error of a `-1`).
pub fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A C string of any OS string (a path, a mount option); interior NULs are an
/// `InvalidInput` error.
pub fn os_cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains NUL"))
}

/// A C string of a path, byte for byte.
pub fn path_cstr(p: &Path) -> io::Result<CString> {
    os_cstr(p.as_os_str())
}

/// A C string of a Rust string.
pub fn cstr(s: &str) -> io::Result<CString> {
    os_cstr(OsStr::new(s))
}

/// A pointer to a C string, or NULL.
pub fn ptr_or_null(c: &Option<CString>) -> *const libc::c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The empty C string, for the `AT_EMPTY_PATH` calls.
pub const EMPTY: &CStr = c"";

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        let p = Path::new(OsStr::from_bytes(b"/tmp/\xff\xfe"));
        assert_eq!(path_cstr(p).unwrap().as_bytes(), b"/tmp/\xff\xfe");
        assert!(cstr("a\0b").is_err());
    }
}
