//! Container logs in the CRI format kubelet and crictl read, as CRI-O and containerd write
//! them: one line per chunk of output, `<RFC3339Nano> <stdout|stderr> <P|F> <text>`, where
//! `F` ends a line of the program's output and `P` is a part of a line continued by the next
//! record. Rotation by size keeps `max_files` older files as `<path>.1`, `<path>.2`, ...

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Which stream a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Its name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Time stamp, nanoseconds since the epoch.
    pub time: i64,
    /// The stream.
    pub stream: Stream,
    /// Whether this record ends a line (`F`) or is a part (`P`).
    pub full: bool,
    /// The text, without the newline.
    pub text: &'a [u8],
}

/// Parses one log line (without its trailing newline); `None` if it is not a CRI record.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut it = line.splitn(4, |&c| c == b' ');
    let time = strata_os::clock::parse_rfc3339(std::str::from_utf8(it.next()?).ok()?)?;
    let stream = match it.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match it.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    Some(Record {
        time,
        stream,
        full,
        text: it.next().unwrap_or(b""),
    })
}

/// Appends records to a log file, rotating it by size.
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
    /// The records of one chunk, written with one write.
    buf: Vec<u8>,
}

impl Writer {
    /// Opens (appending, creating) the log at `path`. `max_size` 0 never rotates.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Writes a chunk of output of `stream` read at time `now` (nanoseconds): every complete
    /// line is an `F` record; a trailing part without its newline a `P` record.
    pub fn write_chunk(&mut self, stream: Stream, now: i64, chunk: &[u8]) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let ts = strata_os::clock::rfc3339_nanos(now);
        self.buf.clear();
        let mut rest = chunk;
        while !rest.is_empty() {
            let (text, full, next) = match rest.iter().position(|&c| c == b'\n') {
                Some(i) => (&rest[..i], true, &rest[i + 1..]),
                None => (rest, false, &rest[rest.len()..]),
            };
            self.buf.extend_from_slice(ts.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(stream.name().as_bytes());
            self.buf
                .extend_from_slice(if full { b" F " } else { b" P " });
            self.buf.extend_from_slice(text);
            self.buf.push(b'\n');
            rest = next;
        }
        if self.max_size > 0 && self.size > 0 && self.size + self.buf.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&self.buf)?;
        self.size += self.buf.len() as u64;
        Ok(())
    }

    /// Moves the current file to `<path>.1` (shifting older ones up to `max_files`) and
    /// starts a new one.
    pub fn rotate(&mut self) -> io::Result<()> {
        let numbered = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_files == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for i in (1..self.max_files).rev() {
                let _ = std::fs::rename(numbered(i), numbered(i + 1));
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.reopen()
    }

    /// Opens the log path again (after someone else moved the file away: CRI's
    /// ReopenContainerLog).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_parts() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.log");
        let mut w = Writer::open(&p, 0, 1).unwrap();
        w.write_chunk(Stream::Stdout, 1_000_000_000, b"one\ntwo\npar")
            .unwrap();
        w.write_chunk(Stream::Stderr, 2_000_000_000, b"tial\n")
            .unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines,
            [
                "1970-01-01T00:00:01.000000000Z stdout F one",
                "1970-01-01T00:00:01.000000000Z stdout F two",
                "1970-01-01T00:00:01.000000000Z stdout P par",
                "1970-01-01T00:00:02.000000000Z stderr F tial",
            ]
        );
        let r = parse(lines[2].as_bytes()).unwrap();
        assert_eq!(
            (r.stream, r.full, r.text, r.time),
            (Stream::Stdout, false, &b"par"[..], 1_000_000_000)
        );
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b"1970-01-01T00:00:01Z stdout F ").unwrap().text, b"");
    }

    #[test]
    fn rotation_keeps_max_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.log");
        let mut w = Writer::open(&p, 100, 2).unwrap();
        for i in 0..10 {
            w.write_chunk(Stream::Stdout, i, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 100);
        assert!(t.path().join("c.log.1").exists());
        assert!(t.path().join("c.log.2").exists());
        assert!(!t.path().join("c.log.3").exists());
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(last.ends_with("line 9\n"), "{last}");
    }
}
