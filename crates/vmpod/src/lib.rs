//! VM-isolated pods (Kata's role): a pod's containers run in a microVM with its own Linux
//! kernel. This crate is the host side below the engine: the guest kernel and its modules
//! (`kernel`), the initramfs carrying `strata-agent` as init (`initramfs`), the hypervisor
//! backends (`qemu`: QEMU's microvm machine, with TCG where KVM cannot boot Linux, as on
//! PVM hosts), and the client of the agent protocol (`agent`), which checks everything the
//! guest sends; a container's devices as disks of its VM (`devices`; a pod's containers'
//! as SCSI disks attached while they run, `scsi`) and its host files followed into the
//! guest (`follow`).

pub mod agent;
pub mod assets;
pub mod devices;
pub mod erofs;
pub mod follow;
pub mod initramfs;
pub mod kernel;
mod pod_shim;
pub mod proxy;
pub mod qemu;
pub mod qmp;
pub mod scsi;
pub mod shared;
pub mod shim;
pub mod slots;
pub mod tap;
pub mod terminal;

pub use strata_agent::GUEST_INIT;

/// A VM pod layer error: one line naming the layer and the object.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Once: an error wrapping another's message already names its layer.
        match self.0.contains("[layer: ") {
            true => write!(f, "{}", self.0),
            false => write!(f, "{} [layer: vm]", self.0),
        }
    }
}

impl std::error::Error for Error {}

/// This crate's results.
pub type Result<T> = std::result::Result<T, Error>;

/// An error from an I/O failure on `what`.
pub(crate) fn io_err(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error(format!("{what}: {e}"))
}

/// Moves the calling thread into the namespace of kind `nstype` (`CLONE_NEWNET`, ...) at
/// `path` (`what` names it in errors). Threads started later follow; the shims call it while
/// they have one thread.
pub(crate) fn join_namespace(
    path: &std::path::Path,
    nstype: libc::c_int,
    what: &str,
) -> Result<()> {
    let f = std::fs::File::open(path).map_err(io_err(format!("{what} ({})", path.display())))?;
    strata_os::process::setns(std::os::fd::AsRawFd::as_raw_fd(&f), nstype)
        .map_err(io_err(format!("join {what} ({})", path.display())))
}

#[cfg(test)]
mod error_tests {
    #[test]
    fn the_layer_is_named_once() {
        let inner = super::Error("no free disk".into());
        assert_eq!(inner.to_string(), "no free disk [layer: vm]");
        let outer = super::Error(format!("container c: {inner}"));
        assert_eq!(outer.to_string(), "container c: no free disk [layer: vm]");
    }
}
