//! What the network tests share: an engine under a private root and run root with the test
//! image loaded, a default network of its own (a unique name, bridge and subnet, set in
//! `<root>/networks/default.json`), the `strata` CLI pointed at it, the checks that nothing
//! of a container is left (namespace, veth, lease, iptables rule), and the clean-up of
//! everything the test made, even when it fails.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use strata_testkit::{output_via_files, require, require_root, require_tools, workspace_bin};

/// Whether the prerequisites are here: root, umoci and busybox (the image), iptables and
/// ip, and the CNI plugins.
pub fn prerequisites() -> bool {
    require_root()
        && require_tools(&["umoci", "busybox", "iptables", "iptables-save", "ip"])
        && require(
            ["/usr/lib/cni/bridge", "/opt/cni/bin/bridge"]
                .iter()
                .any(|p| Path::new(p).exists()),
            "the CNI plugins (containernetworking-plugins)",
        )
}

/// The test image archive (built once per machine, beside the binaries).
pub fn image_archive() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = workspace_bin("strata").parent().unwrap().join("e2e-images");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-image.sh");
        let st = Command::new(script)
            .arg(&out)
            .status()
            .expect("run busybox-image.sh");
        assert!(st.success(), "busybox-image.sh failed");
        out.join("busybox.oci.tar")
    })
    .clone()
}

/// The test image's name once loaded.
pub const IMAGE: &str = "localhost/busybox";

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u32::from_ne_bytes(b)
}

/// Subnets handed out in this process (no two fixtures get the same one).
static GIVEN: Mutex<Vec<(u8, u8)>> = Mutex::new(Vec::new());

/// A /24 in 10.200.0.0-10.249.255.0 that no host route covers and no other fixture of
/// this process has; its bridge name is unique too.
pub fn fresh_subnet() -> (String, String) {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let mut given = GIVEN.lock().unwrap();
    loop {
        let r = random_u32();
        let (b, c) = (200 + (r % 50) as u8, (r >> 8) as u8);
        // /proc/net/route prints destinations as native-endian hex words.
        let word = format!("{:08X}", u32::from_ne_bytes([10, b, c, 0]));
        if given.contains(&(b, c)) || routes.contains(&word) {
            continue;
        }
        given.push((b, c));
        return (
            format!("10.{b}.{c}.0/24"),
            format!("stt{:08x}", random_u32()),
        );
    }
}

/// Fixtures alive in this process (the last one out removes portmap's shared chains if
/// this process made them).
static ALIVE: AtomicUsize = AtomicUsize::new(0);
static CHAINS_BEFORE: OnceLock<bool> = OnceLock::new();
static FORWARD_BEFORE: OnceLock<String> = OnceLock::new();

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// An engine with its own roots and default network.
pub struct Engine {
    pub dir: tempfile::TempDir,
    /// The default network's name, bridge and subnet.
    pub net: String,
    pub bridge: String,
    pub subnet: String,
    /// Bridges of networks the test created (removed at drop if still there).
    pub bridges: Mutex<Vec<String>>,
    /// A plugin directory of the test's own (see `fake_portmap`).
    pub cni_path: Mutex<Option<PathBuf>>,
    /// The cgroup its containers go under (`STRATA_CGROUP_ROOT`), removed at drop.
    pub cgroup_root: String,
}

