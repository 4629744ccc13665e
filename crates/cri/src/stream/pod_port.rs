//! A TCP connection to a port of a pod, made from inside the pod's network namespace (a
//! thread that enters it, connects, and ends), so `localhost:PORT` is the pod's. Both
//! port-forward transports use it.

use std::os::fd::AsRawFd;

/// Connects to `127.0.0.1:port` in the network namespace at `netns`.
pub fn connect_in(netns: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let netns = netns.to_string();
    let conn = std::thread::spawn(move || {
        let f = std::fs::File::open(&netns)?;
        strata_os::process::setns(f.as_raw_fd(), libc::CLONE_NEWNET)?;
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .join()
    .map_err(|_| std::io::Error::other("the connecting thread failed"))??;
    conn.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(conn)
}

/// Connects on the blocking pool; the error names the port and the layer.
pub async fn connect(netns: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    let ns = netns.to_string();
    tokio::task::spawn_blocking(move || connect_in(&ns, port))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("port {port}: {e} [layer: network]"))
}
