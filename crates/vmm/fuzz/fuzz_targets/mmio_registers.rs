//! Arbitrary sequences of virtio-mmio register reads and writes (any offset, any width).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_vmm::allocator::bus::BusDevice;
use strata_vmm::interpreter::virtio::rng::Rng;
use strata_vmm::interpreter::virtio::testutil::TestDriver;

fuzz_target!(|data: &[u8]| {
    let mut d = TestDriver::new(Box::new(Rng::default()));
    for op in data.chunks_exact(8) {
        let off = u16::from_le_bytes([op[0], op[1]]) as u64 & 0x1ff;
        let width = [1usize, 2, 4, 8][(op[2] & 3) as usize];
        let val = &op[3..3 + width.min(5)];
        if op[2] & 4 == 0 {
            let mut buf = vec![0u8; width];
            d.t.read(off, &mut buf);
        } else {
            d.t.write(off, val);
        }
    }
});
