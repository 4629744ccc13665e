//! Port-forward over WebSocket (Kubernetes' port-forward protocol as kubelet serves it):
//! for the i-th port asked for, channel 2i carries the connection's bytes both ways and
//! channel 2i+1 its errors; the first message the server sends on each channel is the
//! port, two bytes little-endian. Each port gets one connection, made inside the pod's
//! network namespace when the session starts; the session lasts until the client goes or
//! every connection has ended.

use super::pod_port;
use super::websocket::{frame, Ws};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Serves one port-forward session until the client goes.
pub async fn run(ws: Ws, netns: &str, ports: &[u16]) -> Result<(), String> {
    let (mut tx, mut rx) = ws.split();
    if ports.is_empty() || ports.len() > 64 {
        let _ = tx.send(Message::Close(None)).await;
        return Err(format!(
            "{} ports asked for (1 to 64 are served)",
            ports.len()
        ));
    }
    // Every connection's bytes, tagged with their channel, into one queue.
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = (2 * i as u8, 2 * i as u8 + 1);
        for ch in [data, error] {
            let _ = tx
                .send(Message::Binary(frame(ch, &port.to_le_bytes())))
                .await;
        }
        match pod_port::connect(netns, *port).await {
            Ok(conn) => {
                let (mut r, w) = conn.into_split();
                writers.push(Some(w));
                let out = out_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || out.send(frame(data, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(msg) => {
                writers.push(None);
                let _ = tx.send(Message::Binary(frame(error, msg.as_bytes()))).await;
            }
        }
    }
    drop(out_tx);
    loop {
        tokio::select! {
            m = out_rx.recv() => match m {
                Some(m) => {
                    if tx.send(Message::Binary(m)).await.is_err() {
                        break;
                    }
                }
                // Every connection ended.
                None => break,
            },
            m = rx.next() => match m {
                Some(Ok(Message::Binary(b))) if !b.is_empty() && b[0] % 2 == 0 => {
                    let w = writers.get_mut(usize::from(b[0] / 2)).and_then(Option::as_mut);
                    if let Some(w) = w {
                        let _ = w.write_all(&b[1..]).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    let _ = tx.send(Message::Close(None)).await;
    Ok(())
}
