//! Content digests (`sha256:<hex>`) and hashing readers/writers.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};

/// A validated `sha256:<64 hex>` digest. Other algorithms are refused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::invalid("digest", format!("{s:?}: only sha256 is supported")))?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(
                "digest",
                format!("{s:?}: not 64 lower-case hex digits"),
            ));
        }
        Ok(Digest(s.to_string()))
    }

    /// The digest of a byte slice.
    pub fn of(data: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(data))
    }

    /// Finalises a hasher into a digest.
    pub fn from_hasher(h: Sha256) -> Self {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    /// The full `sha256:...` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits (image ids as podman prints them).
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }

    /// Checks `data` against this digest.
    pub fn verify(&self, data: &[u8]) -> Result<()> {
        let got = Digest::of(data);
        if &got != self {
            return Err(Error::DigestMismatch {
                expected: self.0.clone(),
                actual: got.0,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads to the end (so the digest covers all bytes) and returns digest and size.
    pub fn finish(mut self) -> io::Result<(Digest, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count, self.inner))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that hashes everything read through it and copies it to a writer (the ingest file).
pub struct TeeHashReader<R, W> {
    inner: R,
    out: W,
    hasher: Sha256,
    count: u64,
}

impl<R: Read, W: Write> TeeHashReader<R, W> {
    /// Wraps a reader, copying what is read to `out`.
    pub fn new(inner: R, out: W) -> Self {
        TeeHashReader {
            inner,
            out,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Drains the reader and returns digest, size and the writer.
    pub fn finish(mut self) -> io::Result<(Digest, u64, W)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count, self.out))
    }
}

impl<R: Read, W: Write> Read for TeeHashReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.out.write_all(&buf[..n])?;
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts everything written through it (a layer tar on its way
/// to the compressor: its digest is the diff id).
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and size of what was written, and the writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Checks a computed digest and size against the expected ones.
pub fn check(
    expected: &Digest,
    expected_size: Option<u64>,
    got: &Digest,
    got_size: u64,
) -> Result<()> {
    if let Some(sz) = expected_size {
        if sz != got_size {
            return Err(Error::SizeMismatch {
                expected: sz,
                actual: got_size,
            });
        }
    }
    if expected != got {
        return Err(Error::DigestMismatch {
            expected: expected.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify() {
        let d = Digest::of(b"hello");
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(Digest::parse(d.as_str()).is_ok());
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&d.as_str().to_uppercase()).is_err());
        assert!(d.verify(b"hello").is_ok());
        assert!(d.verify(b"hellO").is_err());
    }

    #[test]
    fn hashing_reader_drains() {
        let r = HashingReader::new(&b"hello"[..]);
        let (d, n, _) = r.finish().unwrap();
        assert_eq!(n, 5);
        assert_eq!(d, Digest::of(b"hello"));
    }
}
