//! The image layer's error type: one line, lower-case, naming the object.

use std::fmt;

/// Result alias for the image layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the image layer. `Context` chains prefix the object being worked on
/// (`pull 127.0.0.1:5000/busybox:latest: layer sha256:ab12..: digest mismatch`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done, naming the file.
        op: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An HTTP transport failure (connection refused, reset, timeout).
    #[error("{0}")]
    Http(String),
    /// The registry answered with an unexpected status.
    #[error("registry answered {status}: {message}")]
    Registry {
        /// HTTP status code.
        status: u16,
        /// A short message taken from the body.
        message: String,
    },
    /// Authentication was refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The object does not exist (image, tag, blob).
    #[error("{0}: not found")]
    NotFound(String),
    /// Content did not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest announced by the manifest or reference.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// Content had the wrong size.
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// Announced size.
        expected: u64,
        /// Size received.
        actual: u64,
    },
    /// A manifest, index or config is malformed or unsupported.
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// Which document (manifest, config, reference, ...).
        what: &'static str,
        /// What is wrong with it.
        msg: String,
    },
    /// A layer tried to do something the unpacker refuses.
    #[error("unsafe layer entry {entry:?}: {msg}")]
    Unsafe {
        /// The entry name from the archive.
        entry: String,
        /// Why it was refused.
        msg: String,
    },
    /// The object exists already (a snapshot key in use).
    #[error("{0}: already exists")]
    AlreadyExists(String),
    /// The work was cancelled because another part of the same operation failed (a pull
    /// stops its other layers when one fails).
    #[error("cancelled")]
    Cancelled,
    /// A layer could not be applied because a layer below it failed; that layer's own
    /// error is the one to report.
    #[error("a lower layer failed")]
    LowerFailed,
    /// A task or thread of the operation ended without a result (it panicked or was
    /// aborted).
    #[error("{task} failed: {msg}")]
    Task {
        /// Which task (`unpack task`, `blob writer`, ...).
        task: &'static str,
        /// What happened to it.
        msg: String,
    },
    /// The metadata database failed.
    #[error("metadata store: {0}")]
    Db(#[from] rusqlite::Error),
    /// Context around an inner error.
    #[error("{ctx}: {source}")]
    Context {
        /// The object being worked on.
        ctx: String,
        /// The inner error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps an I/O error with the operation that failed.
    pub fn io(op: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            op: op.to_string(),
            source,
        }
    }

    /// Builds an `Invalid` error.
    pub fn invalid(what: &'static str, msg: impl fmt::Display) -> Self {
        Error::Invalid {
            what,
            msg: msg.to_string(),
        }
    }

    /// Prefixes this error with the object being worked on.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error::Context {
            ctx: ctx.to_string(),
            source: Box::new(self),
        }
    }

    /// A task that ended without a result (a join error, a panicked thread).
    pub fn task(task: &'static str, msg: impl fmt::Display) -> Self {
        Error::Task {
            task,
            msg: msg.to_string(),
        }
    }

    /// Whether this error is only a consequence of another failure of the same operation
    /// ([`Error::Cancelled`], [`Error::LowerFailed`]): the other one is what to report.
    pub fn is_consequence(&self) -> bool {
        matches!(self.root(), Error::Cancelled | Error::LowerFailed)
    }

    /// The innermost error (without contexts).
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::io("system call", e.into())
    }
}

/// Adds `.ctx(..)` to results of the image layer.
pub trait ResultExt<T> {
    /// Prefixes the error with the object being worked on.
    fn ctx(self, ctx: impl fmt::Display) -> Result<T>;
    /// Like `ctx`, computed lazily.
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn ctx(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(ctx))
    }
    fn with_ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Adds `.op(..)` to `std::io::Result`.
pub trait IoResultExt<T> {
    /// Names the failed operation.
    fn op(self, op: impl fmt::Display) -> Result<T>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn op(self, op: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(op, e))
    }
}

impl<T> IoResultExt<T> for std::result::Result<T, rustix::io::Errno> {
    fn op(self, op: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(op, e.into()))
    }
}
