//! Passing file descriptors over unix sockets (`SCM_RIGHTS`): the pty master from a
//! container's init, the seccomp listener to its agent, a container's stdio to a client.

use crate::cvt::cvt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A control buffer with room for one descriptor (`CMSG_SPACE(sizeof fd)` bytes).
fn fd_control_buffer() -> Vec<u8> {
    // SAFETY: CMSG_SPACE is a pure size computation.
    vec![0u8; unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize]
}

/// A msghdr over one iovec and a control buffer from [`fd_control_buffer`]; both must
/// outlive the sendmsg/recvmsg call that uses it.
fn one_fd_msghdr(iov: &mut libc::iovec, cbuf: &mut [u8]) -> libc::msghdr {
    // SAFETY: a zeroed msghdr is valid; the fields set below describe live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = cbuf.len() as _;
    msg
}

/// Sends `data` (at least one byte) with `fd` as `SCM_RIGHTS` ancillary data in one message.
pub fn send_fd_with(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = fd_control_buffer();
    let msg = one_fd_msghdr(&mut iov, &mut cbuf);
    // SAFETY: the control buffer is CMSG_SPACE(sizeof fd) bytes, so the first header and its
    // data fit; CMSG_FIRSTHDR/CMSG_DATA point inside `cbuf`.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
    }
    // SAFETY: `msg` is fully initialised and its buffers are alive.
    cvt(unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } as libc::c_int)?;
    Ok(())
}

/// Sends `fd` with one byte of data.
pub fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    send_fd_with(sock, &[0u8], fd)
}

/// Receives one message into `data`: the byte count, and the descriptor if one came with
/// it (close-on-exec). A count of 0 with no descriptor is the peer's close.
pub fn recv_fd_with(sock: RawFd, data: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = fd_control_buffer();
    let mut msg = one_fd_msghdr(&mut iov, &mut cbuf);
    let n = loop {
        // SAFETY: `msg` points at live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled `msg`; CMSG_FIRSTHDR returns NULL or a header inside `cbuf`.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            None
        } else {
            Some(OwnedFd::from_raw_fd(std::ptr::read_unaligned(
                libc::CMSG_DATA(c) as *const RawFd,
            )))
        }
    };
    Ok((n, fd))
}

/// Receives one descriptor sent by [`send_fd`]; an error if the message carried none.
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut data = [0u8; 1];
    match recv_fd_with(sock, &mut data)? {
        (_, Some(fd)) => Ok(fd),
        (0, None) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "fd passing: the peer closed the socket",
        )),
        (_, None) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "fd passing: expected a file descriptor",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::{pipe, read, socketpair, write_all};
    use std::os::fd::AsRawFd;

    #[test]
    fn a_pipe_end_crosses_with_its_data() {
        let (a, b) = socketpair().unwrap();
        let (r, w) = pipe().unwrap();
        send_fd_with(a.as_raw_fd(), b"stdout", w.as_raw_fd()).unwrap();
        let mut buf = [0u8; 16];
        let (n, fd) = recv_fd_with(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"stdout");
        write_all(fd.unwrap().as_raw_fd(), b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(read(r.as_raw_fd(), &mut one).unwrap(), 1);
        drop(a);
        assert_eq!(
            recv_fd(b.as_raw_fd()).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }
}
