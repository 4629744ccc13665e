//! virtio-vsock with Firecracker's hybrid host side: the host end of every guest stream is a
//! unix socket. Host-initiated: connect to `uds_path`, write `CONNECT <port>\n`, read
//! `OK <host_port>\n` once the guest accepts. Guest-initiated connections to host port P go
//! to `<uds_path>_P`. The vCPU thread only parses and queues what the guest sends; a muxer
//! thread owns every socket (so vCPU threads never need socket syscalls).

pub mod muxer;
pub mod packet;

use super::{read_config_bytes, VirtioDevice, TYPE_VSOCK};
use crate::allocator::memory::GuestMemoryMmap;
use packet::{parse_guest_packet, Hdr, HDR_LEN, MAX_PAYLOAD};
use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::EventFd;

/// RX queue.
pub const RX: usize = 0;
/// TX queue.
pub const TX: usize = 1;
/// Event queue.
pub const EVT: usize = 2;
/// Packets waiting for guest RX buffers (bounded).
pub const MAX_PENDING: usize = 1024;

/// Packets (header + payload bytes) for the guest.
pub type Pending = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// The vsock device model.
pub struct Vsock {
    cid: u64,
    pending: Pending,
    to_muxer: Sender<(Hdr, Vec<u8>)>,
    wake: EventFd,
    /// Guest packets refused as malformed.
    pub refused: u64,
}

impl Vsock {
    /// A device with guest CID `cid` sending guest packets to the muxer.
    pub fn new(
        cid: u64,
        pending: Pending,
        to_muxer: Sender<(Hdr, Vec<u8>)>,
        wake: EventFd,
    ) -> Self {
        Vsock {
            cid,
            pending,
            to_muxer,
            wake,
            refused: 0,
        }
    }

    fn transmit(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let mut buf = Vec::new();
            let mut ok = true;
            for d in chain.take(64) {
                let len = d.len() as usize;
                if d.is_write_only() || buf.len() + len > HDR_LEN + MAX_PAYLOAD as usize {
                    ok = false;
                    break;
                }
                let s = buf.len();
                buf.resize(s + len, 0);
                if mem.read_slice(&mut buf[s..], d.addr()).is_err() {
                    ok = false;
                    break;
                }
            }
            match ok.then(|| parse_guest_packet(&buf, self.cid)) {
                Some(Ok((h, payload))) => {
                    let _ = self.to_muxer.send((h, payload.to_vec()));
                    let _ = self.wake.write(1);
                }
                _ => self.refused += 1,
            }
            if queue.add_used(mem, head, 0).is_err() {
                break;
            }
            used = true;
        }
        used
    }

    fn receive(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        loop {
            let Some(pkt) = self.pending.lock().expect("pending lock").pop_front() else {
                break;
            };
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                self.pending.lock().expect("pending lock").push_front(pkt);
                break;
            };
            let head = chain.head_index();
            let mut off = 0usize;
            for d in chain.take(64) {
                if off == pkt.len() || !d.is_write_only() {
                    break;
                }
                let n = (d.len() as usize).min(pkt.len() - off);
                if mem
                    .write_slice(&pkt[off..off + n], GuestAddress(d.addr().0))
                    .is_err()
                {
                    break;
                }
                off += n;
            }
            let len = if off == pkt.len() { off as u32 } else { 0 };
            if queue.add_used(mem, head, len).is_err() {
                break;
            }
            used = true;
        }
        used
    }
}

impl VirtioDevice for Vsock {
    fn device_type(&self) -> u32 {
        TYPE_VSOCK
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[256, 256, 256]
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.cid.to_le_bytes(), offset, data);
    }
    fn process_queue(&mut self, idx: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        match idx {
            RX => self.receive(queue, mem),
            TX => self.transmit(queue, mem),
            _ => false,
        }
    }
}
