//! A remote-command session, whatever carries it: the process (a new one for Exec, the
//! container's own for Attach) runs as a session of the container's monitor, as `strata
//! exec` does; its output goes to the client, the client's input and terminal resizes go
//! to it, and its end becomes the error channel's status. WebSocket and SPDY each provide a
//! [`Remote`].

use super::Session;
use std::future::Future;
use std::io::Write;
use std::time::Duration;
use strata_monitor::protocol::{ExecRequest, Request};

/// What the client sent.
pub enum Input {
    /// Bytes for the process's stdin.
    Stdin(Vec<u8>),
    /// The client's stdin ended.
    StdinEnd,
    /// The client's terminal has a new size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// The client went away.
    Gone,
}

/// Stdout's channel number in the remote-command protocol.
pub const STDOUT: u8 = 1;
/// Stderr's.
pub const STDERR: u8 = 2;

/// One client connection carrying a remote-command session.
pub trait Remote: Send {
    /// Sends output of `channel` ([`STDOUT`] or [`STDERR`]); false once the client is gone.
    fn output(&mut self, channel: u8, data: &[u8]) -> impl Future<Output = bool> + Send;
    /// The client's next input (cancel-safe: it is raced against the process's output).
    fn input(&mut self) -> impl Future<Output = Input> + Send;
    /// Sends the final status (a JSON `Status`) and ends the session.
    fn finish(self, status: String) -> impl Future<Output = ()> + Send;
}

/// A terminal size as the remote-command protocol sends it (`{"Width":w,"Height":h}`).
pub fn parse_size(v: &serde_json::Value) -> Option<Input> {
    let w = v["Width"].as_u64()?;
    let h = v["Height"].as_u64()?;
    Some(Input::Resize {
        width: w.min(u16::MAX as u64) as u16,
        height: h.min(u16::MAX as u64) as u16,
    })
}

/// Runs `session` over `remote` until the process ends or the client goes.
pub async fn run<R: Remote>(mut remote: R, session: Session) -> Result<(), String> {
    let (dir, stdin_wanted) = match &session {
        Session::Exec { dir, io, .. } | Session::Attach { dir, io } => (dir.clone(), io.stdin),
        Session::PortForward { .. } => return Err("not a process session".into()),
    };
    let opened = {
        let s = session.clone();
        tokio::task::spawn_blocking(move || match s {
            Session::Exec { dir, cmd, io } => strata_monitor::attach::exec(
                &dir,
                ExecRequest {
                    args: cmd,
                    tty: io.tty,
                    stdin: io.stdin,
                    ..Default::default()
                },
            )
            .map(|(a, id)| (a, Some(id))),
            Session::Attach { dir, io } => {
                strata_monitor::attach::attach(&dir, io.stdin).map(|a| (a, None))
            }
            Session::PortForward { .. } => unreachable!("handled before"),
        })
        .await
        .map_err(|e| e.to_string())?
    };
    let (mut att, exec_id) = match opened {
        Ok(x) => x,
        Err(e) => {
            remote.finish(failure(&format!("{e}"), None)).await;
            return Err(e.to_string());
        }
    };
    // The process's output: a blocking relay into a channel drained here.
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(64);
    let input = att.input().map_err(|e| e.to_string())?;
    let mut relay = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(STDOUT, out_tx.clone());
        let mut err = ChannelWriter(STDERR, out_tx);
        att.relay(&mut out, &mut err)
    });
    // The client's input: into a pipe the monitor's input copier reads.
    let (pr, pw) = strata_os::fd::pipe().map_err(|e| e.to_string())?;
    let (pr, pw) = (std::fs::File::from(pr), std::fs::File::from(pw));
    let mut pipe_w = Some(pw);
    if stdin_wanted {
        let mut input = input;
        let mut pr = pr;
        tokio::task::spawn_blocking(move || input.copy_from(&mut pr));
    } else {
        drop(pr);
    }
    let mut client_gone = false;
    let exit = loop {
        tokio::select! {
            m = out_rx.recv() => {
                if let Some((ch, data)) = m {
                    if !remote.output(ch, &data).await {
                        break None;
                    }
                }
            }
            i = remote.input(), if !client_gone => match i {
                Input::Stdin(b) => {
                    if let Some(w) = pipe_w.as_mut() {
                        let _ = w.write_all(&b);
                    }
                }
                Input::StdinEnd => pipe_w = None,
                Input::Resize { width, height } => resize(&dir, exec_id, width, height),
                // The client went: stop relaying (a session outlives its client, as with
                // `strata exec`; its output then has nowhere to go and its relay ends).
                Input::Gone => {
                    client_gone = true;
                    break None;
                }
            },
            r = &mut relay => {
                // Whatever output is still queued goes first.
                while let Ok((ch, data)) = out_rx.try_recv() {
                    remote.output(ch, &data).await;
                }
                break r.ok().and_then(|r| r.ok()).flatten();
            }
        }
    };
    drop(pipe_w);
    let status = match &exit {
        Some(x) if x.exit_code == 0 && x.error.is_none() => {
            r#"{"metadata":{},"status":"Success"}"#.to_string()
        }
        Some(x) => failure(
            x.error.as_deref().unwrap_or(&format!(
                "command terminated with non-zero exit code: exit status {}",
                x.exit_code
            )),
            Some(x.exit_code),
        ),
        None if client_gone => return Ok(()),
        None => failure("the container's monitor went away", None),
    };
    remote.finish(status).await;
    Ok(())
}

/// The error channel's failure `Status`, with the exit code as kubectl reads it.
pub fn failure(message: &str, code: Option<i32>) -> String {
    let mut s = serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
    });
    if let Some(c) = code {
        s["reason"] = "NonZeroExitCode".into();
        s["details"] =
            serde_json::json!({"causes": [{"reason": "ExitCode", "message": c.to_string()}]});
    }
    s.to_string()
}

/// A terminal resize from the client, to the monitor.
fn resize(dir: &std::path::Path, session: Option<i32>, cols: u16, rows: u16) {
    let req = Request::Resize {
        rows,
        cols,
        session,
    };
    let _ = strata_monitor::protocol::call(dir, &req, Some(Duration::from_secs(2)));
}

/// Output of one channel, into the queue the session drains.
struct ChannelWriter(u8, tokio::sync::mpsc::Sender<(u8, Vec<u8>)>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1
            .blocking_send((self.0, buf.to_vec()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_channel_says_success_or_the_exit_code() {
        let f: serde_json::Value = serde_json::from_str(&failure("boom", Some(3))).unwrap();
        assert_eq!(f["status"], "Failure");
        assert_eq!(f["details"]["causes"][0]["message"], "3");
        let size = serde_json::json!({"Width": 100, "Height": 99999});
        assert!(matches!(
            parse_size(&size),
            Some(Input::Resize {
                width: 100,
                height: u16::MAX
            })
        ));
    }
}
