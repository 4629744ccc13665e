//! `GET /containers/{id}/logs?stdout=1&stderr=1&follow=1&tail=N&timestamps=1&since=T`:
//! the container's CRI-format log as docker streams it (multiplexed without a terminal),
//! followed until the container stops.

use super::load;
use crate::body::{channel, Body};
use crate::error::ApiError;
use crate::mux;
use crate::query::Query;
use crate::state::Api;
use bytes::Bytes;
use hyper::{header, Response, StatusCode};
use std::io::{BufRead, BufReader, Seek};
use std::sync::Arc;
use std::time::Duration;
use strata_monitor::cri_log::{self, Stream};
use tokio::sync::mpsc::Sender;

/// What to send.
#[derive(Clone, Copy, Debug)]
struct Opts {
    stdout: bool,
    stderr: bool,
    follow: bool,
    timestamps: bool,
    tail: Option<usize>,
    since: i64,
    raw: bool,
}

/// One line of output, joined from its CRI records.
struct Line {
    time: i64,
    stream: Stream,
    text: Vec<u8>,
}

/// Reads complete records from `r` (a partial last record is read again next time).
fn read_lines(
    r: &mut BufReader<std::fs::File>,
    partial: &mut [Option<Line>; 2],
    out: &mut Vec<Line>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 || !buf.ends_with(b"\n") {
            if n > 0 {
                r.seek_relative(-(n as i64))?;
            }
            return Ok(());
        }
        buf.pop();
        let Some(rec) = cri_log::parse(&buf) else {
            continue;
        };
        let slot = &mut partial[rec.stream as usize];
        let line = slot.get_or_insert_with(|| Line {
            time: rec.time,
            stream: rec.stream,
            text: Vec::new(),
        });
        line.text.extend_from_slice(rec.text);
        if rec.full {
            line.text.push(b'\n');
            out.push(slot.take().expect("just set"));
        }
    }
}

fn send(tx: &Sender<Bytes>, l: &Line, o: &Opts) -> bool {
    let (want, stream) = match l.stream {
        Stream::Stdout => (o.stdout, mux::STDOUT),
        Stream::Stderr => (o.stderr, mux::STDERR),
    };
    if !want || l.time < o.since {
        return true;
    }
    let mut data = Vec::with_capacity(l.text.len() + 40);
    if o.timestamps {
        data.extend_from_slice(strata_os::clock::rfc3339_nanos(l.time).as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(&l.text);
    tx.blocking_send(Bytes::from(mux::frame(stream, &data, o.raw)))
        .is_ok()
}

/// Streams the log at `path` (following while `alive` says the container runs).
fn stream_log(
    path: std::path::PathBuf,
    o: Opts,
    tx: Sender<Bytes>,
    alive: impl Fn() -> bool,
) -> std::io::Result<()> {
    let mut f = None;
    let mut partial: [Option<Line>; 2] = [None, None];
    let mut first = true;
    loop {
        if f.is_none() {
            match std::fs::File::open(&path) {
                Ok(x) => f = Some(BufReader::new(x)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut lines = Vec::new();
        if let Some(r) = f.as_mut() {
            read_lines(r, &mut partial, &mut lines)?;
        }
        let skip = match (first, o.tail) {
            (true, Some(t)) => lines.len().saturating_sub(t),
            _ => 0,
        };
        if f.is_some() {
            first = false;
        }
        for l in &lines[skip..] {
            if !send(&tx, l, &o) {
                return Ok(());
            }
        }
        if !o.follow {
            return Ok(());
        }
        if !alive() {
            // One last read for what was written before the exit.
            if let Some(r) = f.as_mut() {
                let mut rest = Vec::new();
                read_lines(r, &mut partial, &mut rest)?;
                for l in &rest {
                    send(&tx, l, &o);
                }
                let _ = r.stream_position();
            }
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /containers/{id}/logs`.
pub async fn logs(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "logs: tail {t:?}: a number or all [layer: api]"
                )))
            }
        },
    };
    let since = q
        .int("since")?
        .map_or(i64::MIN, |s| s.saturating_mul(1_000_000_000));
    let mut o = Opts {
        stdout: q.flag("stdout", false),
        stderr: q.flag("stderr", false),
        follow: q.flag("follow", false),
        timestamps: q.flag("timestamps", false),
        tail,
        since,
        raw: false,
    };
    if !o.stdout && !o.stderr {
        return Err(ApiError::bad_request(
            "logs: you must choose at least one stream (stdout or stderr) [layer: api]",
        ));
    }
    let key = key.to_string();
    let (path, id, tty) = api
        .blocking(move |e| {
            let c = load(e, &key)?;
            Ok((c.log_path(&e.paths), c.id.clone(), c.config.tty))
        })
        .await?;
    o.raw = tty;
    let (tx, body) = channel(64);
    let api2 = Arc::clone(api);
    tokio::task::spawn_blocking(move || {
        let alive = || {
            api2.with_engine(|e| Ok(load(e, &id).is_ok_and(|c| c.state.status.is_live())))
                .unwrap_or(false)
        };
        if let Err(e) = stream_log(path, o, tx, alive) {
            tracing::debug!("logs: {e}");
        }
    });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, ctype)
        .body(body)
        .expect("static headers"))
}
