//! Starting a thread under its seccomp filter: the one way the VMM starts a thread.
//!
//! The filter is installed by the new thread itself before it runs any of its work, and the
//! spawner waits for that to succeed: a thread whose filter cannot be installed never runs
//! its work, and the caller gets the error (so a VM never runs with an unconfined thread).

use super::seccomp::{self, ThreadKind};
use crate::error::{Error, Result};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Spawns `f` on a thread named `name`, confined by the seccomp filter of `kind` when
/// `confine` is set (the VM's `seccomp` setting). Returns once the filter is in place; an
/// error if it could not be compiled or installed (then `f` never runs).
pub fn spawn_confined<F>(
    name: &str,
    kind: ThreadKind,
    confine: bool,
    f: F,
) -> Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let filter = confine.then(|| seccomp::filter(kind)).transpose()?;
    let (ready_tx, ready_rx) = mpsc::sync_channel::<std::result::Result<(), String>>(1);
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if let Some(prog) = &filter {
                if let Err(e) = seccomp::apply(prog) {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            }
            let _ = ready_tx.send(Ok(()));
            drop(ready_tx);
            f();
        })
        .map_err(|e| Error::io(format!("spawn thread {name}"), e))?;
    let outcome = ready_rx
        .recv()
        .unwrap_or_else(|_| Err("the thread ended before its filter was installed".to_string()));
    match outcome {
        Ok(()) => Ok(handle),
        Err(msg) => {
            let _ = handle.join();
            Err(Error::Seccomp(format!(
                "thread {name}: {kind:?} filter: {msg}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn work_runs_after_the_filter_and_unconfined_when_off() {
        for confine in [false, true] {
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let h = spawn_confined("t", ThreadKind::Device, confine, move || {
                r.store(true, Ordering::SeqCst)
            })
            .unwrap();
            h.join().unwrap();
            assert!(ran.load(Ordering::SeqCst));
        }
    }
}
