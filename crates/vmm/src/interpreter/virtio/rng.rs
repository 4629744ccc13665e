//! virtio-rng: fills every device-writable buffer the guest offers with random bytes from
//! the host's getrandom(2).

use super::{VirtioDevice, TYPE_RNG};
use crate::allocator::memory::GuestMemoryMmap;
use virtio_queue::{Queue, QueueT};
use vm_memory::Bytes;

/// Largest number of bytes served per request (a guest cannot make the VMM allocate more).
pub const MAX_REQUEST: u32 = 64 * 1024;

/// The entropy device.
#[derive(Default)]
pub struct Rng {
    /// Bytes handed to the guest so far.
    pub bytes_served: u64,
}

fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`, which we own.
        let n = unsafe {
            libc::getrandom(
                buf[done..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - done,
                0,
            )
        };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        TYPE_RNG
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[256]
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn process_queue(&mut self, _idx: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let mut written: u32 = 0;
            for d in chain {
                if !d.is_write_only() {
                    continue;
                }
                let n = d.len().min(MAX_REQUEST - written);
                if n == 0 {
                    break;
                }
                let mut buf = vec![0u8; n as usize];
                fill_random(&mut buf);
                if mem.write_slice(&buf, d.addr()).is_err() {
                    break;
                }
                written += n;
            }
            self.bytes_served += written as u64;
            if queue.add_used(mem, head, written).is_err() {
                break;
            }
            used = true;
        }
        used
    }
}
