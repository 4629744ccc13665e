//! SPDY/3.1 frames: reading them off a byte stream and encoding them. A control frame is
//! `1 | version(15) | type(16) | flags(8) | length(24) | payload`; a data frame is
//! `0 | stream id(31) | flags(8) | length(24) | data`. Only what the Kubernetes streaming
//! protocols use is decoded; other control frames are skipped by their length.

use super::headers::{Decoder, Encoder, Headers};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version in control frames.
const VERSION: u16 = 3;
/// FLAG_FIN: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// The largest frame payload read: data frames of remote-command clients are 32 KiB or
/// less, and kubelet's peer (spdystream) writes no larger ones.
const MAX_PAYLOAD: usize = 1 << 20;
/// RST_STREAM statuses.
pub const PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM: the stream is refused (unknown kind, or not expected).
pub const REFUSED_STREAM: u32 = 3;

/// One frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A peer opens a stream.
    SynStream {
        /// The stream.
        id: u32,
        /// Its headers.
        headers: Headers,
        /// It sends nothing more.
        fin: bool,
    },
    /// The answer to a stream's opening.
    SynReply {
        /// The stream.
        id: u32,
        /// The last frame of the stream from this side.
        fin: bool,
    },
    /// A stream ends abnormally.
    RstStream {
        /// The stream.
        id: u32,
        /// Why.
        status: u32,
    },
    /// Connection settings (their content is not used here).
    Settings,
    /// A ping, echoed when the peer sent it.
    Ping(u32),
    /// The peer closes the connection.
    GoAway,
    /// More headers on a stream.
    Headers {
        /// The stream.
        id: u32,
        /// The last frame of the stream from this side.
        fin: bool,
    },
    /// The peer can take `delta` more bytes on stream `id` (0: the whole connection).
    WindowUpdate {
        /// The stream, or 0.
        id: u32,
        /// Bytes.
        delta: u32,
    },
    /// Bytes on a stream.
    Data {
        /// The stream.
        id: u32,
        /// The bytes.
        data: Vec<u8>,
        /// The last frame of the stream from its sender.
        fin: bool,
    },
    /// A control frame of a kind not used here.
    Other(u16),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn short(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("spdy: short {what} frame"),
    )
}

/// Reads one frame; `None` at a clean end of the connection.
pub async fn read<R: AsyncRead + Unpin>(
    r: &mut R,
    codec: &mut Decoder,
) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = head[4];
    let len = (be32(&head[4..8]) & 0x00ff_ffff) as usize;
    if len > MAX_PAYLOAD {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("spdy: a {len}-byte frame is larger than {MAX_PAYLOAD}"),
        ));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p).await?;
    let fin = flags & FLAG_FIN != 0;
    if head[0] & 0x80 == 0 {
        let id = be32(&head[0..4]) & 0x7fff_ffff;
        return Ok(Some(Frame::Data { id, data: p, fin }));
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != VERSION {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("spdy: version {version} frames (3 is spoken here)"),
        ));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let sid = |min: usize, what: &str| -> std::io::Result<u32> {
        if p.len() < min {
            return Err(short(what));
        }
        Ok(be32(&p) & 0x7fff_ffff)
    };
    Ok(Some(match kind {
        1 => {
            let id = sid(10, "SYN_STREAM")?;
            let headers = codec
                .decode(&p[10..])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            Frame::SynStream { id, headers, fin }
        }
        2 => Frame::SynReply {
            id: sid(4, "SYN_REPLY")?,
            fin,
        },
        3 => {
            let id = sid(8, "RST_STREAM")?;
            Frame::RstStream {
                id,
                status: be32(&p[4..]),
            }
        }
        4 => Frame::Settings,
        6 => {
            if p.len() < 4 {
                return Err(short("PING"));
            }
            Frame::Ping(be32(&p))
        }
        7 => Frame::GoAway,
        8 => Frame::Headers {
            id: sid(4, "HEADERS")?,
            fin,
        },
        9 => {
            let id = sid(8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                id,
                delta: be32(&p[4..]) & 0x7fff_ffff,
            }
        }
        k => Frame::Other(k),
    }))
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// SYN_REPLY accepting stream `id`. Kubernetes' peers read no reply headers; the HTTP
/// layering of SPDY/3 (and so general SPDY clients) wants `:status` and `:version`.
pub fn syn_reply(id: u32, codec: &mut Encoder) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    let headers = [
        (":status".to_string(), "200".to_string()),
        (":version".to_string(), "HTTP/1.1".to_string()),
    ];
    p.extend_from_slice(&codec.encode(&headers));
    control(2, 0, &p)
}

/// SYN_STREAM opening stream `id` (a client's frame; the tests' peer uses it).
pub fn syn_stream(id: u32, headers: &[(String, String)], codec: &mut Encoder) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&codec.encode(headers));
    control(1, 0, &p)
}

/// RST_STREAM of stream `id`.
pub fn rst_stream(id: u32, status: u32) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&status.to_be_bytes());
    control(3, 0, &p)
}

/// PING answering the peer's.
pub fn ping(id: u32) -> Vec<u8> {
    control(6, 0, &id.to_be_bytes())
}

/// GOAWAY: no stream after `last` was accepted; status OK.
pub fn goaway(last: u32) -> Vec<u8> {
    let mut p = last.to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    control(7, 0, &p)
}

/// WINDOW_UPDATE: `delta` more bytes may come on stream `id` (0: the connection).
pub fn window_update(id: u32, delta: u32) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&delta.to_be_bytes());
    control(9, 0, &p)
}

/// A data frame; `fin` ends the stream from this side.
pub fn data(id: u32, bytes: &[u8], fin: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + bytes.len());
    f.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
    let flags = if fin { FLAG_FIN } else { 0 };
    f.extend_from_slice(&((u32::from(flags) << 24) | bytes.len() as u32).to_be_bytes());
    f.extend_from_slice(bytes);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(bytes: &[u8], codec: &mut Decoder) -> std::io::Result<Option<Frame>> {
        let mut r = bytes;
        read(&mut r, codec).await
    }

    #[tokio::test]
    async fn frames_written_read_back() {
        let (mut tx, mut rx) = (Encoder::default(), Decoder::default());
        let h = vec![("streamtype".to_string(), "error".to_string())];
        assert_eq!(
            one(&syn_stream(1, &h, &mut tx), &mut rx).await.unwrap(),
            Some(Frame::SynStream {
                id: 1,
                headers: h,
                fin: false
            })
        );
        assert_eq!(
            one(&data(3, b"hi", true), &mut rx).await.unwrap(),
            Some(Frame::Data {
                id: 3,
                data: b"hi".to_vec(),
                fin: true
            })
        );
        assert_eq!(
            one(&window_update(0, 9), &mut rx).await.unwrap(),
            Some(Frame::WindowUpdate { id: 0, delta: 9 })
        );
        assert_eq!(one(b"", &mut rx).await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversized_short_and_foreign_version_frames_are_refused() {
        let mut c = Decoder::default();
        let big = [0, 0, 0, 1, 0, 0xff, 0xff, 0xff];
        assert!(one(&big, &mut c).await.is_err());
        let short_rst = control(3, 0, &[0, 0, 0, 1]);
        assert!(one(&short_rst, &mut c).await.is_err());
        let mut v2 = ping(1);
        v2[1] = 2;
        assert!(one(&v2, &mut c).await.is_err());
    }
}
