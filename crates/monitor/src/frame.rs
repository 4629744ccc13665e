//! The framing of an attached connection (after an `attach` request is answered): the
//! container's output to the client, the client's input to the container, and the exit.
//! A frame is a kind byte, a little-endian u32 length, then that many bytes.

use crate::record::ExitRecord;

/// Kinds of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client to monitor: bytes for the container's stdin.
    Stdin = 0,
    /// Monitor to client: the container's stdout (or its terminal).
    Stdout = 1,
    /// Monitor to client: the container's stderr.
    Stderr = 2,
    /// Monitor to client: the container exited (payload: its exit record as JSON); last.
    Exit = 3,
    /// Client to monitor: end of stdin (the container's stdin is closed).
    StdinEof = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Stdin,
            1 => Kind::Stdout,
            2 => Kind::Stderr,
            3 => Kind::Exit,
            5 => Kind::StdinEof,
            _ => return None,
        })
    }
}

/// The largest payload accepted.
pub const MAX: usize = 1 << 20;

/// One encoded frame.
pub fn encode(kind: Kind, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + data.len());
    v.push(kind as u8);
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// The exit frame.
pub fn exit(rec: &ExitRecord) -> Vec<u8> {
    encode(
        Kind::Exit,
        &serde_json::to_vec(rec).expect("exit record serializes"),
    )
}

/// Splits a byte stream into frames.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

/// A decoding error: the peer does not speak this framing.
#[derive(Debug, PartialEq, Eq)]
pub struct BadFrame;

impl Decoder {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<(Kind, Vec<u8>)>, BadFrame> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = Kind::from_u8(self.buf[0]).ok_or(BadFrame)?;
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX {
            return Err(BadFrame);
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        let data = self.buf[5..5 + len].to_vec();
        self.buf.drain(..5 + len);
        Ok(Some((kind, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_join() {
        let mut wire = encode(Kind::Stdout, b"hello");
        wire.extend(encode(Kind::StdinEof, b""));
        let mut d = Decoder::default();
        d.push(&wire[..3]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&wire[3..]);
        assert_eq!(d.next_frame(), Ok(Some((Kind::Stdout, b"hello".to_vec()))));
        assert_eq!(d.next_frame(), Ok(Some((Kind::StdinEof, vec![]))));
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&[9, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(BadFrame));
    }
}
