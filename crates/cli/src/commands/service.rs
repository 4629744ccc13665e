//! `strata system service`: the Docker Engine API on a unix socket (the docker CLI's and
//! docker-compose's `DOCKER_HOST=unix://...`), on the same engine and image store as the CLI.

use super::container::open_engine;
use crate::Global;
use anyhow::{anyhow, Result};
use std::time::Duration;
use strata_api::{Api, ServeOptions};

/// `system service`'s options.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Exit after this many seconds without a connection (0: never).
    #[arg(short = 't', long = "timeout", alias = "time", default_value_t = 0)]
    pub timeout: u64,
    /// The socket: unix:///path or a path (no TCP listener is served).
    #[arg(default_value = "unix:///run/strata/docker.sock")]
    pub socket: String,
}

/// Serves until SIGTERM or SIGINT (or the idle timeout).
pub fn serve(g: &Global, a: ServiceArgs) -> Result<i32> {
    let socket = strata_api::server::socket_path(&a.socket).map_err(|e| anyhow!(e))?;
    let opts = open_engine(g)?.opts;
    let api = Api::new(opts, g.registries_conf.clone()).map_err(|e| anyhow!(e))?;
    let serve = ServeOptions {
        socket,
        idle_timeout: (a.timeout > 0).then(|| Duration::from_secs(a.timeout)),
    };
    // Blocking-pool threads (each with its engine handle) end after a few idle seconds,
    // so an idle service keeps only its two workers.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(Duration::from_secs(3))
        .enable_all()
        .build()?
        .block_on(strata_api::serve(api, serve))
        .map_err(|e| anyhow!(e))?;
    Ok(0)
}
