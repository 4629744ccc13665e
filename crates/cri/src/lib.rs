//! Strata's Kubernetes CRI v1 server: the box between kubelet (or crictl) and the containers
//! in the course's node diagram, where containerd or CRI-O usually sit. RuntimeService and
//! ImageService over gRPC on a unix socket, built on the engine (pods with an infra process,
//! one monitor per container, CNI networking, state in SQLite) and the image store: there is
//! no second implementation of containers or images here, only the CRI's view of them.
//!
//! - `config`: `cri.toml`.
//! - `server`: the socket and the services.
//! - `runtime_service` / `image_service`: the gRPC traits, thin over
//! - `sandbox` (pods), `container` and `container_config` (containers), `exec_sync`, `image`;
//!   `resources` (UpdateContainerResources), `stats` (container and pod stats), `events`
//!   (GetContainerEvents, polled from the engine's event log).
//! - `stream`: the streaming server behind Exec and Attach (WebSocket remote-command).
//! - `meta`: the CRI's metadata kept in the engine's annotations; `status`: errors as gRPC
//!   statuses naming the layer.

pub mod cni_config;
pub mod config;
pub mod container;
pub mod container_config;
pub mod events;
pub mod exec_sync;
pub mod image;
pub mod image_service;
pub mod meta;
pub mod resources;
pub mod runtime_service;
pub mod sandbox;
pub mod server;
pub mod state;
pub mod stats;
pub mod status;
pub mod stream;

pub use config::Config;
pub use state::Cri;
