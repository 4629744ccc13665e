//! The control protocol on `monitor.sock`: one JSON request per line, one JSON response per
//! line. A connection may carry several requests; `wait` answers only when the container
//! has exited.

use crate::record::{ExitRecord, SOCKET};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A request to the monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// The container's state.
    State,
    /// Starts a created container (runs its process).
    Start,
    /// Sends a signal to the container's init (`all`: to every process of the container).
    Kill {
        /// Signal number.
        signal: i32,
        /// Signal every process of its cgroup, not only the init.
        #[serde(default)]
        all: bool,
    },
    /// Answers when the container has exited, with its exit record.
    Wait,
    /// Turns the connection into an attached stream (see `frame`): the container's output
    /// from now on, and with `stdin` the client's input to the container's stdin.
    Attach {
        /// Whether the client sends input.
        #[serde(default)]
        stdin: bool,
    },
    /// Sets the size of the container's terminal (or of an exec session's, `session`).
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
        /// The exec session (its pid, from the `exec` answer); none: the container's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<i32>,
    },
    /// Runs a new process in the container (through the runtime library, in a forked copy of
    /// the monitor). Unless `detach`, the connection then carries its frames as for `attach`,
    /// ending with its exit.
    Exec(ExecRequest),
    /// Closes the container's log file and opens it again at the same path (kubelet renamed
    /// it to rotate it: CRI's ReopenContainerLog). Fails if the container has no log or is
    /// not running.
    ReopenLog,
}

/// What `exec` runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExecRequest {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=value` added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    /// Working directory (else the container's).
    pub cwd: Option<String>,
    /// uid (else the container's user).
    pub uid: Option<u32>,
    /// gid.
    pub gid: Option<u32>,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
    /// Give it a terminal.
    pub tty: bool,
    /// Feed it the client's input.
    pub stdin: bool,
    /// Return once it runs.
    pub detach: bool,
    /// Capabilities added to its sets (names, `CAP_` optional).
    pub caps: Vec<String>,
}

/// The exit status docker gives an exec whose command could not be run, from the runtime's
/// error: 127 when the command is not there, 126 when it cannot be run, else 125.
pub fn exec_failure_status(runtime_error: &str) -> i32 {
    strata_runtime::container::exec::failure_status(runtime_error)
}

/// The container's status as the monitor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, its process not started yet.
    Created,
    /// Its process runs.
    Running,
    /// It has exited (the monitor is finishing up).
    Exited,
}

/// The monitor's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The container's status (state, wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The container's init pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// How it exited (state of an exited container, wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitRecord>,
}

impl Response {
    /// A success without details.
    pub fn ok() -> Self {
        Response {
            ok: true,
            ..Default::default()
        }
    }

    /// A failure.
    pub fn err(msg: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(msg.into()),
            ..Default::default()
        }
    }

    /// The error of a failed response as an `io::Error` (for callers that use `?`).
    pub fn into_result(self) -> io::Result<Response> {
        if self.ok {
            Ok(self)
        } else {
            Err(io::Error::other(
                self.error.unwrap_or_else(|| "request failed".into()),
            ))
        }
    }
}

/// Connects to the control socket of the monitor whose state directory is `dir`. The path is
/// reached through a descriptor of the directory (`/proc/self/fd/N/monitor.sock`), so a long
/// state directory never exceeds the 108 bytes a socket address holds.
pub fn connect(dir: &Path) -> io::Result<UnixStream> {
    let d = strata_os::fd::open(dir, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    UnixStream::connect(short_path(&d))
}

/// Binds the control socket in `dir` (through a descriptor of the directory, as
/// [`connect`] reaches it).
pub fn bind(dir: &Path) -> io::Result<UnixListener> {
    let d = strata_os::fd::open(dir, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let p = short_path(&d);
    let _ = std::fs::remove_file(&p);
    UnixListener::bind(p)
}

fn short_path(dir: &OwnedFd) -> PathBuf {
    strata_os::fd::fd_path(dir.as_raw_fd()).join(SOCKET)
}

/// Sends one request to the monitor whose state directory is `dir` and reads its answer
/// (waiting at most `timeout` for it, if given).
pub fn call(dir: &Path, req: &Request, timeout: Option<Duration>) -> io::Result<Response> {
    let mut s = connect(dir)?;
    s.set_read_timeout(timeout)?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "monitor closed the connection without answering",
        ));
    }
    serde_json::from_str(&answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_tagged_json() {
        let k = Request::Kill {
            signal: 15,
            all: false,
        };
        let s = serde_json::to_string(&k).unwrap();
        assert_eq!(s, r#"{"op":"kill","signal":15,"all":false}"#);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"kill","signal":9}"#).unwrap(),
            Request::Kill {
                signal: 9,
                all: false
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::Wait).unwrap(),
            r#"{"op":"wait"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::ReopenLog).unwrap(),
            r#"{"op":"reopen-log"}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Response::ok()).unwrap(),
            r#"{"ok":true}"#
        );
    }
}
