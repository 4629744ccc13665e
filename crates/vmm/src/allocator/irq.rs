//! Interrupt line allocation for legacy (IOAPIC pin) interrupts.

use crate::error::{Error, Result};

/// Hands out IOAPIC pins to devices, in order.
#[derive(Debug)]
pub struct IrqAllocator {
    next: u32,
    last: u32,
}

impl IrqAllocator {
    /// A new allocator for pins `first..=last`.
    pub fn new(first: u32, last: u32) -> Self {
        IrqAllocator { next: first, last }
    }

    /// Allocates the next free pin.
    pub fn allocate(&mut self) -> Result<u32> {
        if self.next > self.last {
            return Err(Error::Config(format!(
                "irq lines exhausted (last usable pin {})",
                self.last
            )));
        }
        let irq = self.next;
        self.next += 1;
        Ok(irq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_in_order_until_exhausted() {
        let mut a = IrqAllocator::new(5, 6);
        assert_eq!(a.allocate().unwrap(), 5);
        assert_eq!(a.allocate().unwrap(), 6);
        assert!(a.allocate().is_err());
    }
}
