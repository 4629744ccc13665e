//! Talking to registries: settings, credentials, authentication, the HTTP client.

pub mod auth;
pub mod client;
pub mod config;
pub mod credentials;
pub mod options;

pub use client::{Endpoint, RegistryClient};
pub use config::RegistriesConfig;
pub use credentials::{AuthFile, Credentials};
pub use options::RegistryOptions;
