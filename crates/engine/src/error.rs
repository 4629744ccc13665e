//! The engine's errors: one line that names the layer and the object, and the exit status
//! docker gives each kind (125 for the engine's own failures, 126 and 127 for a command that
//! cannot be run in the container).

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such container, pod, volume, network or image.
    #[error("{0}")]
    NotFound(String),
    /// A name in use, or an object in a state that does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// Bad input from the user (a flag's value, a path, a size).
    #[error("{0}")]
    Invalid(String),
    /// The container's command does not exist in its image (docker's 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// The container's command exists but cannot be run (docker's 126).
    #[error("{0}")]
    CommandNotRunnable(String),
    /// The image layer failed.
    #[error(transparent)]
    Image(#[from] strata_image::Error),
    /// The runtime or the monitor failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// The network layer (CNI, network namespaces, ports) failed.
    #[error("network: {0}")]
    Network(String),
    /// The state database failed.
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A system call or file operation failed.
    #[error("{ctx}: {source}")]
    Io {
        /// What was being done, naming the object.
        ctx: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Context around an inner error (the object being worked on).
    #[error("{ctx}: {source}")]
    Context {
        /// The object.
        ctx: String,
        /// The inner error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An I/O error naming what was being done.
    pub fn io(ctx: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            ctx: ctx.into(),
            source,
        }
    }

    /// Wraps this error with the object it concerns.
    pub fn context(self, ctx: impl Into<String>) -> Self {
        Error::Context {
            ctx: ctx.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error (through contexts).
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// The process exit status docker gives this error.
    pub fn exit_code(&self) -> i32 {
        match self.root() {
            Error::CommandNotFound(_) => 127,
            Error::CommandNotRunnable(_) => 126,
            _ => 125,
        }
    }
}

/// Adds context to `io::Result`s.
pub trait IoContext<T> {
    /// Names the operation and object of a failed I/O call.
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}

/// Adds context to engine results.
pub trait ResultExt<T> {
    /// Wraps an error with the object it concerns.
    fn context(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_look_through_context() {
        let e = Error::CommandNotFound("exec /x: not found".into()).context("container c1");
        assert_eq!(e.exit_code(), 127);
        assert_eq!(e.to_string(), "container c1: exec /x: not found");
        assert_eq!(Error::Invalid("x".into()).exit_code(), 125);
        assert_eq!(Error::CommandNotRunnable("y".into()).exit_code(), 126);
    }
}
