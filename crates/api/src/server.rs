//! Serving: the unix socket (mode 0660, root's or `--group`'s, a stale one replaced; or the
//! one passed by socket activation), or a TCP listener only with
//! TLS and client certificates (`tls`), HTTP/1.1 connections with upgrades (attach), a clean stop on SIGTERM or SIGINT, and an
//! optional idle timeout (the service exits after that long without a connection, as
//! podman's `system service --time` does); while idle it gives memory back (`idle`). Running containers are not touched by the
//! server's start or stop: they belong to their monitors.

use crate::state::Api;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};

/// The default socket.
pub const DEFAULT_SOCKET: &str = "/run/strata/docker.sock";

/// Where the API is served.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP address, with TLS and client certificates.
    Tcp(std::net::SocketAddr, crate::tls::TlsFiles),
    /// The unix socket at this path passed by socket activation (kept at exit: it is the
    /// socket unit's).
    Activated(PathBuf),
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where.
    pub listen: Listen,
    /// Exit after this long without a connection (none: never).
    pub idle_timeout: Option<Duration>,
    /// The group a unix socket made here is given to (none: root's).
    pub group: Option<u32>,
}

/// Where a `SOCKET_URI` says to serve (`unix:///path`, a path, or `tcp://HOST:PORT`, which
/// needs `tls`: no TCP listener without client certificates).
pub fn listen_on(uri: &str, tls: Option<crate::tls::TlsFiles>) -> Result<Listen, String> {
    if let Some(addr) = uri.strip_prefix("tcp://") {
        let addr: std::net::SocketAddr = addr.trim_end_matches('/').parse().map_err(|_| {
            format!("socket {uri}: not a TCP address (tcp://IP:PORT, as tcp://127.0.0.1:2376)")
        })?;
        let tls = tls.ok_or_else(|| {
            format!("socket {uri}: a TCP listener is served only with TLS client certificates: add --tlsverify --tlscacert CA.pem --tlscert CERT.pem --tlskey KEY.pem")
        })?;
        return Ok(Listen::Tcp(addr, tls));
    }
    if tls.is_some() {
        return Err(format!(
            "socket {uri}: TLS applies to a tcp:// listener, not a unix socket"
        ));
    }
    if let Some(p) = uri.strip_prefix("unix://") {
        if p.starts_with('/') {
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        return Err(format!("socket {uri}: the path must be absolute"));
    }
    if uri.contains("://") {
        return Err(format!(
            "socket {uri}: serve unix:///PATH, or tcp://IP:PORT with TLS client certificates"
        ));
    }
    Ok(Listen::Unix(PathBuf::from(uri)))
}

/// The listener, made (a unix socket with its path if it is ours to remove at exit).
enum Bound {
    Unix(UnixListener, Option<PathBuf>),
    Tcp(TcpListener, tokio_rustls::TlsAcceptor),
}

impl Bound {
    fn bind(l: &Listen, group: Option<u32>) -> Result<Bound, String> {
        match l {
            Listen::Activated(path) => {
                let std = crate::activation::listener();
                std.set_nonblocking(true)
                    .map_err(|e| format!("api socket {} (activated): {e}", path.display()))?;
                let listener = UnixListener::from_std(std)
                    .map_err(|e| format!("api socket {} (activated): {e}", path.display()))?;
                Ok(Bound::Unix(listener, None))
            }
            Listen::Unix(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("api socket directory {}: {e}", dir.display()))?;
                }
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("api socket {}: {e}", path.display())),
                }
                let listener = UnixListener::bind(path)
                    .map_err(|e| format!("api socket {}: {e}", path.display()))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                    .map_err(|e| format!("api socket {}: {e}", path.display()))?;
                if let Some(gid) = group {
                    std::os::unix::fs::chown(path, Some(0), Some(gid))
                        .map_err(|e| format!("api socket {}: group {gid}: {e}", path.display()))?;
                }
                Ok(Bound::Unix(listener, Some(path.clone())))
            }
            Listen::Tcp(addr, files) => {
                let acceptor = crate::tls::acceptor(files)?;
                let std = std::net::TcpListener::bind(addr)
                    .map_err(|e| format!("api listener tcp://{addr}: {e}"))?;
                std.set_nonblocking(true)
                    .map_err(|e| format!("api listener tcp://{addr}: {e}"))?;
                let listener = TcpListener::from_std(std)
                    .map_err(|e| format!("api listener tcp://{addr}: {e}"))?;
                Ok(Bound::Tcp(listener, acceptor))
            }
        }
    }

    fn what(&self) -> String {
        match self {
            Bound::Unix(l, _) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_default(),
            Bound::Tcp(l, _) => l
                .local_addr()
                .map(|a| format!("tcp://{a} (TLS, client certificates)"))
                .unwrap_or_default(),
        }
    }
}

