//! Security: per-thread seccomp filters.

pub mod seccomp;
