//! The vsock muxer thread: the host unix sockets of every connection, the handshake of
//! host-initiated connections, credit accounting, and packets to the guest.

use super::packet::*;
use super::{Pending, MAX_PENDING, RX};
use crate::interpreter::virtio::mmio::MmioTransport;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::EventFd;

/// Our receive buffer as announced to the guest.
pub const BUF_ALLOC: u32 = 256 * 1024;
/// First host port handed to host-initiated connections.
pub const FIRST_LOCAL_PORT: u32 = 1 << 30;

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Host-initiated, waiting for the guest's RESPONSE.
    Connecting,
    Established,
}

struct Conn {
    stream: UnixStream,
    state: State,
    /// Bytes we have written to the host socket (our fwd_cnt).
    fwd_cnt: u32,
    /// Bytes we have sent the guest.
    tx_cnt: u32,
    peer_buf_alloc: u32,
    peer_fwd_cnt: u32,
}

impl Conn {
    fn peer_credit(&self) -> u32 {
        self.peer_buf_alloc
            .saturating_sub(self.tx_cnt.wrapping_sub(self.peer_fwd_cnt))
    }
}

/// Everything the muxer thread owns.
pub struct Muxer {
    cid: u64,
    uds: PathBuf,
    listener: UnixListener,
    handshakes: Vec<(UnixStream, Vec<u8>)>,
    /// Keyed by (host port, guest port).
    conns: HashMap<(u32, u32), Conn>,
    next_port: u32,
    from_guest: Receiver<(Hdr, Vec<u8>)>,
    wake: EventFd,
    pending: Pending,
    transport: Arc<Mutex<MmioTransport>>,
}

impl Muxer {
    /// A muxer listening on `uds` (the path must not exist).
    pub fn new(
        cid: u64,
        uds: PathBuf,
        from_guest: Receiver<(Hdr, Vec<u8>)>,
        wake: EventFd,
        pending: Pending,
        transport: Arc<Mutex<MmioTransport>>,
    ) -> std::io::Result<Muxer> {
        let listener = UnixListener::bind(&uds)?;
        listener.set_nonblocking(true)?;
        Ok(Muxer {
            cid,
            uds,
            listener,
            handshakes: Vec::new(),
            conns: HashMap::new(),
            next_port: FIRST_LOCAL_PORT,
            from_guest,
            wake,
            pending,
            transport,
        })
    }

    fn send(&mut self, op: u16, host_port: u32, guest_port: u32, flags: u32, payload: &[u8]) {
        let fwd_cnt = self
            .conns
            .get(&(host_port, guest_port))
            .map(|c| c.fwd_cnt)
            .unwrap_or(0);
        let h = Hdr {
            src_cid: HOST_CID,
            dst_cid: self.cid,
            src_port: host_port,
            dst_port: guest_port,
            len: payload.len() as u32,
            type_: TYPE_STREAM,
            op,
            flags,
            buf_alloc: BUF_ALLOC,
            fwd_cnt,
        };
        let mut pkt = h.to_bytes().to_vec();
        pkt.extend_from_slice(payload);
        {
            let mut p = self.pending.lock().expect("pending lock");
            if p.len() >= MAX_PENDING {
                p.pop_front();
            }
            p.push_back(pkt);
        }
        self.transport.lock().expect("transport lock").process(RX);
    }

