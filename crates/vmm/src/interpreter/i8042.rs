//! Minimal i8042 keyboard controller: enough for Linux to probe it and for the guest to
//! request a CPU reset (command 0xfe on port 0x64), which stops the VM (as in Firecracker).

use crate::allocator::bus::{BusDevice, GuestRequest};

/// Status register: no data, input buffer empty.
const STATUS_IDLE: u8 = 0x00;
/// Command: pulse the reset line.
const CMD_RESET_CPU: u8 = 0xfe;

/// The i8042 device, at ports 0x60..=0x64 (offset 0 = data, offset 4 = command/status).
#[derive(Default)]
pub struct I8042 {
    resets: u32,
}

impl I8042 {
    /// A new controller.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many reset requests the guest made.
    pub fn resets(&self) -> u32 {
        self.resets
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = match offset {
            4 => STATUS_IDLE,
            _ => 0,
        };
        data.fill(0);
        if let Some(b) = data.first_mut() {
            *b = v;
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<GuestRequest> {
        if offset == 4 && data.first() == Some(&CMD_RESET_CPU) {
            self.resets += 1;
            return Some(GuestRequest::Reset);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reset_command_on_command_port_resets() {
        let mut d = I8042::new();
        assert_eq!(d.write(0, &[0xfe]), None);
        assert_eq!(d.write(4, &[0xd1]), None);
        assert_eq!(d.write(4, &[0xfe]), Some(GuestRequest::Reset));
        assert_eq!(d.resets(), 1);
        let mut s = [0xffu8];
        d.read(4, &mut s);
        assert_eq!(s[0], STATUS_IDLE);
    }
}
