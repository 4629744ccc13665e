//! The REST API over a unix socket (Firecracker-style resources), served without an async
//! runtime by one thread; documented in docs/openapi.yaml.

pub mod http;
pub mod server;
