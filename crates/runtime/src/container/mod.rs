//! The container lifecycle: `create` (parent side) and the container's init (child side),
//! `exec`, and the commands on an existing container.

pub mod create;
pub mod exec;
pub mod exec_process;
pub mod forward;
pub mod init;
pub mod ops;
pub mod signals;

pub use create::{create, CreateOpts, Created};
