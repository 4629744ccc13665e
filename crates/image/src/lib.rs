//! Strata's image layer: a registry client for the OCI distribution spec, a
//! content-addressed blob store with image records in SQLite, safe layer unpacking into
//! per-chain-id snapshots (overlayfs lower dirs), active snapshots with containerd's
//! contract (prepare, view, commit: [`snapshotter`]), and OCI layout import/export.
//!
//! The design keeps every write atomic (ingest, verify, fsync, rename) and every
//! operation inside an unpacked layer fd-relative and confined to its snapshot.

pub mod digest;
pub mod error;
pub mod fsops;
pub mod oci;
pub mod reference;
pub mod snapshot;
pub mod snapshotter;
pub mod store;
pub mod temp;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub mod archive;
pub mod assemble;
pub mod mount;
pub mod ops;
pub mod progress;
pub mod pull;
pub mod push;
pub mod registry;
mod stream;
