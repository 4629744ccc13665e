//! virtio devices behind the virtio-mmio transport (virtio 1.2, split virtqueues).

pub mod block;
pub mod chain;
pub mod mmio;
pub mod net;
pub mod rng;
#[cfg(any(test, feature = "fuzzing"))]
pub mod testutil;
pub mod vsock;

use crate::allocator::memory::GuestMemoryMmap;
use virtio_queue::Queue;

/// virtio device type: network card.
pub const TYPE_NET: u32 = 1;
/// virtio device type: block device.
pub const TYPE_BLOCK: u32 = 2;
/// virtio device type: entropy source.
pub const TYPE_RNG: u32 = 4;
/// virtio device type: socket.
pub const TYPE_VSOCK: u32 = 19;

/// Feature bit: the device conforms to virtio 1.x.
pub const F_VERSION_1: u64 = 1 << 32;

/// A virtio device model: the part that is independent of the transport.
pub trait VirtioDevice: Send {
    /// virtio device type.
    fn device_type(&self) -> u32;
    /// Maximum size of each queue (its length is the number of queues).
    fn queue_max_sizes(&self) -> &[u16];
    /// Offered feature bits (the transport adds VERSION_1).
    fn features(&self) -> u64;
    /// Reads device config space; out-of-range bytes read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes device config space (most devices ignore it).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// Handles the available buffers of queue `idx`; returns true if it used any.
    fn process_queue(&mut self, idx: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool;
    /// Forgets per-driver state on a device reset.
    fn reset(&mut self) {}
}

/// Copies `src` config bytes at `offset` into `data`, zero-filling what is out of range.
pub fn read_config_bytes(src: &[u8], offset: u64, data: &mut [u8]) {
    data.fill(0);
    let off = offset as usize;
    if off < src.len() {
        let n = data.len().min(src.len() - off);
        data[..n].copy_from_slice(&src[off..off + n]);
    }
}
#[cfg(test)]
mod tests;
