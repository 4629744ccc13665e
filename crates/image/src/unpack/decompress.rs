//! Layer decompression: gzip (multi-member), zstd or none.
//!
//! Gzip members are parsed here around a raw deflate decoder, without the per-member
//! CRC-32: a layer's integrity is established by the sha256 digests of both the
//! compressed blob and the uncompressed tar (diff id), which cover every byte the CRC
//! would, so computing it only cost time.

use crate::oci::Compression;
use flate2::bufread::DeflateDecoder;
use std::io::{self, BufRead, Read};

/// Wraps a buffered compressed stream in the matching decoder.
pub fn decoder<'a, R: BufRead + Send + 'a>(
    r: R,
    c: Compression,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(Gunzip::new(r)?),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {msg}"))
}

fn byte<R: BufRead>(r: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(|_| bad("truncated header"))?;
    Ok(b[0])
}

fn skip<R: BufRead>(r: &mut R, mut n: usize) -> io::Result<()> {
    while n > 0 {
        let avail = r.fill_buf()?.len();
        if avail == 0 {
            return Err(bad("truncated"));
        }
        let k = avail.min(n);
        r.consume(k);
        n -= k;
    }
    Ok(())
}

fn skip_zero_terminated<R: BufRead>(r: &mut R) -> io::Result<()> {
    while byte(r)? != 0 {}
    Ok(())
}

/// Reads one member header (RFC 1952).
fn read_header<R: BufRead>(r: &mut R) -> io::Result<()> {
    let mut h = [0u8; 10];
    r.read_exact(&mut h).map_err(|_| bad("truncated header"))?;
    if h[0] != 0x1f || h[1] != 0x8b {
        return Err(bad("invalid header (not gzip)"));
    }
    if h[2] != 8 {
        return Err(bad("unsupported compression method"));
    }
    let flags = h[3];
    if flags & 0xe0 != 0 {
        return Err(bad("reserved header flags set"));
    }
    if flags & 0x04 != 0 {
        let n = u16::from_le_bytes([byte(r)?, byte(r)?]) as usize;
        skip(r, n)?;
    }
    if flags & 0x08 != 0 {
        skip_zero_terminated(r)?;
    }
    if flags & 0x10 != 0 {
        skip_zero_terminated(r)?;
    }
    if flags & 0x02 != 0 {
        skip(r, 2)?;
    }
    Ok(())
}

/// A multi-member gzip decoder that skips the CRC-32 (see the module doc).
pub struct Gunzip<R: BufRead> {
    inner: Option<DeflateDecoder<R>>,
}

impl<R: BufRead> Gunzip<R> {
    /// Reads the first member's header.
    pub fn new(mut r: R) -> io::Result<Self> {
        read_header(&mut r)?;
        Ok(Gunzip {
            inner: Some(DeflateDecoder::new(r)),
        })
    }
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(d) = self.inner.as_mut() else {
                return Ok(0);
            };
            let n = d.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // End of a member's deflate stream: its trailer (CRC-32, size), then maybe
            // another member.
            let mut r = self.inner.take().expect("decoder").into_inner();
            skip(&mut r, 8)?;
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            read_header(&mut r)?;
            self.inner = Some(DeflateDecoder::new(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8], name: bool) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if name {
            b = b.filename("layer.tar").comment("c").extra(vec![1, 2, 3]);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn members_headers_and_errors() {
        let a: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut two = gz(&a, true);
        two.extend(gz(b"second member", false));
        let mut out = Vec::new();
        decoder(&two[..], Compression::Gzip)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), a.len() + 13);
        assert!(out.starts_with(&a) && out.ends_with(b"second member"));
        // Not gzip, truncated, trailing garbage: errors.
        assert!(decoder(&b"plain tar"[..], Compression::Gzip).is_err());
        let one = gz(&a, false);
        let mut sink = Vec::new();
        assert!(decoder(&one[..one.len() - 20], Compression::Gzip)
            .unwrap()
            .read_to_end(&mut sink)
            .is_err());
        let mut junk = one.clone();
        junk.extend_from_slice(b"junk after the member");
        assert!(decoder(&junk[..], Compression::Gzip)
            .unwrap()
            .read_to_end(&mut sink)
            .is_err());
    }
}
