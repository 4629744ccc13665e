//! The HTTP/1.1 request that opens a stream URL, and the two upgrades it may ask for. The
//! request head is read here (bounded in size and time) so that one listener serves both
//! transports; bytes the client sent past the head stay with the upgraded connection.

use super::spdy::conn::Conn;
use super::websocket::Ws;
use super::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A request's line and headers.
#[derive(Debug, Default)]
pub struct Head {
    /// The method.
    pub method: String,
    /// The path (with any query).
    pub path: String,
    /// Headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every comma-separated value of every `name` header.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// Parses a request head (without its blank line).
pub fn parse_head(text: &str) -> Result<Head, String> {
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {line:?}"));
    };
    if !version.starts_with("HTTP/1.") || !path.starts_with('/') {
        return Err(format!("bad request line {line:?}"));
    }
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
        headers,
    })
}

/// Reads the request head; also the bytes read past it.
pub async fn read_head(conn: &mut TcpStream) -> Result<(Head, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(2048);
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(end);
            }
            if buf.len() >= MAX_HEAD {
                return Err(format!("a request head larger than {MAX_HEAD} bytes"));
            }
            let mut chunk = [0u8; 2048];
            let n = conn.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the client closed before its request head ended".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let end = tokio::time::timeout(HEAD_TIMEOUT, read)
        .await
        .map_err(|_| "no request head in time".to_string())??;
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "a request head not in UTF-8")?;
    let head = parse_head(text)?;
    Ok((head, buf[end + 4..].to_vec()))
}

/// Answers with an error status and a one-line text body, then closes.
pub async fn refuse(conn: &mut TcpStream, code: u16, message: &str) {
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let body = format!("{message}\n");
    let resp = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(resp.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// The WebSocket subprotocols served, best first.
const WS_PROTOCOLS: [&str; 3] = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];

/// Completes a WebSocket upgrade; the subprotocol agreed, if the client offered one.
pub async fn upgrade_websocket(
    mut conn: TcpStream,
    head: &Head,
    rest: Vec<u8>,
) -> Result<(Ws, Option<String>), String> {
    let Some(key) = head.header("sec-websocket-key") else {
        let msg = "a WebSocket upgrade without Sec-WebSocket-Key";
        refuse(&mut conn, 400, msg).await;
        return Err(msg.into());
    };
    let offered = head.list("sec-websocket-protocol");
    let pick = WS_PROTOCOLS
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p));
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(p) = pick {
        resp.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    resp.push_str("\r\n");
    conn.write_all(resp.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let ws =
        tokio_tungstenite::WebSocketStream::from_partially_read(conn, rest, Role::Server, None)
            .await;
    Ok((ws, pick.map(str::to_string)))
}

/// Completes a SPDY/3.1 upgrade, agreeing on the session's Kubernetes protocol
/// (`X-Stream-Protocol-Version`), and starts serving the connection.
pub async fn upgrade_spdy(
    mut conn: TcpStream,
    head: &Head,
    rest: Vec<u8>,
    session: &Session,
) -> Result<Conn, String> {
    let wanted = match session {
        Session::PortForward { .. } => "portforward.k8s.io",
        _ => "v4.channel.k8s.io",
    };
    let offered = head.list("x-stream-protocol-version");
    if !offered.iter().any(|p| p == wanted) {
        let msg = format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, \
             server supports [{wanted}]"
        );
        refuse(&mut conn, 403, &msg).await;
        return Err(msg);
    }
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {wanted}\r\n\r\n"
    );
    conn.write_all(resp.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let (r, w) = conn.into_split();
    Ok(Conn::start(std::io::Cursor::new(rest).chain(r), w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_parsed_and_bad_ones_refused() {
        let h = parse_head(
            "POST /exec/abc HTTP/1.1\r\nUpgrade: SPDY/3.1\r\n\
             X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\
             X-Stream-Protocol-Version: v3.channel.k8s.io, v2.channel.k8s.io",
        )
        .unwrap();
        assert_eq!(h.path, "/exec/abc");
        assert_eq!(h.header("upgrade"), Some("SPDY/3.1"));
        assert_eq!(h.list("x-stream-protocol-version").len(), 3);
        assert!(parse_head("GET exec HTTP/1.1").is_err());
        assert!(parse_head("GET / HTTP/1.1\r\nno colon").is_err());
        assert!(parse_head("").is_err());
    }
}
