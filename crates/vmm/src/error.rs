//! Errors of the VMM, one variant per layer, and the process exit statuses they map to.

use std::path::PathBuf;

/// Process exit status when the guest asked for power-off or reset (i8042 reset, ACPI off).
pub const EXIT_OK: i32 = 0;
/// Generic VMM failure while running (device or KVM ioctl error).
pub const EXIT_VMM_ERROR: i32 = 1;
/// Bad configuration or input, detected before any guest code ran.
pub const EXIT_CONFIG: i32 = 2;
/// The guest triple-faulted (KVM_EXIT_SHUTDOWN).
pub const EXIT_TRIPLE_FAULT: i32 = 3;
/// KVM reported an internal error (e.g. instruction emulation failure).
pub const EXIT_KVM_INTERNAL: i32 = 4;
/// KVM failed to enter the guest (KVM_EXIT_FAIL_ENTRY) or an exit the VMM cannot handle.
pub const EXIT_UNHANDLED: i32 = 5;
/// The guest reported a panic (pvpanic-style port write).
pub const EXIT_GUEST_PANIC: i32 = 6;
/// The VMM itself panicked.
pub const EXIT_VMM_PANIC: i32 = 70;

/// Everything that can go wrong in the VMM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// The configuration file cannot be read or parsed.
    #[error("config {path}: {msg}")]
    ConfigFile {
        /// File path.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// /dev/kvm cannot be opened or used.
    #[error("kvm {path}: {msg}")]
    Kvm {
        /// Device path.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// A KVM ioctl on the VM or a vCPU failed.
    #[error("kvm: {what}: {source}")]
    KvmIoctl {
        /// The operation.
        what: &'static str,
        /// The underlying errno.
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be set up.
    #[error("allocator: guest memory: {0}")]
    Memory(String),
    /// The kernel image or initrd could not be loaded.
    #[error("boot {path}: {msg}")]
    Boot {
        /// Kernel or initrd path.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// Boot structures (zero page, page tables, ACPI) could not be written.
    #[error("boot: {0}")]
    BootSetup(String),
    /// A device failed.
    #[error("interpreter: {0}")]
    Device(String),
    /// A vCPU stopped in a way the guest cannot recover from.
    #[error("dispatcher: vcpu {vcpu}: {kind}")]
    Vcpu {
        /// vCPU index.
        vcpu: usize,
        /// What happened.
        kind: VcpuFailure,
    },
    /// A thread's seccomp filter could not be installed (the thread did not run).
    #[error("security: {0}")]
    Seccomp(String),
    /// I/O error with context.
    #[error("{ctx}: {source}")]
    Io {
        /// What was being done.
        ctx: String,
        /// Source error.
        source: std::io::Error,
    },
}

/// The ways a vCPU can stop abnormally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuFailure {
    /// KVM_EXIT_SHUTDOWN: the guest triple-faulted.
    TripleFault,
    /// KVM_EXIT_INTERNAL_ERROR with its suberror and data.
    KvmInternal {
        /// KVM suberror code (1 = emulation failure).
        suberror: u32,
        /// Extra data words reported by KVM.
        data: Vec<u64>,
        /// Guest RIP when it stopped.
        rip: u64,
    },
    /// KVM_EXIT_FAIL_ENTRY.
    FailEntry(u64),
    /// An exit reason the VMM does not handle.
    Unhandled(String),
    /// The guest signalled a panic.
    GuestPanic(u8),
}

impl std::fmt::Display for VcpuFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VcpuFailure::TripleFault => write!(f, "triple fault (kvm exit shutdown)"),
            VcpuFailure::KvmInternal {
                suberror,
                data,
                rip,
            } => {
                let what = match suberror {
                    1 => "instruction emulation failure",
                    2 => "simultaneous exception",
                    3 => "delivery event",
                    4 => "unexpected exit reason",
                    _ => "unknown suberror",
                };
                write!(
                    f,
                    "kvm internal error: {what} (suberror {suberror}) at rip {rip:#x}"
                )?;
                if !data.is_empty() {
                    let d: Vec<String> = data.iter().map(|v| format!("{v:#x}")).collect();
                    write!(f, " data [{}]", d.join(" "))?;
                }
                Ok(())
            }
            VcpuFailure::FailEntry(r) => write!(f, "kvm failed to enter guest (reason {r:#x})"),
            VcpuFailure::Unhandled(s) => write!(f, "unhandled exit: {s}"),
            VcpuFailure::GuestPanic(c) => write!(f, "guest panic (code {c:#x})"),
        }
    }
}

impl Error {
    /// The process exit status that reports this error.
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::Config(_)
            | Error::ConfigFile { .. }
            | Error::Boot { .. }
            | Error::Kvm { .. } => EXIT_CONFIG,
            Error::Vcpu { kind, .. } => match kind {
                VcpuFailure::TripleFault => EXIT_TRIPLE_FAULT,
                VcpuFailure::KvmInternal { .. } => EXIT_KVM_INTERNAL,
                VcpuFailure::GuestPanic(_) => EXIT_GUEST_PANIC,
                VcpuFailure::FailEntry(_) | VcpuFailure::Unhandled(_) => EXIT_UNHANDLED,
            },
            Error::Memory(_) => EXIT_CONFIG,
            _ => EXIT_VMM_ERROR,
        }
    }

    /// Wraps an I/O error with context.
    pub fn io(ctx: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            ctx: ctx.into(),
            source,
        }
    }

    /// Wraps a KVM ioctl error.
    pub fn kvm(what: &'static str, source: kvm_ioctls::Error) -> Self {
        Error::KvmIoctl { what, source }
    }
}

/// Result alias for the VMM.
pub type Result<T> = std::result::Result<T, Error>;
