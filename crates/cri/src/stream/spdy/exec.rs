//! Remote-command over SPDY (`v4.channel.k8s.io`): the client opens one stream per
//! channel, named by its `streamType` header: `error` always, then `stdin`, `stdout` and
//! `stderr` as the request asked for them (no `stderr` with a terminal) and `resize` with a
//! terminal. The session starts once all of them are open; stdin ends with the client's
//! FIN on its stream; resizes are a sequence of JSON sizes on theirs; the final status is
//! written on the error stream, then every stream is finished and the connection closed.

use super::conn::{Conn, Stream};
use super::frame;
use super::headers;
use crate::stream::process::{parse_size, Input, Remote, STDERR, STDOUT};
use crate::stream::Streams;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the client has to open every stream (kubelet's stream creation timeout).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a finished session waits for its client to close the connection.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A SPDY client of a remote-command session.
pub struct SpdyRemote {
    conn: Conn,
    error: u32,
    stdout: Option<u32>,
    stderr: Option<u32>,
    stdin: Option<mpsc::Receiver<Vec<u8>>>,
    resize: Option<mpsc::Receiver<Vec<u8>>>,
    resize_buf: Vec<u8>,
    pending: VecDeque<Input>,
    accepted: Vec<u32>,
}

/// Waits for the streams a session with `io` needs; unexpected ones are refused.
pub async fn accept(mut conn: Conn, io: Streams) -> Result<SpdyRemote, String> {
    let mut wanted = vec!["error"];
    if io.stdin {
        wanted.push("stdin");
    }
    if io.stdout {
        wanted.push("stdout");
    }
    if io.stderr && !io.tty {
        wanted.push("stderr");
    }
    if io.tty {
        wanted.push("resize");
    }
    let mut got: Vec<(String, Stream)> = Vec::new();
    let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
    while got.len() < wanted.len() {
        let s = tokio::time::timeout_at(deadline, conn.streams.recv())
            .await
            .map_err(|_| {
                format!(
                    "the client opened {} of the streams {wanted:?} in time",
                    got.len()
                )
            })?
            .ok_or("the client went away before opening its streams")?;
        let kind = headers::get(&s.headers, "streamtype")
            .unwrap_or("")
            .to_ascii_lowercase();
        if wanted.contains(&kind.as_str()) && !got.iter().any(|(k, _)| *k == kind) {
            got.push((kind, s));
        } else {
            let _ = conn.writer.reset(s.id, frame::REFUSED_STREAM).await;
        }
    }
    let mut take = |k: &str| {
        let i = got.iter().position(|(kind, _)| kind == k)?;
        Some(got.swap_remove(i).1)
    };
    let error = take("error").expect("waited for");
    let (stdout, stderr) = (take("stdout"), take("stderr"));
    let (stdin, resize) = (take("stdin"), take("resize"));
    let accepted = [Some(&error), stdout.as_ref(), stderr.as_ref()]
        .into_iter()
        .chain([stdin.as_ref(), resize.as_ref()])
        .flatten()
        .map(|s| s.id)
        .collect();
    Ok(SpdyRemote {
        conn,
        error: error.id,
        stdout: stdout.map(|s| s.id),
        stderr: stderr.map(|s| s.id),
        stdin: stdin.map(|s| s.data),
        resize: resize.map(|s| s.data),
        resize_buf: Vec::new(),
        pending: VecDeque::new(),
        accepted,
    })
}

/// The next message of an optional channel; never, when there is none.
async fn next(rx: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl SpdyRemote {
    /// Queues every whole JSON size in the resize buffer.
    fn parse_resizes(&mut self) {
        let mut values =
            serde_json::Deserializer::from_slice(&self.resize_buf).into_iter::<serde_json::Value>();
        let mut used = 0;
        loop {
            match values.next() {
                Some(Ok(v)) => {
                    used = values.byte_offset();
                    self.pending.extend(parse_size(&v));
                }
                Some(Err(e)) if e.is_eof() => break,
                // Not JSON: drop what was buffered.
                Some(Err(_)) => {
                    used = self.resize_buf.len();
                    break;
                }
                None => break,
            }
        }
        self.resize_buf.drain(..used);
    }
}

impl Remote for SpdyRemote {
    async fn output(&mut self, channel: u8, data: &[u8]) -> bool {
        let id = match channel {
            STDOUT => self.stdout,
            STDERR => self.stderr,
            _ => None,
        };
        match id {
            Some(id) => self.conn.writer.data(id, data, false).await.is_ok(),
            None => true,
        }
    }

    async fn input(&mut self) -> Input {
        loop {
            if let Some(i) = self.pending.pop_front() {
                return i;
            }
            tokio::select! {
                d = next(&mut self.stdin) => match d {
                    Some(b) => return Input::Stdin(b),
                    None => {
                        self.stdin = None;
                        return Input::StdinEnd;
                    }
                },
                d = next(&mut self.resize) => match d {
                    Some(b) => {
                        self.resize_buf.extend_from_slice(&b);
                        if self.resize_buf.len() > 64 * 1024 {
                            self.resize_buf.clear();
                        }
                        self.parse_resizes();
                    }
                    None => self.resize = None,
                },
                s = self.conn.streams.recv() => match s {
                    Some(extra) => {
                        let _ = self.conn.writer.reset(extra.id, frame::REFUSED_STREAM).await;
                    }
                    None => return Input::Gone,
                },
            }
        }
    }

    async fn finish(mut self, status: String) {
        let w = &self.conn.writer;
        for id in self.accepted.iter().filter(|id| **id != self.error) {
            let _ = w.data(*id, &[], true).await;
        }
        let _ = w.data(self.error, status.as_bytes(), true).await;
        w.close(self.accepted.iter().copied().max().unwrap_or(0))
            .await;
        // The client closes once it has read the status; until then (or a grace period)
        // whatever it still sends is read and dropped, not answered with a reset.
        let drain = async { while self.conn.streams.recv().await.is_some() {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resizes_split_across_frames_are_parsed_whole() {
        let (a, _b) = tokio::io::duplex(1024);
        let (r, w) = tokio::io::split(a);
        let mut remote = SpdyRemote {
            conn: Conn::start(r, w),
            error: 1,
            stdout: None,
            stderr: None,
            stdin: None,
            resize: None,
            resize_buf: br#"{"Width":80,"Height":24}{"Width":1"#.to_vec(),
            pending: VecDeque::new(),
            accepted: vec![],
        };
        remote.parse_resizes();
        assert_eq!(remote.pending.len(), 1);
        assert_eq!(remote.resize_buf, br#"{"Width":1"#);
        remote.resize_buf.extend_from_slice(br#"20,"Height":40}"#);
        remote.parse_resizes();
        assert!(matches!(
            remote.pending.back(),
            Some(Input::Resize {
                width: 120,
                height: 40
            })
        ));
        assert!(remote.resize_buf.is_empty());
    }
}
