//! virtio-vsock packet headers (struct virtio_vsock_hdr, 44 bytes, little endian).

/// Header size.
pub const HDR_LEN: usize = 44;
/// The host's CID.
pub const HOST_CID: u64 = 2;
/// Stream sockets (the only type supported).
pub const TYPE_STREAM: u16 = 1;
/// Largest payload accepted in one packet.
pub const MAX_PAYLOAD: u32 = 64 * 1024;
/// Connection request.
pub const OP_REQUEST: u16 = 1;
/// Connection accepted.
pub const OP_RESPONSE: u16 = 2;
/// Reset.
pub const OP_RST: u16 = 3;
/// Shutdown (flags: 1 = no more receive, 2 = no more send).
pub const OP_SHUTDOWN: u16 = 4;
/// Data.
pub const OP_RW: u16 = 5;
/// Credit update.
pub const OP_CREDIT_UPDATE: u16 = 6;
/// Credit request.
pub const OP_CREDIT_REQUEST: u16 = 7;

/// A packet header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hdr {
    /// Source CID.
    pub src_cid: u64,
    /// Destination CID.
    pub dst_cid: u64,
    /// Source port.
    pub src_port: u32,
    /// Destination port.
    pub dst_port: u32,
    /// Payload length.
    pub len: u32,
    /// Socket type.
    pub type_: u16,
    /// Operation.
    pub op: u16,
    /// Flags.
    pub flags: u32,
    /// Sender's receive buffer size.
    pub buf_alloc: u32,
    /// Bytes the sender has consumed.
    pub fwd_cnt: u32,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

impl Hdr {
    /// Parses the first 44 bytes of `b`.
    pub fn parse(b: &[u8]) -> Option<Hdr> {
        if b.len() < HDR_LEN {
            return None;
        }
        Some(Hdr {
            src_cid: u64::from_le_bytes(b[0..8].try_into().ok()?),
            dst_cid: u64::from_le_bytes(b[8..16].try_into().ok()?),
            src_port: u32_at(b, 16),
            dst_port: u32_at(b, 20),
            len: u32_at(b, 24),
            type_: u16::from_le_bytes([b[28], b[29]]),
            op: u16::from_le_bytes([b[30], b[31]]),
            flags: u32_at(b, 32),
            buf_alloc: u32_at(b, 36),
            fwd_cnt: u32_at(b, 40),
        })
    }

    /// Encodes the header.
    pub fn to_bytes(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[0..8].copy_from_slice(&self.src_cid.to_le_bytes());
        b[8..16].copy_from_slice(&self.dst_cid.to_le_bytes());
        b[16..20].copy_from_slice(&self.src_port.to_le_bytes());
        b[20..24].copy_from_slice(&self.dst_port.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..30].copy_from_slice(&self.type_.to_le_bytes());
        b[30..32].copy_from_slice(&self.op.to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b[36..40].copy_from_slice(&self.buf_alloc.to_le_bytes());
        b[40..44].copy_from_slice(&self.fwd_cnt.to_le_bytes());
        b
    }
}

/// Why a guest packet was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than a header.
    #[error("short packet")]
    Short,
    /// Payload length field disagrees with the buffers or is too large.
    #[error("bad payload length {0}")]
    Length(u32),
    /// Not from the guest's CID, or not to the host.
    #[error("bad address {0}->{1}")]
    Address(u64, u64),
    /// Not a stream packet.
    #[error("unsupported socket type {0}")]
    Type(u16),
}

/// Parses and checks a packet the guest sent (`bytes` = header + payload as gathered).
pub fn parse_guest_packet(bytes: &[u8], guest_cid: u64) -> Result<(Hdr, &[u8]), PacketError> {
    let h = Hdr::parse(bytes).ok_or(PacketError::Short)?;
    if h.len > MAX_PAYLOAD || HDR_LEN + h.len as usize > bytes.len() {
        return Err(PacketError::Length(h.len));
    }
    if h.src_cid != guest_cid || h.dst_cid != HOST_CID {
        return Err(PacketError::Address(h.src_cid, h.dst_cid));
    }
    if h.type_ != TYPE_STREAM {
        return Err(PacketError::Type(h.type_));
    }
    Ok((h, &bytes[HDR_LEN..HDR_LEN + h.len as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(h: Hdr, payload: &[u8]) -> Vec<u8> {
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn roundtrip_and_validation() {
        let h = Hdr {
            src_cid: 3,
            dst_cid: 2,
            src_port: 1000,
            dst_port: 52,
            len: 5,
            type_: TYPE_STREAM,
            op: OP_RW,
            ..Default::default()
        };
        assert_eq!(Hdr::parse(&h.to_bytes()), Some(h));
        let b = pkt(h, b"hello");
        assert_eq!(parse_guest_packet(&b, 3).unwrap().1, b"hello");
        // Length larger than what the buffers hold.
        assert_eq!(parse_guest_packet(&b[..46], 3), Err(PacketError::Length(5)));
        // Spoofed source CID; destination not the host; datagram type; short.
        assert!(matches!(
            parse_guest_packet(&b, 4),
            Err(PacketError::Address(3, 2))
        ));
        let mut h2 = h;
        h2.dst_cid = 7;
        assert!(parse_guest_packet(&pkt(h2, b"hello"), 3).is_err());
        h2 = h;
        h2.type_ = 3;
        assert_eq!(
            parse_guest_packet(&pkt(h2, b"hello"), 3),
            Err(PacketError::Type(3))
        );
        assert_eq!(parse_guest_packet(&b[..10], 3), Err(PacketError::Short));
        h2 = h;
        h2.len = u32::MAX;
        assert_eq!(
            parse_guest_packet(&pkt(h2, b""), 3),
            Err(PacketError::Length(u32::MAX))
        );
    }
}
