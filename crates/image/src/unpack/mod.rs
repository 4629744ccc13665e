//! Safe layer unpacking: decompression and confined tar application.

pub mod apply;
pub mod decompress;
pub mod lowers;
mod meta;
pub mod names;

pub use crate::snapshot::DeferredLink;
pub use apply::{apply_tar, apply_tar_over, ApplyOptions, ApplyStats, WhiteoutMode};
pub use lowers::{LayerGate, Lowers, NoLowers, OpenLowers};
pub mod pool;
