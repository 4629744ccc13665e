//! Serving: the unix socket (mode 0660, a stale one replaced; there is no TCP listener),
//! HTTP/1.1 connections with upgrades (attach), a clean stop on SIGTERM or SIGINT, and an
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
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

/// The default socket.
pub const DEFAULT_SOCKET: &str = "/run/strata/docker.sock";

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The socket's path.
    pub socket: PathBuf,
    /// Exit after this long without a connection (none: never).
    pub idle_timeout: Option<Duration>,
}

/// The socket path of a `SOCKET_URI` (`unix:///path`, or a path); other schemes are
/// refused: the API is served on a unix socket only.
pub fn socket_path(uri: &str) -> Result<PathBuf, String> {
    if let Some(p) = uri.strip_prefix("unix://") {
        if p.starts_with('/') {
            return Ok(PathBuf::from(p));
        }
        return Err(format!("socket {uri}: the path must be absolute"));
    }
    if uri.contains("://") {
        return Err(format!(
            "socket {uri}: only unix:// sockets are served (no TCP listener)"
        ));
    }
    Ok(PathBuf::from(uri))
}

/// Serves the API until SIGTERM or SIGINT (or the idle timeout).
pub async fn serve(api: Arc<Api>, opts: ServeOptions) -> Result<(), String> {
    let path = opts.socket.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("api socket directory {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("api socket {}: {e}", path.display())),
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| format!("api socket {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("api socket {}: {e}", path.display()))?;
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
    tracing::info!(socket = %path.display(), "serving the Docker API");
    loop {
        let conn = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = &mut idle => break,
            c = listener.accept() => c,
        };
        let (stream, _) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("api socket: accept: {e}");
                continue;
            }
        };
        active.fetch_add(1, Ordering::SeqCst);
        let (api, active, last) = (Arc::clone(&api), Arc::clone(&active), Arc::clone(&last));
        tokio::spawn(async move {
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
            if let Ok(mut t) = last.lock() {
                *t = Instant::now();
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_uris() {
        assert_eq!(
            socket_path("unix:///run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert_eq!(
            socket_path("/tmp/d.sock").unwrap(),
            PathBuf::from("/tmp/d.sock")
        );
        assert!(socket_path("tcp://0.0.0.0:2375").is_err());
        assert!(socket_path("unix://rel.sock").is_err());
    }
}
