//! strata-monitor: one small process per container, the role conmon plays for podman and
//! CRI-O (DESIGN.md: "monitor per container").
//!
//! The monitor creates the container through the runtime library (in a forked copy of
//! itself: the runtime's create path needs a single-threaded caller, which the tokio-based
//! engine and CRI server are not), owns the container's stdio (pipes, or a pty), writes its
//! output to a log in the CRI format, reaps it, records its exit status, and stays behind when
//! the process that asked for the container exits or dies. Its state directory holds:
//!
//! - `monitor.sock`: the control socket ([`protocol`]): state, start, kill, wait, resize,
//!   and attach (then the connection carries [`frame`]s: output, input, the exit);
//! - `monitor.pid`: the monitor's pid and start time ([`record::MonitorPid`]);
//! - `exit.json`: the container's exit, written atomically when it ends ([`record::ExitRecord`]);
//! - `monitor.log`: the monitor's own diagnostics; `runtime.log`: the runtime's (JSON lines).
//!
//! This library is what callers share with the binary: the files, the control protocol and
//! its client, the CRI log format, and [`launch`] to start a monitor and wait until the
//! container is created.

pub mod attach;
pub mod cri_log;
pub mod frame;
pub mod launch;
pub mod protocol;
pub mod record;

pub use launch::{launch, LaunchOptions, Launched};
pub use protocol::{Request, Response};
pub use record::{ExitRecord, MonitorPid};
