//! virtio-net on a TAP device. TX: each chain's readable buffers (a virtio_net_hdr_v1 then
//! the frame) are gathered, checked (header present, frame size bounded) and written to the
//! TAP. RX: a device thread reads frames from the TAP into a bounded pending queue and asks
//! the transport to process the RX queue, which copies each frame (with a zeroed header)
//! into the guest's writable buffers.

use super::{chain, read_config_bytes, VirtioDevice, TYPE_NET};
use crate::allocator::memory::GuestMemoryMmap;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};
use virtio_queue::Queue;

/// Feature: the device has a MAC address in config space.
pub const F_MAC: u64 = 1 << 5;
/// Size of virtio_net_hdr_v1.
pub const HDR_LEN: usize = 12;
/// Largest Ethernet frame accepted either way (no offloads: 1514 + a VLAN tag, rounded).
pub const MAX_FRAME: usize = 1536;
/// Frames kept while the guest has no RX buffers.
pub const MAX_PENDING: usize = 256;
/// RX queue index.
pub const RX: usize = 0;
/// TX queue index.
pub const TX: usize = 1;

/// Frames read from the TAP and not yet given to the guest.
pub type Pending = chain::Packets;

/// Opens TAP interface `name` (IFF_TAP | IFF_NO_PI).
pub fn open_tap(name: &str) -> std::io::Result<File> {
    if name.is_empty() || name.len() >= 16 || name.contains('\0') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags: u16 = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    // SAFETY: TUNSETIFF reads a 40-byte struct ifreq from the buffer we pass, which lives for
    // the call; the fd is the tun device we just opened.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Parses "aa:bb:cc:dd:ee:ff".
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .filter_map(|x| u8::from_str_radix(x, 16).ok())
        .collect();
    if v.len() == 6 && s.split(':').count() == 6 {
        Some([v[0], v[1], v[2], v[3], v[4], v[5]])
    } else {
        None
    }
}

/// The network device.
pub struct Net {
    tap: File,
    mac: [u8; 6],
    pending: Pending,
    /// Frames sent, frames received, frames dropped.
    pub counts: Arc<Mutex<[u64; 3]>>,
}

impl Net {
    /// A device on `tap` with guest MAC `mac`.
    pub fn new(tap: File, mac: [u8; 6]) -> Self {
        Net {
            tap,
            mac,
            pending: Arc::new(Mutex::new(VecDeque::new())),
            counts: Arc::new(Mutex::new([0; 3])),
        }
    }

    /// The pending-frame queue the RX thread fills.
    pub fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// A second handle on the TAP for the RX thread.
    pub fn tap_clone(&self) -> std::io::Result<File> {
        self.tap.try_clone()
    }

    fn transmit(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        chain::drain_tx(queue, mem, |chain| {
            let buf = chain::gather(chain, mem, HDR_LEN + MAX_FRAME);
            let mut c = self.counts.lock().expect("counts lock");
            match buf {
                Some(buf) if buf.len() > HDR_LEN + 14 => {
                    if self.tap.write_all(&buf[HDR_LEN..]).is_ok() {
                        c[0] += 1;
                    } else {
                        c[2] += 1;
                    }
                }
                _ => c[2] += 1,
            }
        })
    }

    fn receive(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        chain::fill_rx(queue, mem, &self.pending, |chain, frame| {
            let mut data = vec![0u8; HDR_LEN];
            data[10] = 1; // num_buffers
            data.extend_from_slice(&frame);
            let off = chain::scatter(chain, mem, &data);
            let mut c = self.counts.lock().expect("counts lock");
            if off == data.len() {
                c[1] += 1;
                off as u32
            } else {
                c[2] += 1; // buffers too small or bad: the frame is dropped
                0
            }
        })
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        TYPE_NET
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[256, 256]
    }
    fn features(&self) -> u64 {
        F_MAC
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.mac, offset, data);
    }
    fn process_queue(&mut self, idx: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        match idx {
            RX => self.receive(queue, mem),
            TX => self.transmit(queue, mem),
            _ => false,
        }
    }
    fn reset(&mut self) {
        self.pending.lock().expect("pending lock").clear();
    }
}

/// The RX thread body: reads frames from `tap`, queues them, and has the transport deliver
/// them; returns when `stop` is set.
pub fn rx_loop(
    mut tap: File,
    pending: Pending,
    transport: Arc<Mutex<super::mmio::MmioTransport>>,
    should_stop: impl Fn() -> bool,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        if should_stop() {
            return;
        }
        let mut pfd = libc::pollfd {
            fd: tap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r <= 0 {
            continue;
        }
        let n = match tap.read(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        if n == 0 || n > MAX_FRAME {
            continue;
        }
        {
            let mut p = pending.lock().expect("pending lock");
            if p.len() >= MAX_PENDING {
                p.pop_front();
            }
            p.push_back(buf[..n].to_vec());
        }
        transport.lock().expect("transport lock").process(RX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("52:54:00:12:34:56"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:zz"), None);
        assert_eq!(parse_mac("152:54:00:12:34:56"), None);
    }

    #[test]
    fn tap_names_are_checked() {
        assert!(open_tap("").is_err());
        assert!(open_tap("a-name-that-is-too-long").is_err());
    }
}
