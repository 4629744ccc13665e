//! Serving: the unix socket (made with mode 0600, a stale one replaced), both services, and
//! a clean stop on SIGTERM or SIGINT. Running containers are not touched by the server's
//! start or stop: they belong to their monitors.

use crate::image_service::Images;
use crate::runtime_service::Runtime;
use crate::state::Cri;
use k8s_cri::v1::image_service_server::ImageServiceServer;
use k8s_cri::v1::runtime_service_server::RuntimeServiceServer;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;

/// Serves the CRI on `cri.config.socket` until SIGTERM or SIGINT.
pub async fn serve(cri: Arc<Cri>) -> Result<(), String> {
    let path = cri.config.socket.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cri socket directory {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cri socket {}: {e}", path.display())),
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| format!("cri socket {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cri socket {}: {e}", path.display()))?;
    let stream = crate::stream::StreamServer::start(&cri.config.stream_address)
        .await
        .map_err(|e| format!("stream server {}: {e}", cri.config.stream_address))?;
    let _ = cri.stream.set(stream);
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    tracing::info!(socket = %path.display(), "serving the CRI");
    let res = tonic::transport::Server::builder()
        .add_service(RuntimeServiceServer::new(Runtime(Arc::clone(&cri))))
        .add_service(ImageServiceServer::new(Images(Arc::clone(&cri))))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
        .await;
    let _ = std::fs::remove_file(&path);
    res.map_err(|e| format!("cri server: {e}"))
}
