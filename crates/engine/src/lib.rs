//! Strata's engine: the node layer under the `strata` CLI (and later the CRI server, the
//! builder and the Docker API). Containers, pods, volumes and networks, run through one
//! monitor per container (`strata-monitor`, which links the runtime library), on root
//! filesystems from the image store's snapshots, with state in SQLite.
//!
//! Every change is ordered so that a crash at any point leaves something the next command
//! reconciles: a container's row is written before anything is made for it and deleted
//! after everything made for it is gone, and every resource is named by the container's id
//! (its snapshot, network namespace, cgroup, monitor directory), so clean-up is a list of
//! idempotent steps. Per-object locks (flock) order concurrent CLI processes.

pub mod container;
pub mod db;
pub mod describe;
pub mod engine;
pub mod error;
pub mod ids;
pub mod lock;
pub mod network;
pub mod paths;
pub mod pod;
pub mod spec;
pub mod vm;
pub mod volume;

pub use container::{Container, ContainerConfig, ContainerState, Status};
pub use engine::{Engine, EngineOptions};
pub use error::{Error, Result};
