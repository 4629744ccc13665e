//! The shim's proxy to its guest. The VM's agent port has one client, the shim; the
//! container's monitor reaches the guest through the shim, for execs: a unix socket in the
//! VM's directory (the monitor's, root's only) that speaks the agent protocol, on which only
//! an exec in the shim's own container and that exec's input pass. Each request is passed
//! to the agent under a tag of the shim's, and its replies come back under the client's.

use crate::agent::Agent;
use crate::{io_err, Result};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use strata_agent::{read_frame, write_frame, Reply, Request, Tagged};

/// The proxy's socket in the VM's directory.
pub const SOCKET: &str = "proxy.sock";

/// Serves the proxy for container `id` in the background.
pub fn serve(agent: Arc<Agent>, dir: &Path, id: &str) -> Result<()> {
    // Bound through a descriptor of the directory: a socket's path holds 108 bytes.
    let d = std::fs::File::open(dir).map_err(io_err(format!("vm dir {}", dir.display())))?;
    let path = format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd());
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).map_err(io_err(format!(
        "proxy socket {}",
        dir.join(SOCKET).display()
    )))?;
    let id = id.to_string();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let (agent, id) = (Arc::clone(&agent), id.clone());
            std::thread::spawn(move || client(&agent, conn, &id));
        }
    });
    Ok(())
}

/// Whether a client may ask `msg` of the guest of container `id`.
fn allowed(msg: &Request, id: &str) -> std::result::Result<(), String> {
    match msg {
        Request::ExecContainer { id: c, .. } if c == id => Ok(()),
        Request::ExecContainer { id: c, .. } => {
            Err(format!("exec in {c}: this VM serves container {id} only"))
        }
        Request::Input { .. } => Ok(()),
        _ => Err("only execs and their input pass the VM's proxy".into()),
    }
}

fn client(agent: &Agent, conn: UnixStream, id: &str) {
    let Ok(w) = conn.try_clone() else { return };
    let w = Arc::new(Mutex::new(w));
    let mut r = conn;
    while let Ok(Some(Tagged { tag, msg })) = read_frame::<Tagged<Request>>(&mut r) {
        let send = {
            let w = Arc::clone(&w);
            move |msg: Reply| -> bool {
                let Ok(mut w) = w.lock() else { return false };
                write_frame(&mut *w, &Tagged { tag, msg }).is_ok()
            }
        };
        if let Err(message) = allowed(&msg, id) {
            send(Reply::Error { message });
            continue;
        }
        let replies = agent.request(msg, "proxied request", None);
        std::thread::spawn(move || {
            let mut replies = match replies {
                Ok(rs) => rs,
                Err(e) => {
                    send(Reply::Error {
                        message: e.to_string(),
                    });
                    return;
                }
            };
            loop {
                match replies.next_reply() {
                    Ok(Some(reply)) => {
                        if !send(reply) {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        send(Reply::Error {
                            message: e.to_string(),
                        });
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_execs_in_its_own_container_pass() {
        let exec = |id: &str| Request::ExecContainer {
            id: id.into(),
            exec_id: "1".into(),
            process: serde_json::json!({}),
            stdin: false,
            detach: false,
        };
        assert!(allowed(&exec("c1"), "c1").is_ok());
        assert!(allowed(&exec("c2"), "c1").is_err());
        assert!(allowed(&Request::Shutdown, "c1").is_err());
        assert!(allowed(
            &Request::Kill {
                id: "c1".into(),
                signal: 9
            },
            "c1"
        )
        .is_err());
        let run = Request::RunContainer {
            id: "c1".into(),
            spec: serde_json::json!({}),
            layers: vec![],
            files: Default::default(),
        };
        assert!(allowed(&run, "c1").is_err());
    }
}
