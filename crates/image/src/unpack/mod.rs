//! Safe layer unpacking: decompression and confined tar application.

pub mod apply;
pub mod decompress;
pub mod fsops;
mod meta;

pub use apply::{apply_tar, ApplyOptions, ApplyStats, DeferredLink, WhiteoutMode};
pub mod pool;
