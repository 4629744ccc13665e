//! Port-forward over SPDY (`portforward.k8s.io`): for each forwarded connection the client
//! opens an `error` and a `data` stream with the same `requestID` and `port` headers. Once
//! both are open, the port is connected inside the pod's network namespace and the data
//! stream relayed both ways; a failure to connect is written on the error stream. One
//! connection carries any number of them, to any of the session's ports, until the client
//! closes it.

use super::conn::{Conn, Stream, Writer};
use super::frame;
use super::headers;
use crate::stream::pod_port;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A forwarded connection's two streams, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
}

/// The request a stream belongs to: its `requestID`, or for clients older than that header,
/// the data stream's id less two (it is opened right after its error stream).
fn request_id(s: &Stream, kind: &str) -> String {
    match headers::get(&s.headers, "requestid") {
        Some(r) => r.to_string(),
        None if kind == "data" => s.id.saturating_sub(2).to_string(),
        None => s.id.to_string(),
    }
}

/// Serves the connection until the client closes it; its forwards end with it.
pub async fn serve(mut conn: Conn, netns: String, ports: Vec<u16>) {
    let mut pairs: HashMap<String, (u16, Pair)> = HashMap::new();
    // The forwards end with the connection (the set aborts them when dropped).
    let mut forwards = tokio::task::JoinSet::new();
    while let Some(s) = conn.streams.recv().await {
        let kind = headers::get(&s.headers, "streamtype")
            .unwrap_or("")
            .to_ascii_lowercase();
        let port = headers::get(&s.headers, "port").and_then(|p| p.parse::<u16>().ok());
        let port = match port {
            Some(p) if p > 0 && (ports.is_empty() || ports.contains(&p)) => p,
            _ => {
                let _ = conn.writer.reset(s.id, frame::REFUSED_STREAM).await;
                continue;
            }
        };
        if kind != "error" && kind != "data" {
            let _ = conn.writer.reset(s.id, frame::REFUSED_STREAM).await;
            continue;
        }
        let key = request_id(&s, &kind);
        let (p, pair) = pairs.entry(key.clone()).or_insert((port, Pair::default()));
        let slot = if kind == "error" {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() || *p != port {
            let _ = conn.writer.reset(s.id, frame::PROTOCOL_ERROR).await;
            continue;
        }
        *slot = Some(s);
        if pair.error.is_some() && pair.data.is_some() {
            let (_, pair) = pairs.remove(&key).expect("just seen");
            let (error, data) = (pair.error.expect("set"), pair.data.expect("set"));
            let w = Arc::clone(&conn.writer);
            let ns = netns.clone();
            forwards.spawn(async move { forward(w, &ns, port, error, data).await });
            while forwards.try_join_next().is_some() {}
        }
    }
}

/// One forwarded connection.
async fn forward(w: Arc<Writer>, netns: &str, port: u16, error: Stream, mut data: Stream) {
    let tcp = match pod_port::connect(netns, port).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!("port-forward: {e}");
            let _ = w.data(error.id, e.as_bytes(), true).await;
            let _ = w.data(data.id, &[], true).await;
            return;
        }
    };
    let (mut r, mut tw) = tcp.into_split();
    let id = data.id;
    let w2 = Arc::clone(&w);
    // The pod's bytes to the client, then the data stream's end.
    let out = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    if w2.data(id, &buf[..n], false).await.is_err() {
                        return;
                    }
                }
                _ => break,
            }
        }
        let _ = w2.data(id, &[], true).await;
    };
    // The client's bytes to the pod, then a half-close. The forward ends when the pod's
    // side does (as containerd's and kubelet's do): a client keeps its stream open while it
    // waits for the answer.
    let to_pod = async {
        while let Some(b) = data.data.recv().await {
            if tw.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = tw.shutdown().await;
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = out => {}
        _ = to_pod => {}
    }
    let _ = w.data(error.id, &[], true).await;
}
