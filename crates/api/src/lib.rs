//! Strata's Docker Engine API (`strata system service`): the endpoints the docker CLI and
//! docker-compose use, served on a unix socket, as a thin layer over the engine and the image
//! store. Nothing here holds container logic: each endpoint parses docker's request, calls
//! the engine function the `strata` CLI calls for the same verb, and answers in docker's
//! shape.
//!
//! - `server`: the socket, the connections (HTTP/1.1, upgrades for attach) and the idle
//!   timeout; `activation`: a socket passed by systemd, the socket's group; `router`: the `/vX.YY` prefix and the table of endpoints;
//! - `version`: `_ping`, `version`, `info`;
//! - `containers`: create, list, inspect, the lifecycle, wait, logs, attach, top, stats and
//!   the archive (`docker cp`);
//! - `images`: list, pull, inspect, tag, remove; `image_archive`: save, load, history;
//!   `image_push`: push; `build`: a Dockerfile build of an uploaded context;
//! - `exec`: exec create, start, inspect; `system`: df; `upload`: large request bodies;
//! - `networks`, `volumes`: list, inspect, create, remove; `events`: the event log;
//! - `idle`: memory given back while no request is served;
//! - `mux`: docker's 8-byte stream framing; `hijack`: the raw stream after `101`;
//! - `error`: docker's `{"message": ...}` errors with their status codes.

pub mod activation;
pub mod body;
pub mod build;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod hijack;
pub mod idle;
pub mod image_archive;
pub mod image_push;
pub mod images;
pub mod mux;
pub mod networks;
pub mod query;
pub mod router;
pub mod server;
pub mod state;
pub mod system;
pub mod tls;
pub mod upload;
pub mod version;
pub mod volumes;

pub use error::ApiError;
pub use server::{serve, ServeOptions};
pub use state::Api;
