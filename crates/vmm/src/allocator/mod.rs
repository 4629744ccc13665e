//! Allocator: the resources the VMM hands to a guest (guest memory and its layout, the MMIO
//! and port I/O address spaces, interrupt lines, vCPU placement).

pub mod bus;
pub mod irq;
pub mod layout;
pub mod memory;