impl Engine {
    /// A fresh engine with the test image loaded.
    pub fn new() -> Engine {
        CHAINS_BEFORE.get_or_init(|| nat_rules().contains(":CNI-HOSTPORT-DNAT"));
        FORWARD_BEFORE.get_or_init(|| std::fs::read_to_string(IP_FORWARD).unwrap_or_default());
        ALIVE.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("strata-net")
            .tempdir()
            .unwrap();
        let (subnet, bridge) = fresh_subnet();
        let net = format!("t{}", &bridge[3..]);
        let e = Engine {
            cgroup_root: strata_testkit::cgroups::test_root(dir.path()),
            dir,
            net,
            bridge: bridge.clone(),
            subnet,
            bridges: Mutex::new(vec![bridge]),
            cni_path: Mutex::new(None),
        };
        std::fs::create_dir_all(e.root().join("networks")).unwrap();
        std::fs::write(
            e.root().join("networks/default.json"),
            serde_json::json!({"name": e.net, "bridge": e.bridge, "subnet": e.subnet}).to_string(),
        )
        .unwrap();
        e.ok(&["load", "-q", "-i", image_archive().to_str().unwrap()]);
        e
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// A plugin directory where `portmap`'s ADD runs `script` (sh) instead, every other
    /// plugin and command being the real one; the CLI uses it after this call.
    pub fn fake_portmap(&self, script: &str) {
        let dir = self.dir.path().join("cni");
        std::fs::create_dir_all(&dir).unwrap();
        let real = ["/usr/lib/cni", "/opt/cni/bin"]
            .iter()
            .find(|d| Path::new(d).join("bridge").exists())
            .unwrap();
        for p in std::fs::read_dir(real).unwrap().flatten() {
            if p.file_name() != "portmap" {
                let _ = std::os::unix::fs::symlink(p.path(), dir.join(p.file_name()));
            }
        }
        let body = format!(
            "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ]; then\n{script}\nfi\nexec {real}/portmap\n"
        );
        let f = dir.join("portmap");
        std::fs::write(&f, body).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        *self.cni_path.lock().unwrap() = Some(dir);
    }

    /// The CLI with this engine's roots.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(workspace_bin("strata"));
        if let Some(p) = self.cni_path.lock().unwrap().as_ref() {
            c.env("STRATA_CNI_PATH", p);
        }
        c.env("STRATA_ROOT", self.root())
            .env("STRATA_RUNROOT", self.runroot())
            .env("STRATA_CGROUP_ROOT", &self.cgroup_root)
            .env(
                "STRATA_REGISTRIES_CONF",
                self.dir.path().join("registries.toml"),
            )
            .stdin(Stdio::null());
        c
    }

