//! 8250/16550 UART on COM1 (vm-superio), its output to stdout or a file, its interrupt on an
//! eventfd wired to the in-kernel irqchip.

use crate::allocator::bus::{BusDevice, GuestRequest};
use std::io::Write;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

/// Interrupt trigger backed by an eventfd registered as an irqfd.
pub struct EventFdTrigger(pub EventFd);

impl Trigger for EventFdTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// Where guest console output goes.
pub type ConsoleOut = LineOut<Box<dyn Write + Send>>;

/// The COM1 device.
pub struct SerialDevice {
    inner: Serial<EventFdTrigger, vm_superio::serial::NoEvents, ConsoleOut>,
    warned: bool,
}

impl SerialDevice {
    /// A UART raising `irq_evt` and writing to `out`.
    pub fn new(irq_evt: EventFd, out: ConsoleOut) -> Self {
        SerialDevice {
            inner: Serial::new(EventFdTrigger(irq_evt), out),
            warned: false,
        }
    }

    /// Queues host input for the guest to read.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        self.inner.enqueue_raw_bytes(bytes).unwrap_or(0)
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) {
        let _ = self.inner.writer_mut().flush_all();
    }
}

impl BusDevice for SerialDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if data.len() == 1 && offset < 8 {
            data[0] = self.inner.read(offset as u8);
        } else {
            data.fill(0xff);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<GuestRequest> {
        if data.len() == 1 && offset < 8 {
            if let Err(e) = self.inner.write(offset as u8, data[0]) {
                // Once: a closed console must not flood the log at one line per guest byte.
                if !self.warned {
                    tracing::warn!("interpreter: serial: console output failed: {e:?}");
                    self.warned = true;
                }
            }
        }
        None
    }
}

/// Line-buffered writer: flushes on newline (so the host sees each guest line at once) and
/// when the buffer is large.
pub struct LineOut<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> LineOut<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        LineOut {
            inner,
            buf: Vec::with_capacity(256),
        }
    }
}

impl<W: Write> LineOut<W> {
    /// Writes out everything buffered, including a partial line.
    pub fn flush_all(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.inner.flush()
    }
}

impl<W: Write> Write for LineOut<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if b.contains(&b'\n') || self.buf.len() >= 4096 {
            self.flush_all()?;
        }
        Ok(b.len())
    }

    /// Partial lines stay buffered (the UART flushes after every byte); see `flush_all`.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn thr_writes_reach_the_sink_per_line() {
        let sink = Sink::default();
        let mut dev = SerialDevice::new(
            EventFd::new(0).unwrap(),
            LineOut::new(Box::new(sink.clone())),
        );
        for b in b"hi" {
            dev.write(0, &[*b]);
        }
        assert!(sink.0.lock().unwrap().is_empty());
        dev.write(0, b"\n");
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\n");
        // Wide and out-of-range accesses are ignored.
        dev.write(9, b"x");
        dev.write(0, b"xy");
        dev.write(0, b"z");
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\n");
        dev.flush();
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\nz");
        let mut d = [0u8; 2];
        dev.read(0, &mut d);
        assert_eq!(d, [0xff, 0xff]);
    }
}
