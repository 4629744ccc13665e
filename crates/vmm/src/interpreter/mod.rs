//! Interpreter: the emulated devices the guest drives through port I/O and MMIO.

pub mod acpi_pm;
pub mod i8042;
pub mod pvpanic;
pub mod serial;
pub mod virtio;
