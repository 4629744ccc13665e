//! Queue plumbing shared by the packet devices (net, vsock): gathering a chain's readable
//! buffers, scattering bytes into a chain's writable buffers, and the TX and RX loops that
//! pop chains and hand them back to the driver as used.

use crate::allocator::memory::GuestMemoryMmap;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

/// Packets for the guest that wait for its RX buffers.
pub type Packets = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// A descriptor chain popped from a queue over guest memory.
pub type Chain<'a> = DescriptorChain<&'a GuestMemoryMmap>;

/// Descriptors looked at per chain at most.
const MAX_DESCRIPTORS: usize = 64;

/// Gathers the readable buffers of `chain`, at most `max` bytes in all. `None` if a buffer is
/// write-only, the total would exceed `max`, or guest memory cannot be read.
pub fn gather(chain: Chain<'_>, mem: &GuestMemoryMmap, max: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    for d in chain.take(MAX_DESCRIPTORS) {
        let len = d.len() as usize;
        if d.is_write_only() || buf.len() + len > max {
            return None;
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        mem.read_slice(&mut buf[start..], d.addr()).ok()?;
    }
    Some(buf)
}

/// Copies `data` into the writable buffers of `chain`, stopping at the first readable buffer
/// or unwritable address; returns the number of bytes copied.
pub fn scatter(chain: Chain<'_>, mem: &GuestMemoryMmap, data: &[u8]) -> usize {
    let mut off = 0usize;
    for d in chain.take(MAX_DESCRIPTORS) {
        if off == data.len() || !d.is_write_only() {
            break;
        }
        let n = (d.len() as usize).min(data.len() - off);
        if mem
            .write_slice(&data[off..off + n], GuestAddress(d.addr().0))
            .is_err()
        {
            break;
        }
        off += n;
    }
    off
}

/// Passes every available chain of `queue` to `handle`, then returns it as used with length
/// 0. True if any chain was used.
pub fn drain_tx(
    queue: &mut Queue,
    mem: &GuestMemoryMmap,
    mut handle: impl FnMut(Chain<'_>),
) -> bool {
    let mut used = false;
    while let Some(chain) = queue.pop_descriptor_chain(mem) {
        let head = chain.head_index();
        handle(chain);
        if queue.add_used(mem, head, 0).is_err() {
            break;
        }
        used = true;
    }
    used
}

/// Gives `pending` packets to the guest, one chain each, while both last: `fill` copies a
/// packet into its chain and returns the used length. True if any chain was used.
pub fn fill_rx(
    queue: &mut Queue,
    mem: &GuestMemoryMmap,
    pending: &Mutex<VecDeque<Vec<u8>>>,
    mut fill: impl FnMut(Chain<'_>, Vec<u8>) -> u32,
) -> bool {
    let mut used = false;
    loop {
        let Some(pkt) = pending.lock().expect("pending lock").pop_front() else {
            break;
        };
        let Some(chain) = queue.pop_descriptor_chain(mem) else {
            pending.lock().expect("pending lock").push_front(pkt);
            break;
        };
        let head = chain.head_index();
        let len = fill(chain, pkt);
        if queue.add_used(mem, head, len).is_err() {
            break;
        }
        used = true;
    }
    used
}
