//! A tiny AML encoder: just what the DSDT needs to announce virtio-mmio devices (scope,
//! device, names, strings, integers, resource templates).

/// Encodes an AML PkgLength for `len` bytes of content (the encoding's own bytes included).
pub fn pkg_length(len: usize) -> Vec<u8> {
    // One byte holds up to 63 bytes total; otherwise 1..3 extra bytes follow.
    if len < 63 {
        return vec![(len + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = len + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            let mut v = vec![((extra as u8) << 6) | (total & 0xf) as u8];
            for i in 0..extra {
                v.push((total >> (4 + 8 * i)) as u8);
            }
            return v;
        }
    }
    panic!("aml package too large: {len}");
}

/// A 4-character name segment, padded with '_'.
pub fn name_seg(name: &str) -> [u8; 4] {
    let mut s = [b'_'; 4];
    for (i, b) in name.bytes().take(4).enumerate() {
        s[i] = b;
    }
    s
}

/// An integer with the shortest encoding.
pub fn integer(v: u64) -> Vec<u8> {
    match v {
        0 => vec![0x00],
        1 => vec![0x01],
        v if v <= 0xff => vec![0x0a, v as u8],
        v if v <= 0xffff => {
            let mut r = vec![0x0b];
            r.extend_from_slice(&(v as u16).to_le_bytes());
            r
        }
        v if v <= 0xffff_ffff => {
            let mut r = vec![0x0c];
            r.extend_from_slice(&(v as u32).to_le_bytes());
            r
        }
        v => {
            let mut r = vec![0x0e];
            r.extend_from_slice(&v.to_le_bytes());
            r
        }
    }
}

/// A string constant.
pub fn string(s: &str) -> Vec<u8> {
    let mut r = vec![0x0d];
    r.extend_from_slice(s.as_bytes());
    r.push(0);
    r
}

/// `Name(NAME, value)`.
pub fn name(n: &str, value: &[u8]) -> Vec<u8> {
    let mut r = vec![0x08];
    r.extend_from_slice(&name_seg(n));
    r.extend_from_slice(value);
    r
}

/// `Scope(path) { body }` where path is a rooted single segment like `\_SB_`.
pub fn scope_root(seg: &str, body: &[u8]) -> Vec<u8> {
    let mut content = vec![b'\\'];
    content.extend_from_slice(&name_seg(seg));
    content.extend_from_slice(body);
    let mut r = vec![0x10];
    r.extend(pkg_length(content.len()));
    r.extend(content);
    r
}

/// `Device(NAME) { body }`.
pub fn device(n: &str, body: &[u8]) -> Vec<u8> {
    let mut content = name_seg(n).to_vec();
    content.extend_from_slice(body);
    let mut r = vec![0x5b, 0x82];
    r.extend(pkg_length(content.len()));
    r.extend(content);
    r
}

/// `Buffer() { bytes }`.
pub fn buffer(bytes: &[u8]) -> Vec<u8> {
    let mut content = integer(bytes.len() as u64);
    content.extend_from_slice(bytes);
    let mut r = vec![0x11];
    r.extend(pkg_length(content.len()));
    r.extend(content);
    r
}

/// `Package() { integers }` (byte-sized elements).
pub fn package(items: &[u64]) -> Vec<u8> {
    let mut content = vec![items.len() as u8];
    for i in items {
        content.extend(integer(*i));
    }
    let mut r = vec![0x12];
    r.extend(pkg_length(content.len()));
    r.extend(content);
    r
}

/// A resource template with one 32-bit fixed memory range and one extended interrupt
/// (edge-triggered, active high, exclusive, consumer).
pub fn mmio_irq_resources(base: u32, len: u32, irq: u32) -> Vec<u8> {
    let mut b = vec![0x86, 0x09, 0x00, 0x01];
    b.extend_from_slice(&base.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&[0x89, 0x06, 0x00, 0x03, 0x01]);
    b.extend_from_slice(&irq.to_le_bytes());
    b.extend_from_slice(&[0x79, 0x00]);
    buffer(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_length_encodings() {
        assert_eq!(pkg_length(0), vec![1]);
        assert_eq!(pkg_length(62), vec![63]);
        // 63 bytes of content + 2 bytes of length = 65 = 0x41.
        assert_eq!(pkg_length(63), vec![0x41, 0x04]);
        assert_eq!(
            pkg_length(4000),
            vec![0x40 | ((4002 & 0xf) as u8), (4002 >> 4) as u8]
        );
        let l = pkg_length(5000);
        assert_eq!(l[0] >> 6, 2);
    }

    #[test]
    fn integers_and_names() {
        assert_eq!(integer(0), vec![0]);
        assert_eq!(integer(0x1234), vec![0x0b, 0x34, 0x12]);
        assert_eq!(
            name("_UID", &integer(1)),
            vec![0x08, b'_', b'U', b'I', b'D', 0x01]
        );
        assert_eq!(name_seg("VR"), *b"VR__");
    }
}
