//! `strata cri`: the Kubernetes CRI server (kubelet's `--container-runtime-endpoint`,
//! crictl's `runtime-endpoint`), on the same engine and image store as the CLI.

use super::container::open_engine;
use crate::Global;
use anyhow::{anyhow, Result};
use std::path::PathBuf;
use strata_cri::{Config, Cri};

/// `cri`'s options.
#[derive(Debug, clap::Args)]
pub struct CriArgs {
    /// The configuration file (TOML; a missing file gives the defaults).
    #[arg(long, default_value = "/etc/strata/cri.toml")]
    pub config: PathBuf,
    /// The socket to serve on (overrides the file's `socket`).
    #[arg(long)]
    pub socket: Option<PathBuf>,
}

/// Serves until SIGTERM or SIGINT.
pub fn serve(g: &Global, a: CriArgs) -> Result<i32> {
    let mut cfg = Config::load(&a.config).map_err(|e| anyhow!(e))?;
    if let Some(s) = a.socket {
        cfg.socket = s;
    }
    let mut g = g.clone();
    if let Some(r) = cfg.root.clone() {
        g.root = r;
    }
    if let Some(r) = cfg.runroot.clone() {
        g.runroot = r;
    }
    if let Some(r) = cfg.registries.clone() {
        g.registries_conf = r;
    }
    // The configured plugin directory first, for this process and the monitors and clean-up
    // commands it starts (set before any thread exists).
    let cni_path = format!(
        "{}:{}",
        cfg.cni_bin_dir.display(),
        strata_engine::network::cni::cni_path()
    );
    std::env::set_var("STRATA_CNI_PATH", cni_path);
    strata_os::memory::single_malloc_arena();
    let opts = open_engine(&g)?.opts;
    let cri = Cri::new(opts, cfg, g.registries_conf.clone()).map_err(|e| anyhow!(e))?;
    crate::runtime()?
        .block_on(strata_cri::server::serve(cri))
        .map_err(|e| anyhow!(e))?;
    Ok(0)
}
