//! Dispatcher: the vCPU run loops. Every VM exit is routed to a handler: port and MMIO
//! accesses to the allocator's buses (and so to the interpreter's devices), and the exits
//! that end a VM to a distinct, layer-named outcome.

pub mod exit;
pub mod kick;
pub mod vcpu;
