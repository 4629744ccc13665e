//! The streaming server behind Exec, Attach and PortForward: the RPC answers a one-use URL
//! on this server (`http://<stream_address>/<kind>/<token>`), and the client (kubelet, or
//! crictl) opens it with an HTTP upgrade to either transport Kubernetes speaks: SPDY/3.1
//! (`spdy`, what kubectl and crictl use by default) or WebSocket (`websocket`). Over either,
//! Exec and Attach speak the remote-command protocol (`process`) and PortForward the
//! port-forward protocol.

pub mod http;
pub mod pod_port;
pub mod port_forward_ws;
pub mod process;
pub mod spdy;
pub mod websocket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// Which of a process's streams the client asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Streams {
    /// Input is sent.
    pub stdin: bool,
    /// Output is wanted.
    pub stdout: bool,
    /// Errors are wanted apart (never with a terminal).
    pub stderr: bool,
    /// A terminal.
    pub tty: bool,
}

/// What a URL was issued for.
#[derive(Clone, Debug)]
pub enum Session {
    /// A new process in the container.
    Exec {
        /// The container's monitor directory.
        dir: PathBuf,
        /// The command.
        cmd: Vec<String>,
        /// Its streams.
        io: Streams,
    },
    /// TCP connections to ports of a pod, made inside its network namespace.
    PortForward {
        /// The pod's network namespace (a path).
        netns: String,
        /// The ports asked for (SPDY clients name theirs per connection; any of these).
        ports: Vec<u16>,
    },
    /// The container's own process.
    Attach {
        /// The container's monitor directory.
        dir: PathBuf,
        /// Its streams.
        io: Streams,
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
        let token = path.split('?').next()?.rsplit('/').next()?;
        let (s, t) = self.pending.lock().ok()?.remove(token)?;
        (t.elapsed() < VALID_FOR).then_some(s)
    }

    async fn serve(self: Arc<Self>, mut conn: TcpStream) -> Result<(), String> {
        let (head, rest) = http::read_head(&mut conn).await?;
        let upgrade = head.header("upgrade").unwrap_or("").to_ascii_lowercase();
        let transport = if upgrade.contains("websocket") {
            "websocket"
        } else if upgrade.contains("spdy/3.1") {
            "spdy"
        } else {
            let msg = "a stream URL is opened with an upgrade to SPDY/3.1 or websocket";
            http::refuse(&mut conn, 400, msg).await;
            return Err(msg.into());
        };
        let Some(session) = self.take(&head.path) else {
            let msg = format!("{}: no such session (used, or expired)", head.path);
            http::refuse(&mut conn, 404, &msg).await;
            return Err(msg);
        };
        if transport == "websocket" {
            let (ws, protocol) = http::upgrade_websocket(conn, &head, rest).await?;
            return match session {
                Session::PortForward { netns, ports } => {
                    // Asked for no port in the RPC: the URL's `port=` parameters name them.
                    let ports = match ports.is_empty() {
                        true => query_ports(&head.path),
                        false => ports,
                    };
                    port_forward_ws::run(ws, &netns, &ports).await
                }
                s => {
                    let v5 = protocol.as_deref() == Some("v5.channel.k8s.io");
                    process::run(websocket::WsRemote::new(ws, v5), s).await
                }
            };
        }
        let conn = http::upgrade_spdy(conn, &head, rest, &session).await?;
        match session {
            Session::PortForward { netns, ports } => {
                spdy::port_forward::serve(conn, netns, ports).await;
                Ok(())
            }
            Session::Exec { io, .. } | Session::Attach { io, .. } => {
                let remote = spdy::exec::accept(conn, io).await?;
                process::run(remote, session).await
            }
        }
    }
}

/// The `port=N` parameters of a stream URL's query (unparsable ones left out).
fn query_ports(path: &str) -> Vec<u16> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.strip_prefix("port="))
        .filter_map(|v| v.parse().ok())
        .filter(|p| *p > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_websocket_port_forward_names_its_ports_in_the_url() {
        assert_eq!(
            super::query_ports("/portforward/tok?port=80&port=8080&x=1&port=0&port=z"),
            [80, 8080]
        );
        assert!(super::query_ports("/portforward/tok").is_empty());
    }
}
