//! Arbitrary descriptor tables and available rings handed to virtio-blk and virtio-rng
//! through a correctly set-up queue: the VMM must never panic or touch memory outside the
//! guest's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_vmm::interpreter::virtio::block::Block;
use strata_vmm::interpreter::virtio::rng::Rng;
use strata_vmm::interpreter::virtio::testutil::{TestDriver, AVAIL, DESC};
use vm_memory::{Bytes, GuestAddress};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let dev: Box<dyn strata_vmm::interpreter::virtio::VirtioDevice> = if data[0] & 1 == 0 {
        Box::new(Rng::default())
    } else {
        let p = std::env::temp_dir().join("strata-vmm-fuzz.img");
        if !p.exists() {
            std::fs::write(&p, vec![0u8; 64 * 1024]).unwrap();
        }
        Box::new(Block::open(&p, true, "fuzz").unwrap())
    };
    let mut d = TestDriver::new(dev);
    if !d.init(0, 1) {
        return;
    }
    // The rest of the input is the descriptor table followed by the available ring.
    let body = &data[1..];
    let table = &body[..body.len().min(16 * 16)];
    d.mem.write_slice(table, GuestAddress(DESC)).unwrap();
    if body.len() > table.len() {
        let ring = &body[table.len()..];
        let ring = &ring[..ring.len().min(4 + 2 * 16)];
        d.mem.write_slice(ring, GuestAddress(AVAIL)).unwrap();
    }
    d.w(0x050, 0);
});
