//! What every request shares: how to open the engine (each blocking-pool thread keeps its
//! own handle: SQLite connections are not shared between threads), the one image store and
//! the registries file. Engine work is synchronous, so it runs on tokio's blocking pool.

use crate::error::ApiError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use strata_engine::{Engine, EngineOptions};
use strata_image::store::Store;

/// The server's shared state.
pub struct Api {
    /// How to open the engine.
    pub engine: EngineOptions,
    /// The image store, opened once.
    pub store: Arc<Store>,
    /// The registries file (pulls).
    pub registries: PathBuf,
    /// Exec sessions made by `POST /containers/{id}/exec`, by id.
    pub execs: Mutex<HashMap<String, Arc<crate::exec::Session>>>,
    /// Hijacked connections being relayed (they count as activity for the idle timeout:
    /// their HTTP connection ended at the upgrade).
    pub streams: AtomicUsize,
}

/// Counts a hijacked connection while it lives.
pub struct StreamGuard(Arc<Api>);

impl StreamGuard {
    /// Counts one more stream of `api`.
    pub fn new(api: &Arc<Api>) -> StreamGuard {
        api.streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(Arc::clone(api))
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Api {
    /// Opens the image store and checks that the engine opens.
    pub fn new(engine: EngineOptions, registries: PathBuf) -> Result<Arc<Api>, String> {
        let store = Store::open(&engine.root, &engine.runroot)
            .map_err(|e| format!("open image store {}: {e}", engine.root.display()))?;
        Engine::open(engine.clone()).map_err(|e| format!("open engine: {e}"))?;
        Ok(Arc::new(Api {
            engine,
            store: Arc::new(store),
            registries,
            execs: Mutex::new(HashMap::new()),
            streams: AtomicUsize::new(0),
        }))
    }

    /// Runs `f` with an engine handle on the blocking pool; each pool thread keeps its
    /// handle for the next call.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.with_engine(f))
            .await
            .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
    }

    /// Runs `f` with this thread's engine handle (a blocking-pool thread's: never call it
    /// on an async worker).
    pub fn with_engine<T>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        ENGINE.with(|slot| {
            let mut slot = slot.borrow_mut();
            let reuse = matches!(&*slot, Some((root, _)) if *root == self.engine.root);
            if !reuse {
                let e = Engine::open(self.engine.clone())
                    .map_err(|e| ApiError::internal(format!("open engine: {e}")))?
                    .with_store(Arc::clone(&self.store));
                *slot = Some((self.engine.root.clone(), e));
            }
            let (_, e) = slot.as_ref().expect("set above");
            f(e)
        })
    }
}

thread_local! {
    /// The engine handle of a blocking-pool thread, with the root it was opened for.
    static ENGINE: std::cell::RefCell<Option<(PathBuf, Engine)>> =
        const { std::cell::RefCell::new(None) };
}
