//! The monitor process itself (the binary's modules; the library holds what callers share).

pub mod args;
pub mod child;
pub mod clients;
pub mod container;
pub mod event_loop;
pub mod exec;
pub mod input;
pub mod signals;
pub mod stdio;
pub mod vm_exec;
