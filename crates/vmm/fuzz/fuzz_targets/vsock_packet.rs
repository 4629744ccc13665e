//! virtio-vsock packet parsing (header fields, lengths, addresses) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_vmm::interpreter::virtio::vsock::packet::{parse_guest_packet, Hdr, HDR_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok((h, payload)) = parse_guest_packet(data, 3) {
        assert_eq!(payload.len(), h.len as usize);
        assert!(HDR_LEN + payload.len() <= data.len());
        assert_eq!(Hdr::parse(&h.to_bytes()), Some(h));
    }
});
