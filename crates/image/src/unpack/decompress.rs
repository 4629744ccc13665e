//! Layer decompression: gzip (multi-member), zstd or none.

use crate::oci::Compression;
use std::io::{self, BufRead, Read};

/// Wraps a buffered compressed stream in the matching decoder.
pub fn decoder<'a, R: BufRead + Send + 'a>(
    r: R,
    c: Compression,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}