/// An accepted connection: its stream once any TLS handshake is done.
enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, tokio_rustls::TlsAcceptor),
}

/// Serves the API until SIGTERM or SIGINT (or the idle timeout).
pub async fn serve(api: Arc<Api>, opts: ServeOptions) -> Result<(), String> {
    let bound = Bound::bind(&opts.listen, opts.group)?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let active = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let idle = {
        let (active, last, api) = (Arc::clone(&active), Arc::clone(&last), Arc::clone(&api));
        async move {
            // Whether memory was given back since the last activity.
            let mut released = false;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let since = last.lock().map(|t| t.elapsed()).unwrap_or_default();
                let busy = active.load(Ordering::SeqCst) + api.streams.load(Ordering::SeqCst);
                if busy > 0 {
                    if let Ok(mut t) = last.lock() {
                        *t = Instant::now();
                    }
                    released = false;
                    continue;
                }
                if since < crate::idle::QUIET {
                    released = false;
                } else if !released {
                    let code = crate::idle::release();
                    tracing::debug!(code, "idle: memory given back");
                    released = true;
                }
                if opts.idle_timeout.is_some_and(|limit| since >= limit) {
                    return;
                }
            }
        }
    };
    tokio::pin!(idle);
    tracing::info!(listen = %bound.what(), "serving the Docker API");
    loop {
        let conn = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = &mut idle => break,
            c = accept(&bound) => c,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("api listener: accept: {e}");
                continue;
            }
        };
        active.fetch_add(1, Ordering::SeqCst);
        let (api, active, last) = (Arc::clone(&api), Arc::clone(&active), Arc::clone(&last));
        tokio::spawn(async move {
            match conn {
                Accepted::Unix(s) => serve_connection(api, s).await,
                // The handshake (the client's certificate checked) before any request.
                Accepted::Tcp(s, acceptor) => match acceptor.accept(s).await {
                    Ok(tls) => serve_connection(api, tls).await,
                    Err(e) => tracing::info!("api listener: a TLS handshake failed: {e}"),
                },
            }
            if let Ok(mut t) = last.lock() {
                *t = Instant::now();
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    if let Bound::Unix(_, Some(path)) = &bound {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

async fn accept(b: &Bound) -> std::io::Result<Accepted> {
    match b {
        Bound::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        Bound::Tcp(l, a) => l.accept().await.map(|(s, _)| Accepted::Tcp(s, a.clone())),
    }
}

/// HTTP/1.1 with upgrades on one connection.
async fn serve_connection<S>(api: Arc<Api>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let api = Arc::clone(&api);
        async move { Ok::<_, std::convert::Infallible>(crate::router::route(api, req).await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await
    {
        tracing::debug!("api connection: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_uris() {
        let unix = |u: &str| match listen_on(u, None) {
            Ok(Listen::Unix(p)) => Some(p),
            _ => None,
        };
        assert_eq!(
            unix("unix:///run/x.sock"),
            Some(PathBuf::from("/run/x.sock"))
        );
        assert_eq!(unix("/tmp/d.sock"), Some(PathBuf::from("/tmp/d.sock")));
        assert!(listen_on("unix://rel.sock", None).is_err());
        // No TCP listener without TLS client certificates.
        let err = listen_on("tcp://0.0.0.0:2375", None).unwrap_err();
        assert!(err.contains("--tlsverify"), "{err}");
        let tls = crate::tls::TlsFiles {
            ca: "ca.pem".into(),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
        };
        assert!(matches!(
            listen_on("tcp://127.0.0.1:2376", Some(tls.clone())),
            Ok(Listen::Tcp(..))
        ));
        assert!(listen_on("tcp://localhost", Some(tls.clone())).is_err());
        assert!(listen_on("/tmp/d.sock", Some(tls)).is_err());
    }
}
