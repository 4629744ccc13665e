//! virtio-vsock with Firecracker's hybrid host side: the host end of every guest stream is a
//! unix socket. Host-initiated: connect to `uds_path`, write `CONNECT <port>\n`, read
//! `OK <host_port>\n` once the guest accepts. Guest-initiated connections to host port P go
//! to `<uds_path>_P`. The vCPU thread only parses and queues what the guest sends; a muxer
//! thread owns every socket (so vCPU threads never need socket syscalls).

pub mod muxer;
pub mod packet;

use super::{chain, read_config_bytes, VirtioDevice, TYPE_VSOCK};
use crate::allocator::memory::GuestMemoryMmap;
use packet::{parse_guest_packet, Hdr, HDR_LEN, MAX_PAYLOAD};
use std::sync::mpsc::Sender;
use virtio_queue::Queue;
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
pub type Pending = chain::Packets;

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
        chain::drain_tx(queue, mem, |chain| {
            let buf = chain::gather(chain, mem, HDR_LEN + MAX_PAYLOAD as usize);
            match buf.map(|buf| {
                parse_guest_packet(&buf, self.cid).map(|(h, payload)| (h, payload.to_vec()))
            }) {
                Some(Ok(pkt)) => {
                    let _ = self.to_muxer.send(pkt);
                    let _ = self.wake.write(1);
                }
                _ => self.refused += 1,
            }
        })
    }

    fn receive(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        chain::fill_rx(queue, mem, &self.pending, |chain, pkt| {
            let off = chain::scatter(chain, mem, &pkt);
            if off == pkt.len() {
                off as u32
            } else {
                0
            }
        })
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
