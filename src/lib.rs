//! The `concierge` binary's own library: what the composition root needs beyond the crates it
//! composes, kept in a library so integration tests can use it too.
//!
//! # Layout
//! - [`config`]: the one typed configuration, from environment, `.env` and YAML
//! - [`telemetry`]: logging setup (human or JSON)

pub mod config;
pub mod telemetry;
