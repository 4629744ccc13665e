//! Large sequential writes that bypass the page cache (`O_DIRECT`): a layer's blob and a
//! snapshot's big files. Through the page cache each byte is copied into a new cache page,
//! charged, tracked dirty and later written back by kernel threads, all on the same
//! few cores as the pull; written directly, the data goes from an aligned buffer to the
//! disk, and the blob's final fsync has only metadata left to write.
//!
//! Data is staged in a 1 MiB buffer aligned for the device; the last partial block is
//! padded and the file truncated to its real length. Filesystems that refuse `O_DIRECT`
//! (tmpfs, some overlays) or an alignment get ordinary buffered writes instead.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd};

/// Alignment of buffer addresses, lengths and file offsets (covers 512 and 4096 byte
/// logical blocks).
const ALIGN: usize = 4096;
/// Bytes staged per write.
const CAP: usize = 1 << 20;

/// Whether direct writes are wanted (`STRATA_DIRECT_IO=0` turns them off).
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("STRATA_DIRECT_IO").is_none_or(|v| v != "0"))
}

/// A file written through an aligned staging buffer, directly when possible.
pub struct DirectFile {
    file: File,
    mem: Vec<u8>,
    off: usize,
    len: usize,
    /// Bytes of real data written (the file's final length).
    total: u64,
    direct: bool,
    finished: bool,
}

impl DirectFile {
    /// Wraps `file` (open for writing, at offset 0, empty), switching it to `O_DIRECT`
    /// when enabled and supported.
    pub fn new(file: File) -> Self {
        let direct = enabled() && set_direct(&file, true).is_ok();
        let mem = vec![0u8; CAP + ALIGN];
        let off = mem.as_ptr().align_offset(ALIGN);
        DirectFile {
            file,
            mem,
            off,
            len: 0,
            total: 0,
            direct,
            finished: false,
        }
    }

    fn buf(&mut self) -> &mut [u8] {
        &mut self.mem[self.off..self.off + CAP]
    }

    /// Writes the staged bytes (`pad`: the last block, padded to the alignment).
    fn write_staged(&mut self, pad: bool) -> io::Result<()> {
        let mut n = self.len;
        if self.direct && pad && n % ALIGN != 0 {
            let end = n.next_multiple_of(ALIGN);
            let off = self.off;
            self.mem[off + n..off + end].fill(0);
            n = end;
        }
        if n == 0 {
            return Ok(());
        }
        let (off, direct) = (self.off, self.direct);
        let r = self.file.write_all(&self.mem[off..off + n]);
        match r {
            Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) => {
                // Alignment refused after all: continue buffered, from the same offset.
                set_direct(&self.file, false)?;
                self.direct = false;
                let done = self.total - self.len as u64;
                self.file.seek(io::SeekFrom::Start(done))?;
                let len = self.len;
                self.file.write_all(&self.mem[off..off + len])?;
            }
            r => r?,
        }
        self.len = 0;
        Ok(())
    }

    /// Copies everything `r` yields into the file, reading straight into the staging
    /// buffer. Returns the bytes copied.
    pub fn copy_from<R: Read>(&mut self, r: &mut R) -> io::Result<u64> {
        let mut n = 0u64;
        loop {
            let len = self.len;
            let got = r.read(&mut self.buf()[len..])?;
            if got == 0 {
                return Ok(n);
            }
            self.len += got;
            self.total += got as u64;
            n += got as u64;
            if self.len == CAP {
                self.write_staged(false)?;
            }
        }
    }

    /// Writes what is staged and sets the file's real length. No writes after this.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        let padded = self.direct && self.len % ALIGN != 0;
        self.write_staged(true)?;
        if padded {
            self.file.set_len(self.total)?;
        }
        self.finished = true;
        Ok(())
    }

    /// The file (for fsync, metadata, or to take it back after `finish`).
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// Finishes and returns the file.
    pub fn into_inner(mut self) -> io::Result<File> {
        self.finish()?;
        Ok(self.file)
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other("write after finish"));
        }
        let len = self.len;
        let n = data.len().min(CAP - len);
        self.buf()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        self.total += n as u64;
        if self.len == CAP {
            self.write_staged(false)?;
        }
        Ok(n)
    }

    /// Staged bytes stay staged until [`DirectFile::finish`] (a partial block cannot be
    /// written directly).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn set_direct<F: AsFd>(f: F, on: bool) -> io::Result<()> {
    let fd = f.as_fd().as_raw_fd();
    // SAFETY: fcntl on a descriptor borrowed for the call; failure is reported through errno.
    let fl = crate::cvt::cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let fl = if on {
        fl | libc::O_DIRECT
    } else {
        fl & !libc::O_DIRECT
    };
    // SAFETY: as above.
    crate::cvt::cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, fl) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_lengths_and_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        check_lengths(dir.path());
        // tmpfs refuses O_DIRECT: the buffered fallback.
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            check_lengths(shm.path());
        }
    }

    fn check_lengths(dir: &std::path::Path) {
        for (i, len) in [
            0usize,
            1,
            4095,
            4096,
            CAP - 1,
            CAP,
            CAP + 12345,
            3 * CAP + 7,
        ]
        .into_iter()
        .enumerate()
        {
            let data: Vec<u8> = (0..len).map(|j| (j * 31 % 251) as u8).collect();
            let p = dir.join(format!("f{i}"));
            let mut w = DirectFile::new(File::create(&p).unwrap());
            if i % 2 == 0 {
                w.write_all(&data).unwrap();
            } else {
                assert_eq!(w.copy_from(&mut &data[..]).unwrap(), len as u64);
            }
            let f = w.into_inner().unwrap();
            f.sync_all().unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), data, "length {len}");
        }
    }
}
