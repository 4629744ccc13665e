//! Interpreter: the emulated devices the guest drives through port I/O and MMIO.

pub mod i8042;
pub mod pvpanic;
pub mod serial;
pub mod virtio;
