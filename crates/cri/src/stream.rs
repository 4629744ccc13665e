//! The streaming server behind Exec and Attach: the RPC answers a one-use URL on this server
//! (`http://<stream_address>/exec/<token>`), and the client (kubelet, or crictl) opens it as
//! a WebSocket speaking Kubernetes' remote-command protocol (`v5.channel.k8s.io`, also
//! `v4.channel.k8s.io`): each binary message starts with its channel, 0 stdin, 1 stdout,
//! 2 stderr, 3 the error channel (the final status as a JSON `Status`, with the exit code
//! as a cause), 4 terminal resizes (`{"Width":..,"Height":..}`); v5 adds 255, a channel's
//! close (`[255, 0]`: stdin ended). The process runs as a session of the container's
//! monitor, as `strata exec` does. SPDY/3.1 (the older transport) and port-forward are not
//! served yet.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_monitor::protocol::{ExecRequest, Request};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as HsRequest, Response as HsResponse,
};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// What a URL was issued for.
#[derive(Clone, Debug)]
pub enum Session {
    /// A new process in the container.
    Exec {
        /// The container's monitor directory.
        dir: PathBuf,
        /// The command.
        cmd: Vec<String>,
        /// A terminal.
        tty: bool,
        /// Input is sent.
        stdin: bool,
    },
    /// TCP connections to ports of a pod, made inside its network namespace.
    PortForward {
        /// The pod's network namespace (a path).
        netns: String,
        /// The ports asked for.
        ports: Vec<u16>,
    },
    /// The container's own process.
    Attach {
        /// The container's monitor directory.
        dir: PathBuf,
        /// Input is sent.
        stdin: bool,
    },
}

/// URLs issued and not yet used, each valid for a minute (kubelet's streaming timeout).
pub struct StreamServer {
    addr: SocketAddr,
    pending: Mutex<HashMap<String, (Session, Instant)>>,
}

const VALID_FOR: Duration = Duration::from_secs(60);

impl StreamServer {
    /// Binds `address` (`host:port`, port 0 for any) and serves in the background.
    pub async fn start(address: &str) -> std::io::Result<Arc<StreamServer>> {
        let listener = TcpListener::bind(address).await?;
        let s = Arc::new(StreamServer {
            addr: listener.local_addr()?,
            pending: Mutex::new(HashMap::new()),
        });
        let me = Arc::clone(&s);
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let me = Arc::clone(&me);
                tokio::spawn(async move {
                    if let Err(e) = me.serve(conn).await {
                        tracing::debug!("stream: {e}");
                    }
                });
            }
        });
        Ok(s)
    }

    /// Registers `session`; the URL to give the client.
    pub fn issue(&self, kind: &str, session: Session) -> String {
        let token = strata_engine::ids::new_id();
        let mut p = self.pending.lock().expect("not poisoned");
        p.retain(|_, (_, t)| t.elapsed() < VALID_FOR);
        p.insert(token.clone(), (session, Instant::now()));
        format!("http://{}/{kind}/{token}", self.addr)
    }

    fn take(&self, path: &str) -> Option<Session> {
        let token = path.rsplit('/').next()?;
        let (s, t) = self.pending.lock().ok()?.remove(token)?;
        (t.elapsed() < VALID_FOR).then_some(s)
    }

    // The handshake callback's error type is tungstenite's (a whole HTTP response).
    #[allow(clippy::result_large_err)]
    async fn serve(self: Arc<Self>, conn: tokio::net::TcpStream) -> Result<(), String> {
        let mut path = String::new();
        let mut v5 = false;
        let ws =
            tokio_tungstenite::accept_hdr_async(conn, |req: &HsRequest, mut resp: HsResponse| {
                path = req.uri().path().to_string();
                let offered = req
                    .headers()
                    .get_all("Sec-WebSocket-Protocol")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
                    .collect::<Vec<_>>();
                let pick = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
                    .into_iter()
                    .find(|p| offered.iter().any(|o| o == p));
                if let Some(p) = pick {
                    v5 = p.starts_with("v5");
                    resp.headers_mut()
                        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
                }
                Ok(resp)
            })
            .await
            .map_err(|e| e.to_string())?;
        let Some(session) = self.take(&path) else {
            let (mut tx, _) = ws.split();
            let _ = tx.send(Message::Close(None)).await;
            return Err(format!("{path}: no such session (used, or expired)"));
        };
        if let Session::PortForward { netns, ports } = session {
            return crate::port_forward::run(ws, &netns, &ports).await;
        }
        run(ws, session, v5).await
    }
}

