//! A process's stdin as the monitor feeds it (the container's, or an exec session's): input
//! from clients queued and written as the process reads it, and closed after the end of
//! input unless it is a terminal (whose master is the output too).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Input buffered for a process that does not read its stdin, at most; more is dropped.
const MAX_PENDING: usize = 1 << 20;

/// A stdin being fed.
#[derive(Default)]
pub struct Input {
    fd: Option<OwnedFd>,
    pending: Vec<u8>,
    eof: bool,
    terminal: bool,
}

impl Input {
    /// Feeds `fd` (non-blocking); `terminal`: it is a pty master, never closed here.
    pub fn new(fd: Option<OwnedFd>, terminal: bool) -> Self {
        Input {
            fd,
            terminal,
            ..Default::default()
        }
    }

    /// Whether there is a stdin to feed.
    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// The descriptor to poll for writability, when input waits (-1 otherwise).
    pub fn poll_fd(&self) -> i32 {
        match &self.fd {
            Some(f) if !self.pending.is_empty() => f.as_raw_fd(),
            _ => -1,
        }
    }

    /// Whether input waits to be written.
    pub fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Queues input and writes what it can.
    pub fn queue(&mut self, data: &[u8]) {
        if self.fd.is_none() || self.pending.len() + data.len() > MAX_PENDING {
            return;
        }
        self.pending.extend_from_slice(data);
        self.flush();
    }

    /// The end of input: stdin is closed once what is queued is written.
    pub fn end(&mut self) {
        self.eof = true;
        self.flush();
    }

    /// Closes stdin now (the process is gone).
    pub fn close(&mut self) {
        self.fd = None;
        self.pending.clear();
    }

    /// Writes what it can of the queued input.
    pub fn flush(&mut self) {
        let Some(fd) = self.fd.as_ref() else {
            self.pending.clear();
            return;
        };
        while !self.pending.is_empty() {
            match strata_os::fd::write(fd.as_raw_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.pending.clear(); // the process closed its stdin
                    break;
                }
            }
        }
        if self.eof && self.pending.is_empty() && !self.terminal {
            self.fd = None;
        }
    }
}
