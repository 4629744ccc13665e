//! `strata system service`: the Docker Engine API on a unix socket (the docker CLI's and
//! docker-compose's `DOCKER_HOST=unix://...`), or on TCP with TLS client certificates only,
//! on the same engine and image store as the CLI.

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
    /// Where to serve: unix:///path, a path, or tcp://IP:PORT (only with --tlsverify and
    /// the three TLS files: a client must present a certificate of --tlscacert's CA).
    #[arg(default_value = "unix:///run/strata/docker.sock")]
    pub socket: String,
    /// Serve TCP with TLS, requiring client certificates signed by --tlscacert (dockerd's
    /// --tlsverify).
    #[arg(long = "tlsverify", requires_all = ["tlscacert", "tlscert", "tlskey"])]
    pub tlsverify: bool,
    /// The CA (PEM) whose certificates clients must present.
    #[arg(long = "tlscacert", requires = "tlsverify")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// The server's certificate (PEM).
    #[arg(long = "tlscert", requires = "tlsverify")]
    pub tlscert: Option<std::path::PathBuf>,
    /// The server's private key (PEM).
    #[arg(long = "tlskey", requires = "tlsverify")]
    pub tlskey: Option<std::path::PathBuf>,
    /// The group (name or gid) the unix socket is given to, beside root (dockerd's -G);
    /// mode 0660 either way. A socket-activated one keeps its socket unit's.
    #[arg(short = 'G', long)]
    pub group: Option<String>,
}

/// Serves until SIGTERM or SIGINT (or the idle timeout).
pub fn serve(g: &Global, a: ServiceArgs) -> Result<i32> {
    let tls = match (a.tlsverify, a.tlscacert, a.tlscert, a.tlskey) {
        (true, Some(ca), Some(cert), Some(key)) => {
            Some(strata_api::tls::TlsFiles { ca, cert, key })
        }
        _ => None,
    };
    // Socket-activated (the repo's strata-docker.socket): the passed socket is served.
    let listen = match strata_api::activation::activated().map_err(|e| anyhow!(e))? {
        Some(path) => strata_api::server::Listen::Activated(path),
        None => strata_api::server::listen_on(&a.socket, tls).map_err(|e| anyhow!(e))?,
    };
    let group = a
        .group
        .as_deref()
        .map(strata_api::activation::group_id)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let opts = open_engine(g)?.opts;
    let api = Api::new(opts, g.registries_conf.clone()).map_err(|e| anyhow!(e))?;
    let serve = ServeOptions {
        listen,
        idle_timeout: (a.timeout > 0).then(|| Duration::from_secs(a.timeout)),
        group,
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
