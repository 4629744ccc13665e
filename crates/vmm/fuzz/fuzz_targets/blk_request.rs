//! virtio-blk request parsing on arbitrary descriptor lists and header bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_vmm::interpreter::virtio::block::{Desc, Request};
use vm_memory::{Bytes, GuestAddress};

fuzz_target!(|data: &[u8]| {
    let mem = strata_vmm::allocator::memory::create(1 << 20).unwrap();
    let (descs_raw, rest) = data.split_at(data.len().min(13 * 16));
    let descs: Vec<Desc> = descs_raw
        .chunks_exact(13)
        .map(|c| Desc {
            addr: u64::from_le_bytes(c[0..8].try_into().unwrap()) % (2 << 20),
            len: u32::from_le_bytes(c[8..12].try_into().unwrap()),
            write_only: c[12] & 1 == 1,
        })
        .collect();
    let _ = mem.write_slice(&rest[..rest.len().min(4096)], GuestAddress(0));
    if let Ok(r) = Request::parse(&descs, &mem, 64 * 1024) {
        assert!(r.data.len() + 2 == descs.len());
    }
});
