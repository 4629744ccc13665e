//! Safe layer unpacking: decompression and confined tar application.

pub mod apply;
pub mod decompress;
pub mod fsops;
pub mod lowers;
mod meta;

pub use apply::{apply_tar, apply_tar_over, ApplyOptions, ApplyStats, DeferredLink, WhiteoutMode};
pub use lowers::{LayerGate, Lowers, NoLowers, OpenLowers};
pub mod pool;
