//! Response bodies: whole ones (JSON, text) and streamed ones fed through a channel (logs,
//! pull progress, `wait`, whose headers must go out before the container exits).

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Frame;
use hyper::{header, Response, StatusCode};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Every response's body.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A whole body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A response with a JSON document.
pub fn json(v: &serde_json::Value) -> Response<Body> {
    json_status(StatusCode::OK, v)
}

/// A response with a JSON document and `status`.
pub fn json_status(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(b))
        .expect("static headers")
}

/// An empty response with `status` (204 for most actions).
pub fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(full(Bytes::new()))
        .expect("static headers")
}

/// A streamed body: what is sent on the channel, until the sender is dropped.
pub fn channel(depth: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(depth);
    (tx, ChanBody(rx).boxed())
}

/// One JSON document and a newline: a line of docker's progress streams (pull, push, build).
pub fn json_line(v: &serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// The line a progress stream ends with on an error after its headers went out.
pub fn json_error(message: &str) -> serde_json::Value {
    serde_json::json!({"errorDetail": {"message": message}, "error": message})
}

/// A `200 application/json` response whose body is streamed.
pub fn json_stream(body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers")
}

/// A progress stream's response and the sender of its documents, one a line (unbounded:
/// progress callbacks cannot wait); the stream ends when every sender is dropped.
pub fn json_lines() -> (mpsc::UnboundedSender<serde_json::Value>, Response<Body>) {
    let (tx, body) = channel(64);
    let (ptx, mut prx) = mpsc::unbounded_channel::<serde_json::Value>();
    tokio::spawn(async move {
        while let Some(v) = prx.recv().await {
            if tx.send(json_line(&v)).await.is_err() {
                break;
            }
        }
    });
    (ptx, json_stream(body))
}

/// A body fed by a channel.
struct ChanBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed body with a file's content, read on the blocking pool.
pub fn file(mut f: std::fs::File) -> Body {
    use std::io::Read;
    let (tx, body) = channel(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    body
}
