//! PortForward over the stream server's WebSocket (Kubernetes' port-forward protocol as
//! kubelet serves it): for the i-th port asked for, channel 2i carries the connection's
//! bytes both ways and channel 2i+1 its errors; the first message on each channel is the
//! port, two bytes little-endian. The connection to the port is made from inside the pod's
//! network namespace (a thread that enters it, connects, and ends), so `localhost:PORT` is
//! the pod's.

use crate::stream::{frame, Ws};
use futures_util::{SinkExt, StreamExt};
use std::os::fd::AsRawFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Connects to `127.0.0.1:port` in the network namespace at `netns`.
fn connect_in(netns: &str, port: u16) -> std::io::Result<std::net::TcpStream> {
    let netns = netns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&netns)?;
        strata_os::process::setns(f.as_raw_fd(), libc::CLONE_NEWNET)?;
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .join()
    .map_err(|_| std::io::Error::other("the connecting thread failed"))?
}

/// Serves one port-forward session (one connection per port) until the client goes.
pub async fn run(ws: Ws, netns: &str, ports: &[u16]) -> Result<(), String> {
    let (mut tx, mut rx) = ws.split();
    let port = *ports.first().ok_or("no port asked for")?;
    for ch in [0u8, 1] {
        let _ = tx
            .send(Message::Binary(frame(ch, &port.to_le_bytes())))
            .await;
    }
    let conn = match connect_in(netns, port) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("port {port}: {e} [layer: network]");
            let _ = tx.send(Message::Binary(frame(1, msg.as_bytes()))).await;
            let _ = tx.send(Message::Close(None)).await;
            return Err(msg);
        }
    };
    conn.set_nonblocking(true).map_err(|e| e.to_string())?;
    let conn = tokio::net::TcpStream::from_std(conn).map_err(|e| e.to_string())?;
    let (mut r, mut w) = conn.into_split();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            n = r.read(&mut buf) => {
                let n = match n {
                    Ok(n) if n > 0 => n,
                    _ => break,
                };
                if tx.send(Message::Binary(frame(0, &buf[..n]))).await.is_err() {
                    break;
                }
            }
            m = rx.next() => {
                let data = match m {
                    Some(Ok(Message::Binary(b))) if b.first() == Some(&0) => b,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => continue,
                };
                if w.write_all(&data[1..]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    Ok(())
}