    fn guest_packet(&mut self, h: Hdr, payload: Vec<u8>) {
        let key = (h.dst_port, h.src_port);
        if let Some(c) = self.conns.get_mut(&key) {
            c.peer_buf_alloc = h.buf_alloc;
            c.peer_fwd_cnt = h.fwd_cnt;
        }
        match h.op {
            OP_REQUEST => {
                if self.conns.contains_key(&key) {
                    return self.send(OP_RST, key.0, key.1, 0, &[]);
                }
                let path = format!("{}_{}", self.uds.display(), h.dst_port);
                match UnixStream::connect(&path) {
                    Ok(stream) => {
                        let _ = stream.set_nonblocking(true);
                        self.conns.insert(
                            key,
                            Conn {
                                stream,
                                state: State::Established,
                                fwd_cnt: 0,
                                tx_cnt: 0,
                                peer_buf_alloc: h.buf_alloc,
                                peer_fwd_cnt: h.fwd_cnt,
                            },
                        );
                        self.send(OP_RESPONSE, key.0, key.1, 0, &[]);
                    }
                    Err(_) => self.send(OP_RST, key.0, key.1, 0, &[]),
                }
            }
            OP_RESPONSE => match self.conns.get_mut(&key) {
                Some(c) if c.state == State::Connecting => {
                    c.state = State::Established;
                    let _ = c.stream.set_nonblocking(false);
                    let ok = writeln!(c.stream, "OK {}", key.0).is_ok();
                    let _ = c.stream.set_nonblocking(true);
                    if !ok {
                        self.conns.remove(&key);
                        self.send(OP_RST, key.0, key.1, 0, &[]);
                    }
                }
                _ => self.send(OP_RST, key.0, key.1, 0, &[]),
            },
            OP_RW => {
                let Some(c) = self.conns.get_mut(&key) else {
                    return self.send(OP_RST, key.0, key.1, 0, &[]);
                };
                let _ = c.stream.set_nonblocking(false);
                let ok = c.stream.write_all(&payload).is_ok();
                let _ = c.stream.set_nonblocking(true);
                if ok {
                    c.fwd_cnt = c.fwd_cnt.wrapping_add(payload.len() as u32);
                    self.send(OP_CREDIT_UPDATE, key.0, key.1, 0, &[]);
                } else {
                    self.conns.remove(&key);
                    self.send(OP_RST, key.0, key.1, 0, &[]);
                }
            }
            OP_CREDIT_REQUEST => self.send(OP_CREDIT_UPDATE, key.0, key.1, 0, &[]),
            OP_CREDIT_UPDATE => {}
            OP_SHUTDOWN => {
                self.conns.remove(&key);
                self.send(OP_RST, key.0, key.1, 0, &[]);
            }
            OP_RST => {
                self.conns.remove(&key);
            }
            _ => self.send(OP_RST, key.0, key.1, 0, &[]),
        }
    }

