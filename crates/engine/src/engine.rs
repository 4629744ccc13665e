//! The engine handle: its directories, its database, the image store, and how to start a
//! container's monitor.

use crate::db::Db;
use crate::error::{IoContext, Result};
use crate::paths::Paths;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use strata_image::store::Store;

/// How the engine is set up.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Persistent root (shared with the image store).
    pub root: PathBuf,
    /// Run-time root.
    pub runroot: PathBuf,
    /// The strata-monitor binary.
    pub monitor: PathBuf,
    /// The command a monitor runs after its container exited, before the container id
    /// (`strata --root R --runroot RR container cleanup`): the engine's clean-up, restart
    /// policy and `--rm`.
    pub exit_command: Vec<OsString>,
    /// Registry for short image names.
    pub default_registry: String,
}

/// The engine.
pub struct Engine {
    /// Its directories.
    pub paths: Paths,
    /// Its state database.
    pub db: Db,
    /// Its options.
    pub opts: EngineOptions,
    store: OnceLock<Arc<Store>>,
}

impl Engine {
    /// Opens the engine's state (creating its directories and database).
    pub fn open(opts: EngineOptions) -> Result<Engine> {
        let paths = Paths::new(&opts.root, &opts.runroot);
        for d in [&paths.root, &paths.runroot] {
            std::fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        let db = Db::open(&paths.db())?;
        Ok(Engine {
            paths,
            db,
            opts,
            store: OnceLock::new(),
        })
    }

    /// The image store (opened on first use: listing containers does not need it).
    pub fn store(&self) -> Result<Arc<Store>> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let s = Arc::new(Store::open(&self.paths.root, &self.paths.runroot)?);
        Ok(self.store.get_or_init(|| s).clone())
    }

    /// Uses an already open image store (the CLI's, after a pull).
    pub fn with_store(self, store: Arc<Store>) -> Self {
        let _ = self.store.set(store);
        self
    }
}
