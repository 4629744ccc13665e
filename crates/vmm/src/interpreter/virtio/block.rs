//! virtio-blk on a raw image file: read, write (unless read-only), flush, get-id. Every
//! request is parsed and checked before any I/O: header size and direction, data buffer
//! directions and sizes (multiples of 512), the sector range against the capacity, the
//! status byte's buffer, and a bound on the request's total size.

use super::{read_config_bytes, VirtioDevice, TYPE_BLOCK};
use crate::allocator::memory::GuestMemoryMmap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

/// Sector size.
pub const SECTOR: u64 = 512;
/// Feature: read-only device.
pub const F_RO: u64 = 1 << 5;
/// Feature: flush command.
pub const F_FLUSH: u64 = 1 << 9;
/// Request: read.
pub const T_IN: u32 = 0;
/// Request: write.
pub const T_OUT: u32 = 1;
/// Request: flush.
pub const T_FLUSH: u32 = 4;
/// Request: device id.
pub const T_GET_ID: u32 = 8;
/// Status: success.
pub const S_OK: u8 = 0;
/// Status: I/O error.
pub const S_IOERR: u8 = 1;
/// Status: unsupported.
pub const S_UNSUPP: u8 = 2;
/// Most descriptors in one request.
pub const MAX_DESCRIPTORS: usize = 130;
/// Largest data payload of one request.
pub const MAX_DATA: u64 = 4 << 20;
/// Length of the id string.
pub const ID_LEN: usize = 20;

/// One descriptor as the parser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    /// Guest address.
    pub addr: u64,
    /// Length.
    pub len: u32,
    /// Device-writable.
    pub write_only: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Fewer than two descriptors, or more than allowed.
    #[error("bad descriptor count {0}")]
    DescriptorCount(usize),
    /// The header is short, device-writable, or not in guest memory.
    #[error("bad request header")]
    Header,
    /// The status descriptor is missing, read-only or empty.
    #[error("bad status descriptor")]
    Status,
    /// A data buffer has the wrong direction.
    #[error("data buffer direction")]
    Direction,
    /// Data length not a multiple of 512 or too large.
    #[error("data length {0}")]
    Length(u64),
    /// The sector range is beyond the disk.
    #[error("sector {0} + {1} bytes beyond capacity")]
    Range(u64, u64),
}

/// A parsed, checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request type.
    pub kind: u32,
    /// First sector.
    pub sector: u64,
    /// Data buffers.
    pub data: Vec<Desc>,
    /// Where the status byte goes.
    pub status_addr: u64,
}

impl Request {
    /// Parses and checks a request made of `descs` against a disk of `capacity` bytes.
    pub fn parse(
        descs: &[Desc],
        mem: &GuestMemoryMmap,
        capacity: u64,
    ) -> Result<Request, RequestError> {
        if descs.len() < 2 || descs.len() > MAX_DESCRIPTORS {
            return Err(RequestError::DescriptorCount(descs.len()));
        }
        let h = descs[0];
        if h.write_only || h.len < 16 {
            return Err(RequestError::Header);
        }
        let mut hdr = [0u8; 16];
        mem.read_slice(&mut hdr, GuestAddress(h.addr))
            .map_err(|_| RequestError::Header)?;
        let kind = u32::from_le_bytes(hdr[0..4].try_into().expect("4 bytes"));
        let sector = u64::from_le_bytes(hdr[8..16].try_into().expect("8 bytes"));
        let s = descs[descs.len() - 1];
        if !s.write_only || s.len < 1 {
            return Err(RequestError::Status);
        }
        // The status address must be writable guest memory.
        mem.read_slice(&mut [0u8; 1], GuestAddress(s.addr))
            .map_err(|_| RequestError::Status)?;
        let data = descs[1..descs.len() - 1].to_vec();
        let total: u64 = data.iter().map(|d| d.len as u64).sum();
        match kind {
            T_IN | T_OUT => {
                let want_write = kind == T_IN;
                if data.iter().any(|d| d.write_only != want_write) {
                    return Err(RequestError::Direction);
                }
                if total % SECTOR != 0 || total > MAX_DATA {
                    return Err(RequestError::Length(total));
                }
                let end = sector
                    .checked_mul(SECTOR)
                    .and_then(|b| b.checked_add(total))
                    .ok_or(RequestError::Range(sector, total))?;
                if end > capacity {
                    return Err(RequestError::Range(sector, total));
                }
            }
            T_GET_ID if data.iter().any(|d| !d.write_only) => {
                return Err(RequestError::Direction);
            }
            _ => {}
        }
        Ok(Request {
            kind,
            sector,
            data,
            status_addr: s.addr,
        })
    }
}

