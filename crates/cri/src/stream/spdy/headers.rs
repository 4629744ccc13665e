//! SPDY/3 name/value header blocks: a count, then each name and value with a 32-bit length
//! (several values of one name joined by NUL), compressed with zlib primed with the
//! protocol's dictionary. Each direction of a connection keeps one zlib stream for all of
//! its blocks, so the codec lives as long as the connection.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Header names and values of one frame, names lower-case.
pub type Headers = Vec<(String, String)>;

/// The largest header block accepted after decompression: streams here carry a handful of
/// short headers, and the bound keeps a compression bomb from growing without limit.
const MAX_BLOCK: usize = 64 * 1024;

/// Header names and values, in the order the SPDY/3 draft lists them, that prime the zlib
/// dictionary; each is stored with its 32-bit length.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: status codes, dates and common values, stored as they are.
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410\
411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved \
Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server \
Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct \
Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,\
image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,\
publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// The SPDY/3 zlib dictionary (1423 bytes).
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
}

/// One direction's header compression: the blocks this side sends.
pub struct Encoder(Compress);

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(&dictionary())
            .expect("a fresh compressor takes a dictionary");
        Encoder(deflate)
    }
}

impl Encoder {
    /// Encodes and compresses a header block (sync-flushed: the peer decodes it whole).
    pub fn encode(&mut self, headers: &[(String, String)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (n, v) in headers {
            for s in [n, v] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.0.total_in();
            self.0
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("compressing into a growing buffer");
            input = &input[(self.0.total_in() - before) as usize..];
            // Done when all input is in and the flush left spare room in the buffer.
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// The other direction: the blocks the peer sends.
#[derive(Default)]
pub struct Decoder(Option<Decompress>);

impl Decoder {
    /// Decompresses and decodes a header block.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, String> {
        let inflate = self.0.get_or_insert_with(|| Decompress::new(true));
        let mut raw = Vec::with_capacity(1024);
        let mut input = block;
        loop {
            if raw.len() == raw.capacity() {
                if raw.len() >= MAX_BLOCK {
                    return Err("header block too large".into());
                }
                raw.reserve(raw.len());
            }
            let before = inflate.total_in();
            let r = inflate.decompress_vec(input, &mut raw, FlushDecompress::Sync);
            input = &input[(inflate.total_in() - before) as usize..];
            match r {
                Ok(Status::StreamEnd) => break,
                Ok(_) if input.is_empty() && raw.len() < raw.capacity() => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    inflate
                        .set_dictionary(&dictionary())
                        .map_err(|e| format!("header block: {e}"))?;
                }
                Err(e) => return Err(format!("header block: {e}")),
            }
        }
        parse(&raw)
    }
}

/// Decodes an uncompressed header block.
fn parse(raw: &[u8]) -> Result<Headers, String> {
    let mut at = 0usize;
    let mut next = |len: usize| -> Result<&[u8], String> {
        let s = raw
            .get(at..at + len)
            .ok_or_else(|| "header block truncated".to_string())?;
        at += len;
        Ok(s)
    };
    let word = |b: &[u8]| u32::from_be_bytes(b.try_into().expect("four bytes")) as usize;
    let count = word(next(4)?);
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = word(next(4)?);
        let name = String::from_utf8_lossy(next(n)?).to_ascii_lowercase();
        let n = word(next(4)?);
        let value = String::from_utf8_lossy(next(n)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// The first value of header `name` (names are compared in lower case).
pub fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_has_the_drafts_length() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"enq=0."));
    }

    #[test]
    fn blocks_round_trip_through_one_zlib_stream_each_way() {
        let (mut a, mut b) = (Encoder::default(), Decoder::default());
        for i in 0..3 {
            let h = vec![
                ("streamtype".to_string(), "stdout".to_string()),
                ("requestid".to_string(), i.to_string()),
            ];
            let block = a.encode(&h);
            assert_eq!(b.decode(&block).unwrap(), h);
        }
        assert_eq!(get(&[("port".into(), "80".into())], "Port"), Some("80"));
    }

    #[test]
    fn a_truncated_or_bogus_block_is_an_error_not_a_panic() {
        let mut c = Decoder::default();
        assert!(c.decode(b"\x78\xbb\xde\xad\xbe\xef").is_err());
        assert!(parse(&[0, 0, 0, 2, 0, 0, 0, 9, b'a']).is_err());
    }
}