    fn accept(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            let _ = s.set_nonblocking(true);
            self.handshakes.push((s, Vec::new()));
        }
    }

    /// Reads `CONNECT <port>\n` lines from new host connections.
    fn handshake(&mut self) {
        let mut done = Vec::new();
        for (i, (s, line)) in self.handshakes.iter_mut().enumerate() {
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) => done.push((i, None)),
                Ok(n) => {
                    line.extend_from_slice(&b[..n]);
                    if let Some(pos) = line.iter().position(|c| *c == b'\n') {
                        let text = String::from_utf8_lossy(&line[..pos]).to_string();
                        let port = text
                            .strip_prefix("CONNECT ")
                            .and_then(|p| p.trim().parse().ok());
                        done.push((i, port));
                    } else if line.len() > 32 {
                        done.push((i, None));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => done.push((i, None)),
            }
        }
        for (i, port) in done.into_iter().rev() {
            let (stream, _) = self.handshakes.remove(i);
            if let Some(guest_port) = port {
                let host_port = self.next_port;
                self.next_port = self.next_port.wrapping_add(1).max(FIRST_LOCAL_PORT);
                self.conns.insert(
                    (host_port, guest_port),
                    Conn {
                        stream,
                        state: State::Connecting,
                        fwd_cnt: 0,
                        tx_cnt: 0,
                        peer_buf_alloc: 0,
                        peer_fwd_cnt: 0,
                    },
                );
                self.send(OP_REQUEST, host_port, guest_port, 0, &[]);
            }
        }
    }

    /// Forwards host data to the guest within its credit; EOF becomes SHUTDOWN.
    fn host_data(&mut self) {
        let keys: Vec<(u32, u32)> = self.conns.keys().copied().collect();
        for key in keys {
            let mut out = Vec::new();
            let mut closed = false;
            if let Some(c) = self.conns.get_mut(&key) {
                if c.state != State::Established {
                    continue;
                }
                let credit = c.peer_credit().min(4096) as usize;
                if credit == 0 {
                    continue;
                }
                let mut b = vec![0u8; credit];
                match c.stream.read(&mut b) {
                    Ok(0) => closed = true,
                    Ok(n) => {
                        c.tx_cnt = c.tx_cnt.wrapping_add(n as u32);
                        out = b[..n].to_vec();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => closed = true,
                }
            }
            if !out.is_empty() {
                self.send(OP_RW, key.0, key.1, 0, &out);
            }
            if closed {
                self.send(OP_SHUTDOWN, key.0, key.1, 3, &[]);
                self.conns.remove(&key);
            }
        }
    }

    /// Runs until `should_stop`; removes the listening socket on the way out.
    pub fn run(mut self, should_stop: impl Fn() -> bool) {
        while !should_stop() {
            let mut fds = vec![
                libc::pollfd {
                    fd: self.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            for (s, _) in &self.handshakes {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            for c in self.conns.values() {
                // Host data waits while the guest has no credit or has not accepted yet.
                if c.state == State::Established && c.peer_credit() > 0 {
                    fds.push(libc::pollfd {
                        fd: c.stream.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
            // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            if r < 0 {
                continue;
            }
            let _ = self.wake.read();
            while let Ok((h, p)) = self.from_guest.try_recv() {
                self.guest_packet(h, p);
            }
            self.accept();
            self.handshake();
            self.host_data();
        }
        let _ = std::fs::remove_file(&self.uds);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Vsock;
    use super::*;
    use std::io::Read;

    fn muxer(name: &str) -> (Muxer, PathBuf, Pending) {
        let dir =
            std::env::temp_dir().join(format!("strata-vmm-mux-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let uds = dir.join("v.sock");
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let pending = Pending::default();
        let dev = Vsock::new(3, pending.clone(), tx, wake.try_clone().unwrap());
        let mem = crate::allocator::memory::create(1 << 20).unwrap();
        let t = MmioTransport::new(Box::new(dev), mem, EventFd::new(0).unwrap());
        let m = Muxer::new(
            3,
            uds.clone(),
            rx,
            wake,
            pending.clone(),
            Arc::new(Mutex::new(t)),
        )
        .unwrap();
        (m, dir, pending)
    }

    fn guest_hdr(op: u16, src_port: u32, dst_port: u32, len: u32) -> Hdr {
        Hdr {
            src_cid: 3,
            dst_cid: HOST_CID,
            src_port,
            dst_port,
            len,
            type_: TYPE_STREAM,
            op,
            buf_alloc: 65536,
            ..Default::default()
        }
    }

    fn pop(p: &Pending) -> Option<(Hdr, Vec<u8>)> {
        let b = p.lock().unwrap().pop_front()?;
        Some((Hdr::parse(&b).unwrap(), b[HDR_LEN..].to_vec()))
    }

    #[test]
    fn guest_initiated_connection_carries_data_both_ways() {
        let (mut m, dir, pending) = muxer("guest");
        let listener =
            UnixListener::bind(format!("{}_5000", dir.join("v.sock").display())).unwrap();
        m.guest_packet(guest_hdr(OP_REQUEST, 1234, 5000, 0), vec![]);
        let (h, _) = pop(&pending).expect("response");
        assert_eq!(
            (h.op, h.src_port, h.dst_port, h.dst_cid),
            (OP_RESPONSE, 5000, 1234, 3)
        );
        let (mut host, _) = listener.accept().unwrap();
        // Guest -> host.
        m.guest_packet(guest_hdr(OP_RW, 1234, 5000, 5), b"hello".to_vec());
        let mut b = [0u8; 5];
        host.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hello");
        let (h, _) = pop(&pending).expect("credit update");
        assert_eq!((h.op, h.fwd_cnt), (OP_CREDIT_UPDATE, 5));
        // Host -> guest, within the guest's credit.
        host.write_all(b"world").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        m.host_data();
        let (h, payload) = pop(&pending).expect("rw");
        assert_eq!((h.op, payload.as_slice()), (OP_RW, &b"world"[..]));
        // Host closes: the guest gets SHUTDOWN and the connection is gone.
        drop(host);
        std::thread::sleep(std::time::Duration::from_millis(50));
        m.host_data();
        let (h, _) = pop(&pending).expect("shutdown");
        assert_eq!((h.op, h.flags), (OP_SHUTDOWN, 3));
        assert!(m.conns.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refused_connections_and_unknown_streams_get_rst() {
        let (mut m, dir, pending) = muxer("rst");
        // Nobody listens on port 6000.
        m.guest_packet(guest_hdr(OP_REQUEST, 1, 6000, 0), vec![]);
        assert_eq!(pop(&pending).unwrap().0.op, OP_RST);
        // Data on a connection that does not exist.
        m.guest_packet(guest_hdr(OP_RW, 1, 6000, 3), b"abc".to_vec());
        assert_eq!(pop(&pending).unwrap().0.op, OP_RST);
        // A RESPONSE nobody asked for.
        m.guest_packet(guest_hdr(OP_RESPONSE, 1, 6000, 0), vec![]);
        assert_eq!(pop(&pending).unwrap().0.op, OP_RST);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_credit_no_data() {
        let (mut m, dir, pending) = muxer("credit");
        let listener =
            UnixListener::bind(format!("{}_7000", dir.join("v.sock").display())).unwrap();
        let mut h = guest_hdr(OP_REQUEST, 9, 7000, 0);
        h.buf_alloc = 0; // the guest has no receive buffer
        m.guest_packet(h, vec![]);
        assert_eq!(pop(&pending).unwrap().0.op, OP_RESPONSE);
        let (mut host, _) = listener.accept().unwrap();
        host.write_all(b"data").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        m.host_data();
        assert!(pop(&pending).is_none(), "sent beyond the guest's credit");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
