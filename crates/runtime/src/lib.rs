//! Strata's OCI runtime: the library behind the runc-compatible `strata-runc` binary.
//!
//! Layout (one concern a file, as in DESIGN.md):
//! - [`spec`]: loading and checking a bundle's `config.json`.
//! - [`state`]: the per-container state directory and the status of a container.
//! - [`container`]: the lifecycle: create (parent side), init (the container side), exec.
//! - [`rootfs`]: mounts, devices, pivot_root, masked and read-only paths (paths inside the
//!   rootfs are resolved with `strata_os::Confined`).
//! - [`process`]: what is applied to the process before exec: user, capabilities, rlimits,
//!   console, file descriptors, seccomp, LSM labels.
//! - [`cgroups`]: the v1 and v2 drivers, chosen from what the host mounts.
//! - [`hooks`]: OCI hooks with the state on stdin and their timeouts.
//!
//! The create/exec path is single-threaded and has no async runtime: the container's init is a
//! forked copy of the runtime that never re-executes it (see `cloned_binary` for CVE-2019-5736).

pub mod cgroups;
pub mod cloned_binary;
pub mod container;
pub mod error;
pub mod hooks;
pub mod logging;
#[cfg(target_env = "musl")]
pub mod musl_compat;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod sync;

pub use error::{Error, Result};
