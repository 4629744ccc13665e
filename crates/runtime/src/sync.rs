//! The parent/init synchronisation channel: a socket pair carrying small tagged messages and,
//! when needed, one file descriptor (the console master, the seccomp listener), passed with
//! [`strata_os::fdpass`].
//!
//! Message: 1 tag byte, a u32 little-endian length, then that many payload bytes.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use strata_os::{fd, fdpass};

/// Message tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Parent to child: continue.
    Go = b'g',
    /// Child to parent: run the prestart/createRuntime hooks now (before pivot_root).
    Hooks = b'h',
    /// Child to parent: a file descriptor follows (payload names it: "console" or "seccomp").
    Fd = b'f',
    /// Child to parent: ready, waiting for start (payload: nothing).
    Ready = b'r',
    /// Child to parent: failed (payload: the error message).
    Error = b'e',
}

impl Tag {
    fn from_u8(b: u8) -> io::Result<Tag> {
        Ok(match b {
            b'g' => Tag::Go,
            b'h' => Tag::Hooks,
            b'f' => Tag::Fd,
            b'r' => Tag::Ready,
            b'e' => Tag::Error,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("sync: unknown message tag {b}"),
                ))
            }
        })
    }
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// Wraps a connected stream socket.
    pub fn new(fd: OwnedFd) -> Self {
        Channel { fd }
    }

    /// The raw descriptor.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends a message.
    pub fn send(&self, tag: Tag, payload: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(tag as u8);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(payload);
        fd::write_all(self.raw(), &buf)
    }

    /// Whether a message (or the peer's close) is waiting, without blocking.
    pub fn has_pending(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        (unsafe { libc::poll(&mut p, 1, 0) }) > 0
    }

    /// Receives a message; `Ok(None)` if the peer closed the channel.
    pub fn recv(&self) -> io::Result<Option<(Tag, Vec<u8>)>> {
        let mut head = [0u8; 5];
        if !self.read_exact(&mut head)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sync: oversized message",
            ));
        }
        let mut payload = vec![0u8; len];
        if len > 0 && !self.read_exact(&mut payload)? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sync: truncated message",
            ));
        }
        Ok(Some((Tag::from_u8(head[0])?, payload)))
    }

    fn read_exact(&self, buf: &mut [u8]) -> io::Result<bool> {
        let mut off = 0;
        while off < buf.len() {
            let n = fd::read(self.raw(), &mut buf[off..])?;
            if n == 0 {
                if off == 0 {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "sync: short read",
                ));
            }
            off += n;
        }
        Ok(true)
    }

    /// Sends a descriptor with a one-word label (SCM_RIGHTS).
    pub fn send_fd(&self, label: &str, fd: RawFd) -> io::Result<()> {
        self.send(Tag::Fd, label.as_bytes())?;
        fdpass::send_fd(self.raw(), fd)
    }

    /// Receives a descriptor sent with [`Channel::send_fd`] (after its `Fd` message).
    pub fn recv_fd(&self) -> io::Result<OwnedFd> {
        fdpass::recv_fd(self.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross_the_channel() {
        let (a, b) = fd::socketpair().unwrap();
        let (a, b) = (Channel::new(a), Channel::new(b));
        a.send(Tag::Error, b"boom").unwrap();
        assert_eq!(b.recv().unwrap(), Some((Tag::Error, b"boom".to_vec())));
        let (r, w) = fd::pipe().unwrap();
        a.send_fd("console", w.as_raw_fd()).unwrap();
        let (tag, label) = b.recv().unwrap().unwrap();
        assert_eq!((tag, label.as_slice()), (Tag::Fd, b"console".as_slice()));
        let w2 = b.recv_fd().unwrap();
        fd::write_all(w2.as_raw_fd(), b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(fd::read(r.as_raw_fd(), &mut buf).unwrap(), 1);
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
