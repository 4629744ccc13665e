//! Minimal HTTP/1.1 over a unix stream: one request per connection, bounded sizes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest accepted header block.
pub const MAX_HEADER: usize = 16 * 1024;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, upper case.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// JSON body (empty for 204).
    pub body: String,
}

impl Response {
    /// 204 No Content.
    pub fn no_content() -> Self {
        Response {
            status: 204,
            body: String::new(),
        }
    }
    /// 200 with a JSON body.
    pub fn json(v: &serde_json::Value) -> Self {
        Response {
            status: 200,
            body: v.to_string(),
        }
    }
    /// An error with Firecracker's `fault_message` body.
    pub fn fault(status: u16, msg: impl std::fmt::Display) -> Self {
        Response {
            status,
            body: serde_json::json!({ "fault_message": msg.to_string() }).to_string(),
        }
    }
}

/// Reads one request; errors are reported as a 400 response.
pub fn read_request(stream: &mut UnixStream) -> Result<Request, Response> {
    let mut r = BufReader::new(stream.try_clone().map_err(|e| Response::fault(500, e))?);
    let mut line = String::new();
    let mut header_bytes = 0;
    r.read_line(&mut line)
        .map_err(|e| Response::fault(400, format!("read: {e}")))?;
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/1.") => (m.to_string(), t.to_string()),
        _ => return Err(Response::fault(400, "malformed request line")),
    };
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        let n = r
            .read_line(&mut h)
            .map_err(|e| Response::fault(400, format!("read: {e}")))?;
        header_bytes += n;
        if n == 0 || header_bytes > MAX_HEADER {
            return Err(Response::fault(400, "headers too large or truncated"));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v
                    .trim()
                    .parse()
                    .map_err(|_| Response::fault(400, "bad content-length"))?;
            }
        }
    }
    if len > MAX_BODY {
        return Err(Response::fault(
            413,
            format!("body of {len} bytes exceeds {MAX_BODY}"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)
        .map_err(|e| Response::fault(400, format!("read body: {e}")))?;
    let path = target.split('?').next().unwrap_or("").to_string();
    Ok(Request { method, path, body })
}

/// Writes a response and closes the exchange.
pub fn write_response(stream: &mut UnixStream, resp: &Response) {
    let reason = match resp.status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Internal Server Error",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        resp.status,
        resp.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(resp.body.as_bytes());
}
