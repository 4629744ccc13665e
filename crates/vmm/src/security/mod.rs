//! Security: per-thread seccomp filters, and the one way to start a thread under one.

pub mod seccomp;
pub mod thread;

pub use thread::spawn_confined;
