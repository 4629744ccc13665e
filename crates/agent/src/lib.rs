//! The agent protocol between a VM pod's host side and `strata-agent` in its guest: frames
//! of a 4-byte big-endian length and a JSON message, over one virtio-serial port. Each
//! [`Request`] carries a tag the host chose; the guest serves requests concurrently (a
//! running container's output, an exec's, a kill) and every [`Reply`] carries the tag of
//! the request it answers, the last one of a request being [`Reply::ends`]. Everything the
//! guest sends is untrusted by the host: frame sizes are bounded here, and the host checks
//! every reply against what it asked.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// The virtio-serial port's name (`/sys/class/virtio-ports/*/name`).
pub const PORT_NAME: &str = "strata.agent";

/// The virtio-fs tag of a VM's shared directory (its containers' volumes).
pub const SHARED_TAG: &str = "strata";

/// Where the guest mounts that directory; a volume's bind mount in a spec sent to the guest
/// has its source below it.
pub const SHARED_GUEST_DIR: &str = "/run/strata-shared";

/// The spec annotation by which the host tells the guest where a container's devices are:
/// a JSON object from each device's path in the container to `serial:NAME` (a virtio disk of
/// the VM), `scsi:NAME` (a SCSI disk of the VM, by its VPD serial) or a path under the
/// guest's /dev (the guest kernel's own node).
pub const DEVICES_ANNOTATION: &str = "org.strata.vm.devices";

/// Where the guest's initramfs carries strata-pause, the minimal init of `--init`: a VM
/// container's spec binds this guest path (not a host file) into the container.
pub const GUEST_INIT: &str = "/lib/strata/init";

/// Whether an OCI spec's mount is `--init`'s bind of [`GUEST_INIT`], which the guest has and
/// the host neither shares nor sends.
pub fn is_guest_init(m: &serde_json::Value) -> bool {
    is_bind_mount(m) && m["source"] == GUEST_INIT
}

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// What the host asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Who the guest is: answered by [`Reply::Hello`].
    Hello,
    /// Runs a program in the guest: [`Reply::Output`]s, then [`Reply::Exit`].
    Exec {
        /// Program and arguments.
        args: Vec<String>,
    },
    /// Runs a container to its end: its image's layers (read-only block devices, each named
    /// by its virtio serial or `scsi:` and its SCSI serial, the lowest first) joined by an
    /// overlay with a writable layer in guest memory, and the OCI runtime on `spec` (its
    /// `root.path` is replaced).
    /// [`Reply::Output`]s, then [`Reply::Exit`].
    RunContainer {
        /// Container id (`[A-Za-z0-9_.-]`, at most 64).
        id: String,
        /// The OCI runtime spec (config.json).
        spec: serde_json::Value,
        /// The layer disks (`SERIAL` or `scsi:SERIAL`), lowest first.
        layers: Vec<String>,
        /// The content (base64) of the host files the spec bind-mounts (the engine's
        /// `/etc/hosts`, `resolv.conf`, `hostname`), by mount destination: the guest has
        /// no such files of its own.
        #[serde(default)]
        files: std::collections::BTreeMap<String, String>,
        /// Whether input follows ([`Request::Input`] under the container's id).
        #[serde(default)]
        stdin: bool,
        /// Whether its process has a terminal (a pty in the guest; its output comes as
        /// stream 1, and [`Request::Resize`] under the container's id sizes it).
        #[serde(default)]
        tty: bool,
        /// The terminal's first size (rows, columns), if the host knows it.
        #[serde(default)]
        size: Option<(u16, u16)>,
    },
    /// Runs a process in running container `id` (the OCI runtime's exec): [`Reply::Output`]s,
    /// then [`Reply::Exit`] (detached: once the process runs).
    ExecContainer {
        /// The container.
        id: String,
        /// The exec's id, chosen by the host (`[A-Za-z0-9_.-]`, at most 64): its input's.
        exec_id: String,
        /// The OCI process (config.json's `process` form).
        process: serde_json::Value,
        /// Whether input follows ([`Request::Input`]).
        stdin: bool,
        /// Whether to answer once the process runs, without waiting for it.
        detach: bool,
        /// Whether the process has a terminal (a pty in the guest; its output comes as
        /// stream 1, and [`Request::Resize`] sizes it).
        #[serde(default)]
        tty: bool,
        /// The terminal's first size (rows, columns), if the host knows it.
        #[serde(default)]
        size: Option<(u16, u16)>,
    },
    /// Resizes exec `exec_id`'s terminal: [`Reply::Done`].
    Resize {
        /// The exec.
        exec_id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Input for exec `exec_id`: bytes, or the end of its input: [`Reply::Done`].
    Input {
        /// The exec.
        exec_id: String,
        /// The bytes, base64.
        data: String,
        /// Whether this ends the input.
        eof: bool,
    },
    /// Configures the guest's network interface whose MAC is `mac` (the host's end is the
    /// pod's interface, whose address it takes): [`Reply::Done`].
    Network {
        /// The interface's MAC (`aa:bb:cc:dd:ee:ff`).
        mac: String,
        /// Its IPv4 address and prefix (`10.88.0.5/16`).
        address: String,
        /// The default gateway, if any.
        gateway: Option<String>,
        /// The MTU.
        mtu: u32,
    },
    /// Signals container `id`'s init: [`Reply::Done`].
    Kill {
        /// The container.
        id: String,
        /// The signal number.
        signal: i32,
    },
    /// Replaces, in place, the content of a file that container `id`'s
    /// [`Request::RunContainer`] brought (by its mount destination): the engine rewrote it
    /// on the host (a peer joined or left the network, for `/etc/hosts`): [`Reply::Done`].
    UpdateFile {
        /// The container.
        id: String,
        /// The file's mount destination (`/etc/hosts`).
        dest: String,
        /// The new content, base64.
        data: String,
    },
    /// Powers the guest off (answered by [`Reply::Bye`] first).
    Shutdown,
    /// Makes layer images (erofs files on the host) disks of a pod's running VM:
    /// [`Reply::Attached`]. Answered by the pod VM's shim on its proxy, never sent to a
    /// guest: it is how a pod's later containers get their layers into the VM.
    AttachLayers {
        /// The images, lowest layer first.
        files: Vec<String>,
    },
    /// Makes host block devices (`--device`) disks of a pod's running VM, each a SCSI disk
    /// on the VM's virtio-scsi controller, until the asking connection closes:
    /// [`Reply::Attached`]. Answered by the pod VM's shim on its proxy, never sent to a guest.
    AttachDevices {
        /// The devices, in order.
        devices: Vec<HostDisk>,
    },
    /// Which of these disks no file system in the guest holds any more (each opened
    /// exclusively, which a mounted disk refuses, a lazily unmounted one too):
    /// [`Reply::Unused`]. A pod VM's shim asks before it puts another layer behind a disk.
    UnusedDisks {
        /// The disks (`SERIAL` or `scsi:SERIAL`).
        serials: Vec<String>,
    },
}

