//! Progress reporting hooks (the CLI draws bars or plain lines).

use crate::digest::Digest;

/// Receives progress of long operations. All methods default to doing nothing.
pub trait Progress: Send + Sync {
    /// A blob transfer starts.
    fn start(&self, _digest: &Digest, _size: u64) {}
    /// `n` more bytes of a blob were transferred.
    fn advance(&self, _digest: &Digest, _n: u64) {}
    /// A blob is finished (`status`: "done", "exists", "mounted", ...).
    fn finish(&self, _digest: &Digest, _status: &str) {}
    /// A free-form status line.
    fn message(&self, _msg: &str) {}
}

/// Progress that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
