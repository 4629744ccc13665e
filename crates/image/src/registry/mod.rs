//! Talking to registries: settings, credentials, the HTTP client.

pub mod auth;
pub mod client;
pub mod config;

pub use auth::{AuthFile, Credentials};
pub use client::{Endpoint, RegistryClient};
pub use config::RegistriesConfig;
