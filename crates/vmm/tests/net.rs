//! virtio-net on a TAP in a network namespace the test creates: the guest pings the host
//! side and must get the echo reply through the RX queue.

mod common;
use common::*;
use std::process::Command;

/// A network namespace with a configured TAP; deleted (with the TAP) on drop.
struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        let name = format!("svmm-test-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return None;
        }
        let ns = Netns(name);
        let script = "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; \
            sysctl -qw net.ipv6.conf.default.disable_ipv6=1; ip link set lo up && \
            ip tuntap add dev stap0 mode tap && ip link set stap0 address 02:00:00:00:00:01 && \
            ip addr add 10.77.0.1/24 dev stap0 && ip link set stap0 up && \
            ip neigh add 10.77.0.2 lladdr 52:54:00:12:34:56 dev stap0";
        let st = Command::new("ip")
            .args(["netns", "exec", &ns.0, "sh", "-c", script])
            .status()
            .unwrap();
        assert!(st.success(), "netns set-up failed");
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn guest_pings_host_through_tap() {
    if !require_kvm() {
        return;
    }
    let Some(ns) = Netns::create() else {
        require(
            false,
            "cannot create a network namespace (need root and iproute2)",
        );
        return;
    };
    let k = guest("net");
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            vmm_bin(),
            "--kernel",
            k.to_str().unwrap(),
            "--mem",
            "64",
            "--net",
            "stap0",
        ])
        .output()
        .unwrap();
    let out = ok_stdout(&o);
    assert_eq!(kvh(&out, "STATUS"), 0xf);
    // Default guest MAC 52:54:00:12:34:56 in config space.
    assert_eq!(kvh(&out, "MAC"), 0x5634_1200_5452);
    assert_eq!(kvh(&out, "TX_USED"), 1);
    assert_eq!(kvh(&out, "ICMP_TYPE"), 0, "echo reply expected:\n{out}");
    assert_eq!(
        kvh(&out, "SRC_IP"),
        u32::from_le_bytes([10, 77, 0, 1]) as u64
    );
    assert_eq!(kvh(&out, "ICMP_ID"), 0x3412);
    assert_eq!(kvh(&out, "RX_LEN"), 12 + 42);
    // The host saw the request on the TAP.
    let s = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "cat",
            "/sys/class/net/stap0/statistics/rx_packets",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&s.stdout)
            .trim()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
}

#[test]
fn missing_tap_is_a_config_error() {
    if !require_kvm() {
        return;
    }
    let k = guest("net");
    let o = run_vmm(&["--kernel", k.to_str().unwrap(), "--net", "no-such-tap0,zz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad mac zz"), "{}", stderr(&o));
}
