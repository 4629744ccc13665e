//! The guest's network: its loopback, and the virtio-net interface whose host end is the
//! pod's interface (a TAP that the host joins to the pod's veth), given the pod's address,
//! MTU and default route with the classic interface and route ioctls (no netlink, no `ip`
//! in the guest). The containers share this network namespace, as a pod's share its
//! infra's: the VM is the pod.

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// A parsed network request.
#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    /// The interface's MAC, lower case.
    pub mac: String,
    /// Its address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The MTU.
    pub mtu: u32,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl Config {
    /// Checks what the host asked.
    pub fn parse(mac: &str, address: &str, gateway: Option<&str>, mtu: u32) -> io::Result<Config> {
        let mac = mac.to_ascii_lowercase();
        let ok_mac = mac.len() == 17
            && mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok_mac {
            return Err(invalid(format!("network: MAC {mac:?}")));
        }
        let (ip, prefix) = address
            .split_once('/')
            .ok_or_else(|| invalid(format!("network: address {address:?} has no prefix")))?;
        let address: Ipv4Addr = ip
            .parse()
            .map_err(|_| invalid(format!("network: address {ip:?}")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| invalid(format!("network: prefix {prefix:?}")))?;
        let gateway = gateway
            .map(|g| {
                g.parse()
                    .map_err(|_| invalid(format!("network: gateway {g:?}")))
            })
            .transpose()?;
        if !(68..=65535).contains(&mtu) {
            return Err(invalid(format!("network: MTU {mtu}")));
        }
        Ok(Config {
            mac,
            address,
            prefix,
            gateway,
            mtu,
        })
    }

    /// The netmask of the prefix.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - u32::from(self.prefix)))
    }
}

/// Brings the loopback up (the kernel leaves it down).
pub fn loopback_up() -> io::Result<()> {
    let s = socket()?;
    set_flags_up(&s, "lo")
}

/// Configures the interface with `c.mac` (waiting for its driver to bind).
pub fn configure(c: &Config) -> io::Result<String> {
    let name = interface_by_mac(&c.mac, Duration::from_secs(10))?;
    let s = socket()?;
    let mut r = ifreq(&name)?;
    r.ifr_ifru.ifru_mtu = c.mtu as libc::c_int;
    ioctl(&s, libc::SIOCSIFMTU, &mut r, "set the MTU")?;
    let mut r = ifreq(&name)?;
    r.ifr_ifru.ifru_addr = sockaddr(c.address);
    ioctl(&s, libc::SIOCSIFADDR, &mut r, "set the address")?;
    let mut r = ifreq(&name)?;
    r.ifr_ifru.ifru_netmask = sockaddr(c.netmask());
    ioctl(&s, libc::SIOCSIFNETMASK, &mut r, "set the netmask")?;
    set_flags_up(&s, &name)?;
    if let Some(gw) = c.gateway {
        // SAFETY: rtentry is plain data; zero is its empty value.
        let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
        rt.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
        rt.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
        rt.rt_gateway = sockaddr(gw);
        rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        // SAFETY: a valid socket and a filled rtentry that outlives the call.
        if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCADDRT as _, &rt) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(io::Error::new(
                    e.kind(),
                    format!("network: default route via {gw}: {e}"),
                ));
            }
        }
    }
    Ok(name)
}

/// The interface whose `/sys/class/net/*/address` is `mac`.
fn interface_by_mac(mac: &str, wait: Duration) -> io::Result<String> {
    let t0 = Instant::now();
    loop {
        if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
            for e in rd.flatten() {
                let addr = std::fs::read_to_string(e.path().join("address")).unwrap_or_default();
                if addr.trim().eq_ignore_ascii_case(mac) {
                    return Ok(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        if t0.elapsed() > wait {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "network: no interface with MAC {mac} after {wait:?} (virtio_net loaded: {})",
                    Path::new("/sys/module/virtio_net").exists()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(invalid(format!("network: interface name {name:?}")));
    }
    // SAFETY: ifreq is plain data; zero is its empty value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = b as libc::c_char;
    }
    Ok(r)
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as sockaddr_in
    // by its family.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ioctl(s: &OwnedFd, req: libc::c_ulong, r: &mut libc::ifreq, what: &str) -> io::Result<()> {
    // SAFETY: a valid socket and an ifreq that outlives the call.
    if unsafe { libc::ioctl(s.as_raw_fd(), req as _, r as *mut libc::ifreq) } != 0 {
        let e = io::Error::last_os_error();
        // SAFETY: ifr_name was filled from a str shorter than IFNAMSIZ, NUL-terminated.
        let name = unsafe { CStr::from_ptr(r.ifr_name.as_ptr()) };
        return Err(io::Error::new(
            e.kind(),
            format!("network: {}: {what}: {e}", name.to_string_lossy()),
        ));
    }
    Ok(())
}

fn set_flags_up(s: &OwnedFd, name: &str) -> io::Result<()> {
    let mut r = ifreq(name)?;
    ioctl(s, libc::SIOCGIFFLAGS, &mut r, "get flags")?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    let flags = unsafe { r.ifr_ifru.ifru_flags };
    r.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(s, libc::SIOCSIFFLAGS, &mut r, "bring up")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let c =
            Config::parse("AA:bb:cc:dd:ee:01", "10.88.0.5/16", Some("10.88.0.1"), 1500).unwrap();
        assert_eq!(c.mac, "aa:bb:cc:dd:ee:01");
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 88, 0, 1)));
        for (mac, addr, gw, mtu) in [
            ("aa:bb:cc:dd:ee", "10.0.0.1/8", None, 1500),
            ("aa:bb:cc:dd:ee:zz", "10.0.0.1/8", None, 1500),
            ("aa:bb:cc:dd:ee:01", "10.0.0.1", None, 1500),
            ("aa:bb:cc:dd:ee:01", "10.0.0.1/33", None, 1500),
            ("aa:bb:cc:dd:ee:01", "10.0.0.1/0", None, 1500),
            ("aa:bb:cc:dd:ee:01", "fe80::1/64", None, 1500),
            ("aa:bb:cc:dd:ee:01", "10.0.0.1/8", Some("gw"), 1500),
            ("aa:bb:cc:dd:ee:01", "10.0.0.1/8", None, 20),
        ] {
            assert!(
                Config::parse(mac, addr, gw, mtu).is_err(),
                "{mac} {addr} {gw:?} {mtu}"
            );
        }
    }
}
