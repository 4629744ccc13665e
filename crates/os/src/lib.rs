//! Strata's host plumbing, the bottom crate under every layer (DESIGN.md: `os`).
//!
//! Thin, checked wrappers over Linux system calls: no threads, no async runtime, no
//! allocation beyond what a call needs. Paths are taken as `&Path` (or anything that is one)
//! and reach the kernel as the bytes they are, never through a lossy string conversion.
//! Every call returns `io::Result` with errno preserved; callers add the context that names
//! their layer and object.
//!
//! - [`cvt`]: `-1`-on-error returns to `io::Result`, owned descriptors, C strings of paths.
//! - [`fd`]: open/openat/openat2, reads and writes, pipes, socket pairs, close-on-exec.
//! - [`confined`]: path resolution confined to a root directory (openat2 `RESOLVE_IN_ROOT`),
//!   the one resolver the runtime (container root filesystems) and the image layer (layer
//!   unpacking) share.
//! - [`fdpass`]: descriptors over unix sockets (`SCM_RIGHTS`).
//! - [`mount`]: mount/umount, the fd-based mount API (open_tree, move_mount,
//!   mount_setattr) and overlayfs.
//! - [`direct`] and [`writeback`]: large writes around the page cache and early writeback.
//! - [`process`]: clone, wait, exit codes, signals, namespaces, /proc/PID/stat facts.
//! - [`clock`]: RFC 3339 time stamps (formatting and parsing).

pub mod clock;
pub mod confined;
pub mod cvt;
pub mod direct;
pub mod fd;
pub mod fdpass;
pub mod memory;
pub mod mount;
pub mod process;
pub mod writeback;

pub use confined::Confined;
pub use cvt::{cvt, cvt_long, owned, path_cstr};