    /// Runs the CLI (output through files: a detached container keeps pipes open).
    pub fn run(&self, args: &[&str]) -> Output {
        output_via_files(self.cmd().args(args))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "strata {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs and asserts failure; returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "strata {args:?} should fail: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `pod inspect` of one pod.
    pub fn inspect_pod(&self, name: &str) -> Value {
        let out = self.ok(&["pod", "inspect", name]);
        let v: Value = serde_json::from_str(&out).unwrap();
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    }

    /// `inspect` of one container.
    pub fn inspect(&self, name: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }

    /// A detached container running `cmd` on `network` (none: the default one); its id.
    pub fn start(&self, name: &str, extra: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.ok(&args).trim().to_string()
    }

    /// Creates a user network with its own bridge and subnet; its (name, subnet).
    pub fn network(&self, name: &str) -> (String, String) {
        let (subnet, bridge) = fresh_subnet();
        self.bridges.lock().unwrap().push(bridge.clone());
        self.ok(&[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--interface-name",
            &bridge,
            name,
        ]);
        (bridge, subnet)
    }

    /// The host-side veths on a bridge.
    pub fn bridge_ports(bridge: &str) -> Vec<String> {
        std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The lease files (host-local) that name `id`.
    pub fn leases_of(&self, id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let ipam = self.root().join("networks/ipam");
        for net in std::fs::read_dir(&ipam).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(net.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if std::fs::read_to_string(f.path()).is_ok_and(|s| s.contains(id)) {
                    out.push(f.path());
                }
            }
        }
        out
    }

    /// Asserts nothing of container `id` is left: no namespace, no lease, no iptables rule
    /// naming it, and none of `veths` (its host-side interfaces while it ran).
    pub fn assert_gone(&self, id: &str, veths: &[String]) {
        let ns = self.runroot().join("netns").join(id);
        assert!(!ns.exists(), "its namespace {} is left", ns.display());
        assert_eq!(self.leases_of(id), Vec::<PathBuf>::new(), "leases left");
        // The kernel deletes a veth pair with its namespace, asynchronously.
        let t0 = Instant::now();
        for v in veths {
            while Path::new("/sys/class/net").join(v).exists() {
                assert!(t0.elapsed() < Duration::from_secs(10), "veth {v} is left");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let rules: Vec<String> = all_rules()
            .lines()
            .filter(|l| l.contains(id))
            .map(str::to_string)
            .collect();
        assert!(rules.is_empty(), "iptables rules left: {rules:?}");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        *self.cni_path.lock().unwrap() = None;
        let _ = self.run(&["rm", "-a", "-f"]);
        if let Ok(o) = self.cmd().args(["network", "ls", "-q"]).output() {
            for n in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = self.run(&["network", "rm", "-f", n]);
            }
        }
        for b in self.bridges.lock().unwrap().iter() {
            if Path::new("/sys/class/net").join(b).exists() {
                let _ = Command::new("ip").args(["link", "delete", b]).status();
            }
        }
        let netns = self.runroot().join("netns");
        for f in std::fs::read_dir(&netns).into_iter().flatten().flatten() {
            let _ = Command::new("umount").arg("-l").arg(f.path()).status();
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&netns)
            .stderr(Stdio::null())
            .status();
        strata_testkit::cgroups::remove_root(&self.cgroup_root);
        if ALIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            remove_idle_portmap_chains();
            restore_ip_forward();
        }
    }
}

/// `iptables-save` of the nat table.
pub fn nat_rules() -> String {
    let o = Command::new("iptables-save")
        .args(["-t", "nat"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `iptables-save` of every table.
pub fn all_rules() -> String {
    let o = Command::new("iptables-save")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The portmap plugin's shared chains (CNI-HOSTPORT-*) and their jumps stay after its
/// last container as the plugin never removes them; when this process made them and no
/// container's chain (CNI-DN-*) uses them any more, they are removed.
fn remove_idle_portmap_chains() {
    if *CHAINS_BEFORE.get().unwrap_or(&true) {
        return;
    }
    let nat = nat_rules();
    if !nat.contains(":CNI-HOSTPORT-DNAT") || nat.contains(":CNI-DN-") {
        return;
    }
    let ipt = |args: &[&str]| {
        let _ = Command::new("iptables")
            .arg("-w")
            .args(["-t", "nat"])
            .args(args)
            .stderr(Stdio::null())
            .status();
    };
    for l in nat.lines() {
        // `-A PREROUTING ... -j CNI-HOSTPORT-DNAT` and the like, in the built-in chains.
        if l.starts_with("-A ") && l.contains("-j CNI-HOSTPORT-") {
            let chain = l.split_whitespace().nth(1).unwrap_or("");
            if !chain.starts_with("CNI-") {
                let rule = shell_words(&l[3..]);
                let mut args = vec!["-D".to_string()];
                args.extend(rule);
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                ipt(&a);
            }
        }
    }
    for c in [
        "CNI-HOSTPORT-DNAT",
        "CNI-HOSTPORT-SETMARK",
        "CNI-HOSTPORT-MASQ",
    ] {
        ipt(&["-F", c]);
        ipt(&["-X", c]);
    }
}

/// The bridge plugin turns IPv4 forwarding on (`isGateway`); when it was off before this
/// process's first test and no bridge on the host has a port any more, it is turned off.
fn restore_ip_forward() {
    if FORWARD_BEFORE.get().map(|s| s.trim()) != Some("0") {
        return;
    }
    let busy = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .any(|l| {
            std::fs::read_dir(l.path().join("brif"))
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        });
    if !busy {
        let _ = std::fs::write(IP_FORWARD, "0");
    }
}

/// Splits an iptables-save rule into arguments (double-quoted comments kept whole).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(ch),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub use strata_testkit::http_get;

/// Another host, as far as the node can tell: a network namespace of the test's own,
/// linked to the host by a veth pair on a subnet of its own; the node's address on that
/// link is what this "host" sees of the node. Removed on drop.
pub struct OtherHost {
    /// The namespace's name (under /run/netns).
    pub ns: String,
    /// The host-side interface.
    pub link: String,
    /// The node's address as the other host sees it.
    pub node_ip: String,
}

impl OtherHost {
    /// Makes the namespace and the link.
    pub fn new() -> OtherHost {
        let (subnet, name) = fresh_subnet();
        let base = subnet.trim_end_matches(".0/24").to_string();
        let h = OtherHost {
            ns: name.clone(),
            link: format!("{name}h"),
            node_ip: format!("{base}.1"),
        };
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().unwrap();
            assert!(st.success(), "ip {args:?} failed");
        };
        ip(&["netns", "add", &h.ns]);
        ip(&[
            "link", "add", &h.link, "type", "veth", "peer", "name", "eth0", "netns", &h.ns,
        ]);
        ip(&["addr", "add", &format!("{}/24", h.node_ip), "dev", &h.link]);
        ip(&["link", "set", &h.link, "up"]);
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", h.ns.as_str(), "ip"];
            a.extend_from_slice(args);
            ip(&a);
        };
        inside(&["addr", "add", &format!("{base}.2/24"), "dev", "eth0"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        h
    }

    /// `busybox wget -qO- URL` run in the other host (its `-T` crashes busybox-static, so
    /// `timeout` bounds it); the body, if it answered.
    pub fn fetch(&self, url: &str, limit: Duration) -> Option<String> {
        let t0 = Instant::now();
        loop {
            let o = output_via_files(Command::new("ip").args([
                "netns", "exec", &self.ns, "timeout", "5", "busybox", "wget", "-q", "-O-", url,
            ]));
            if o.status.success() {
                return Some(String::from_utf8_lossy(&o.stdout).into_owned());
            }
            if t0.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "delete", &self.link])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.ns])
            .status();
    }
}
