//! Remote-command over WebSocket (`v5.channel.k8s.io`, also `v4.channel.k8s.io`): each
//! binary message starts with its channel, 0 stdin, 1 stdout, 2 stderr, 3 the error channel
//! (the final status as a JSON `Status`, with the exit code as a cause), 4 terminal resizes
//! (`{"Width":..,"Height":..}`); v5 adds 255, a channel's close (`[255, 0]`: stdin ended).

use super::process::{parse_size, Input, Remote};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A server-side WebSocket of the stream server.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The error channel.
const ERROR: u8 = 3;
/// The resize channel.
const RESIZE: u8 = 4;
/// v5's close message.
const CLOSE: u8 = 255;

/// A remote-command message: its channel, then the bytes.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    v
}

/// A WebSocket client of a remote-command session.
pub struct WsRemote {
    tx: SplitSink<Ws, Message>,
    rx: SplitStream<Ws>,
    v5: bool,
}

impl WsRemote {
    /// Wraps an accepted WebSocket; `v5` when that protocol was agreed.
    pub fn new(ws: Ws, v5: bool) -> WsRemote {
        let (tx, rx) = ws.split();
        WsRemote { tx, rx, v5 }
    }
}

impl Remote for WsRemote {
    async fn output(&mut self, channel: u8, data: &[u8]) -> bool {
        self.tx
            .send(Message::Binary(frame(channel, data)))
            .await
            .is_ok()
    }

    async fn input(&mut self) -> Input {
        loop {
            match self.rx.next().await {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    0 => return Input::Stdin(b[1..].to_vec()),
                    RESIZE => {
                        let size = serde_json::from_slice(&b[1..]).ok();
                        if let Some(i) = size.as_ref().and_then(parse_size) {
                            return i;
                        }
                    }
                    CLOSE if self.v5 && b.get(1) == Some(&0) => return Input::StdinEnd,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Input::Gone,
                _ => {}
            }
        }
    }

    async fn finish(mut self, status: String) {
        let _ = self
            .tx
            .send(Message::Binary(frame(ERROR, status.as_bytes())))
            .await;
        let _ = self.tx.send(Message::Close(None)).await;
    }
}
