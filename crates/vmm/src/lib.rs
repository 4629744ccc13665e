//! strata-vmm: a KVM microVM monitor organised by Popek & Goldberg's reference model:
//! the [`dispatcher`] runs vCPUs and routes every exit, the [`allocator`] owns guest memory,
//! address spaces and interrupt lines, the [`interpreter`] emulates devices.

pub mod allocator;
pub mod api;
pub mod boot;
pub mod config;
pub mod dispatcher;
pub mod error;
pub mod interpreter;
pub mod security;
pub mod snapshot;
pub mod vm;
