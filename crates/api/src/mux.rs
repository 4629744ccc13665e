//! docker's stream multiplexing for a container without a terminal: each chunk of output
//! is prefixed by 8 bytes, the stream (1 stdout, 2 stderr), three zeros, and the chunk's
//! length (big-endian u32). A container with a terminal has one raw stream.

/// Stdout's stream number.
pub const STDOUT: u8 = 1;
/// Stderr's stream number.
pub const STDERR: u8 = 2;

/// The 8-byte header of a chunk of `len` bytes on `stream`.
pub fn header(stream: u8, len: usize) -> [u8; 8] {
    let n = (len.min(u32::MAX as usize) as u32).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// `data` framed for `stream` (or as is with a terminal: `raw`).
pub fn frame(stream: u8, data: &[u8], raw: bool) -> Vec<u8> {
    if raw {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&header(stream, data.len()));
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_headers() {
        assert_eq!(frame(STDOUT, b"hi\n", false), b"\x01\0\0\0\0\0\0\x03hi\n");
        assert_eq!(header(STDERR, 0x0102_0304), [2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(frame(STDERR, b"x", true), b"x");
    }
}