/// A host block device to attach to a pod's VM ([`Request::AttachDevices`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDisk {
    /// The device node on the host.
    pub path: String,
    /// Attached read-only (the device was given without `w`).
    #[serde(default)]
    pub read_only: bool,
}

/// A message and the tag of the request it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagged<T> {
    /// The request's tag.
    pub tag: u64,
    /// The message.
    #[serde(flatten)]
    pub msg: T,
}

/// What the guest answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// The guest's kernel and boot.
    Hello {
        /// `uname -r` of the guest kernel.
        kernel: String,
        /// The guest's boot id.
        boot_id: String,
        /// The agent's version.
        agent: String,
    },
    /// Output of a program (base64).
    Output {
        /// 1 stdout, 2 stderr.
        stream: u8,
        /// The bytes, base64.
        data: String,
    },
    /// A program ended.
    Exit {
        /// Its exit status (128 + the signal for a killed one).
        code: i32,
        /// Whether the OOM killer acted in a container's cgroup (its memory limit).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        oom_killed: bool,
    },
    /// The request is done (a kill sent).
    Done,
    /// The guest powers off next.
    Bye,
    /// The layers of [`Request::AttachLayers`] (as the guest finds them: `scsi:SERIAL`) or
    /// the devices of [`Request::AttachDevices`] (their SCSI serials) are these disks, in
    /// order.
    Attached {
        /// The disks, lowest layer first.
        serials: Vec<String>,
    },
    /// The disks of [`Request::UnusedDisks`] that are unused, by serial.
    Unused {
        /// Serials, a subset of those asked.
        serials: Vec<String>,
    },
    /// The request failed in the guest.
    Error {
        /// Why.
        message: String,
    },
}

impl Reply {
    /// Whether this is the last reply to its request.
    pub fn ends(&self) -> bool {
        !matches!(self, Reply::Output { .. })
    }
}

/// Whether an OCI spec's mount is a bind mount (its type, or a `bind`/`rbind` option): the
/// host's files that the guest gets, or leaves out.
pub fn is_bind_mount(m: &serde_json::Value) -> bool {
    m["type"] == "bind"
        || m["options"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one frame; `None` at a clean end before a frame starts.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len}-byte frame (at most {MAX_FRAME})"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("a bad frame: {e}")))
}

/// Bytes as an [`Reply::Output`] carries them.
pub fn encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// An [`Reply::Output`]'s bytes; an error for bad base64.
pub fn decode(data: &str) -> io::Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_ones_are_refused() {
        let mut buf = Vec::new();
        let exec = Tagged {
            tag: 7,
            msg: Request::Exec {
                args: vec!["uname".into(), "-r".into()],
            },
        };
        write_frame(&mut buf, &exec).unwrap();
        let exit = Tagged {
            tag: 7,
            msg: Reply::Exit {
                code: 3,
                oom_killed: false,
            },
        };
        write_frame(&mut buf, &exit).unwrap();
        assert!(String::from_utf8_lossy(&buf).contains(r#"{"tag":7,"op":"exec""#));
        let mut r = &buf[..];
        let q: Tagged<Request> = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(q, exec);
        let a: Tagged<Reply> = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(a, exit);
        assert!(a.msg.ends());
        assert!(read_frame::<Reply>(&mut r).unwrap().is_none());
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(read_frame::<Reply>(&mut &huge[..]).is_err());
        let mut junk = 5u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{nope");
        assert!(read_frame::<Reply>(&mut &junk[..]).is_err());
        assert_eq!(decode(&encode(b"\x00\xffhi")).unwrap(), b"\x00\xffhi");
        assert!(decode("!!").is_err());
    }
}
