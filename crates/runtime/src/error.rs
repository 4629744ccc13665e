//! The runtime's error type. Every message names the layer's object (container id, path, cgroup
//! file, syscall) so the one line printed by the CLI says what failed and on what.

use std::io;

/// Errors of the OCI runtime library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's configuration is missing, malformed or asks for something invalid.
    #[error("{0}")]
    Spec(String),
    /// No container with this id exists under the state root.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with this id already exists.
    #[error("container {0} already exists")]
    Exists(String),
    /// The operation is not valid in the container's current status.
    #[error("container {id} is {status}: {what}")]
    BadState {
        /// Container id.
        id: String,
        /// Current status.
        status: String,
        /// What was refused.
        what: String,
    },
    /// A system call or file operation failed.
    #[error("{ctx}: {source}")]
    Io {
        /// What was being done, naming the object.
        ctx: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other failure, already described.
    #[error("{0}")]
    Other(String),
}

/// Result alias for the runtime library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error with context.
    pub fn io(ctx: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            ctx: ctx.into(),
            source,
        }
    }
    /// The last OS error (errno) with context.
    pub fn last_os(ctx: impl Into<String>) -> Self {
        Error::io(ctx, io::Error::last_os_error())
    }
}

/// Adds context to `io::Result`s.
pub trait Context<T> {
    /// Wraps the error with a description of what was being done.
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