/// A server-side WebSocket of the stream server.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Bridges the WebSocket and the monitor's session until the process ends.
async fn run(ws: Ws, session: Session, v5: bool) -> Result<(), String> {
    let (dir, stdin_wanted) = match &session {
        Session::Exec { dir, stdin, .. } | Session::Attach { dir, stdin } => (dir.clone(), *stdin),
        Session::PortForward { .. } => return Err("not a process session".into()),
    };
    let opened = {
        let s = session.clone();
        tokio::task::spawn_blocking(move || match s {
            Session::Exec {
                dir,
                cmd,
                tty,
                stdin,
            } => strata_monitor::attach::exec(
                &dir,
                ExecRequest {
                    args: cmd,
                    tty,
                    stdin,
                    ..Default::default()
                },
            )
            .map(|(a, id)| (a, Some(id))),
            Session::Attach { dir, stdin } => {
                strata_monitor::attach::attach(&dir, stdin).map(|a| (a, None))
            }
            Session::PortForward { .. } => unreachable!("handled before"),
        })
        .await
        .map_err(|e| e.to_string())?
    };
    let (mut tx, mut rx) = ws.split();
    let (mut att, exec_id) = match opened {
        Ok(x) => x,
        Err(e) => {
            let status = failure(&format!("{e}"), None);
            let _ = tx.send(Message::Binary(frame(3, status.as_bytes()))).await;
            let _ = tx.send(Message::Close(None)).await;
            return Err(e.to_string());
        }
    };
    // The process's output: a blocking relay into a channel the socket drains.
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let input = att.input().map_err(|e| e.to_string())?;
    let relay = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(1, out_tx.clone());
        let mut err = ChannelWriter(2, out_tx);
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
    let mut relay = relay;
    let exit = loop {
        tokio::select! {
            m = out_rx.recv() => {
                if let Some(m) = m {
                    if tx.send(Message::Binary(m)).await.is_err() {
                        break None;
                    }
                }
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                    match b[0] {
                        0 => {
                            if let Some(w) = pipe_w.as_mut() {
                                let _ = w.write_all(&b[1..]);
                            }
                        }
                        4 => resize(&dir, exec_id, &b[1..]),
                        255 if v5 && b.get(1) == Some(&0) => pipe_w = None,
                        _ => {}
                    }
                }
                // The client went: stop relaying (a session outlives its client, as with
                // `strata exec`; its output then has nowhere to go and its relay ends).
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                _ => {}
            },
            r = &mut relay => {
                // Whatever output is still queued goes first.
                while let Ok(m) = out_rx.try_recv() {
                    let _ = tx.send(Message::Binary(m)).await;
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
        None => failure("the container's monitor went away", None),
    };
    let _ = tx.send(Message::Binary(frame(3, status.as_bytes()))).await;
    let _ = tx.send(Message::Close(None)).await;
    Ok(())
}

/// A remote-command message: its channel, then the bytes.
pub(crate) fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    v
}

/// The error channel's failure `Status`, with the exit code as kubectl reads it.
fn failure(message: &str, code: Option<i32>) -> String {
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

/// A terminal resize from the client (`{"Width":w,"Height":h}`), to the monitor.
fn resize(dir: &std::path::Path, session: Option<i32>, body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let (Some(w), Some(h)) = (v["Width"].as_u64(), v["Height"].as_u64()) else {
        return;
    };
    let req = Request::Resize {
        rows: h.min(u16::MAX as u64) as u16,
        cols: w.min(u16::MAX as u64) as u16,
        session,
    };
    let _ = strata_monitor::protocol::call(dir, &req, Some(Duration::from_secs(2)));
}

/// Output of one channel, as messages.
struct ChannelWriter(u8, tokio::sync::mpsc::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1
            .blocking_send(frame(self.0, buf))
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
        assert_eq!(frame(1, b"ab"), vec![1, b'a', b'b']);
    }
}