/// The block device.
pub struct Block {
    file: File,
    capacity: u64,
    read_only: bool,
    id: [u8; ID_LEN],
    /// Completed requests per type: reads, writes, flushes, errors.
    pub counts: [u64; 4],
}

impl Block {
    /// Opens a raw image; `read_only` opens it without write access.
    pub fn open(path: &Path, read_only: bool, id: &str) -> std::io::Result<Block> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)?;
        let capacity = file.metadata()?.len() & !(SECTOR - 1);
        let mut idb = [0u8; ID_LEN];
        for (i, b) in id.bytes().take(ID_LEN).enumerate() {
            idb[i] = b;
        }
        Ok(Block {
            file,
            capacity,
            read_only,
            id: idb,
            counts: [0; 4],
        })
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn execute(&mut self, r: &Request, mem: &GuestMemoryMmap) -> (u8, u32) {
        match r.kind {
            T_IN => {
                let mut off = r.sector * SECTOR;
                let mut written = 0u32;
                for d in &r.data {
                    let mut buf = vec![0u8; d.len as usize];
                    if self.file.read_exact_at(&mut buf, off).is_err()
                        || mem.write_slice(&buf, GuestAddress(d.addr)).is_err()
                    {
                        return (S_IOERR, written);
                    }
                    off += d.len as u64;
                    written += d.len;
                }
                self.counts[0] += 1;
                (S_OK, written)
            }
            T_OUT => {
                if self.read_only {
                    return (S_IOERR, 0);
                }
                let mut off = r.sector * SECTOR;
                for d in &r.data {
                    let mut buf = vec![0u8; d.len as usize];
                    if mem.read_slice(&mut buf, GuestAddress(d.addr)).is_err()
                        || self.file.write_all_at(&buf, off).is_err()
                    {
                        return (S_IOERR, 0);
                    }
                    off += d.len as u64;
                }
                self.counts[1] += 1;
                (S_OK, 0)
            }
            T_FLUSH => {
                self.counts[2] += 1;
                if self.read_only || self.file.sync_all().is_ok() {
                    (S_OK, 0)
                } else {
                    (S_IOERR, 0)
                }
            }
            T_GET_ID => {
                let mut written = 0u32;
                let mut rest: &[u8] = &self.id;
                for d in &r.data {
                    let n = rest.len().min(d.len as usize);
                    if mem.write_slice(&rest[..n], GuestAddress(d.addr)).is_err() {
                        return (S_IOERR, written);
                    }
                    rest = &rest[n..];
                    written += n as u32;
                }
                (S_OK, written)
            }
            _ => (S_UNSUPP, 0),
        }
    }
}

/// Collects a chain's descriptors, at most `MAX_DESCRIPTORS + 1` (enough to refuse longer).
pub fn collect_chain<I: Iterator<Item = virtio_queue::desc::split::Descriptor>>(
    chain: I,
) -> Vec<Desc> {
    chain
        .take(MAX_DESCRIPTORS + 1)
        .map(|d| Desc {
            addr: d.addr().0,
            len: d.len(),
            write_only: d.is_write_only(),
        })
        .collect()
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        TYPE_BLOCK
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[256]
    }
    fn features(&self) -> u64 {
        F_FLUSH | if self.read_only { F_RO } else { 0 }
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let cfg = (self.capacity / SECTOR).to_le_bytes();
        read_config_bytes(&cfg, offset, data);
    }

    fn process_queue(&mut self, _idx: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let descs = collect_chain(chain);
            let len = match Request::parse(&descs, mem, self.capacity) {
                Ok(r) => {
                    let (status, written) = self.execute(&r, mem);
                    if status != S_OK {
                        self.counts[3] += 1;
                    }
                    let _ = mem.write_obj(status, GuestAddress(r.status_addr));
                    written + 1
                }
                Err(e) => {
                    tracing::debug!("interpreter: virtio-blk: refused request: {e}");
                    self.counts[3] += 1;
                    // Report an I/O error if there is a usable status byte.
                    match descs.last() {
                        Some(s) if s.write_only && s.len >= 1 => {
                            let ok = mem.write_obj(S_IOERR, GuestAddress(s.addr)).is_ok();
                            ok as u32
                        }
                        _ => 0,
                    }
                }
            };
            if queue.add_used(mem, head, len).is_err() {
                break;
            }
            used = true;
        }
        used
    }
}
