//! What every RPC shares: the engine's options (each blocking call opens its own engine
//! handle: SQLite connections are not shared between threads), the one image store, and the
//! configuration. Engine work is synchronous (locks, the runtime, CNI), so RPCs run it on
//! tokio's blocking pool.

use crate::config::Config;
use std::sync::Arc;
use strata_engine::{Engine, EngineOptions};
use strata_image::store::Store;
use tonic::Status;

/// The server's shared state.
pub struct Cri {
    /// How to open the engine.
    pub engine: EngineOptions,
    /// The image store, opened once.
    pub store: Arc<Store>,
    /// The configuration.
    pub config: Config,
    /// The registries file.
    pub registries: std::path::PathBuf,
    /// The streaming server (Exec and Attach URLs), once serving.
    pub stream: std::sync::OnceLock<Arc<crate::stream::StreamServer>>,
}

impl Cri {
    /// Opens the image store and checks that the engine opens.
    pub fn new(
        engine: EngineOptions,
        config: Config,
        registries: std::path::PathBuf,
    ) -> Result<Arc<Cri>, String> {
        let store = Store::open(&engine.root, &engine.runroot)
            .map_err(|e| format!("open image store {}: {e}", engine.root.display()))?;
        Engine::open(engine.clone()).map_err(|e| format!("open engine: {e}"))?;
        Ok(Arc::new(Cri {
            engine,
            store: Arc::new(store),
            config,
            registries,
            stream: std::sync::OnceLock::new(),
        }))
    }

    /// Runs `f` with an engine handle on the blocking pool. Each pool thread keeps its
    /// handle (its SQLite connection, prepared statements and the open store) for the next
    /// call instead of opening the engine per RPC.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, Status> + Send + 'static,
    {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            ENGINE.with(|slot| {
                let mut slot = slot.borrow_mut();
                let reuse = matches!(&*slot, Some((root, _)) if *root == me.engine.root);
                if !reuse {
                    let e = Engine::open(me.engine.clone())
                        .map_err(|e| {
                            Status::unavailable(format!("open engine: {e} [layer: engine]"))
                        })?
                        .with_store(Arc::clone(&me.store));
                    *slot = Some((me.engine.root.clone(), e));
                }
                let (_, e) = slot.as_ref().expect("set above");
                f(e)
            })
        })
        .await
        .map_err(|e| Status::internal(format!("engine task failed: {e}")))?
    }
}

thread_local! {
    /// The engine handle of a blocking-pool thread, with the root it was opened for.
    static ENGINE: std::cell::RefCell<Option<(std::path::PathBuf, Engine)>> =
        const { std::cell::RefCell::new(None) };
}
