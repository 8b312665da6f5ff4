//! Job handlers, one file per job (named like its payload in `jobs`), and the runtime that
//! runs them: one apalis worker per queue in a `Monitor`, on the Redis backend of `jobs`.
//!
//! # Layout
//! - [`runtime`]: `concierge worker`: which queues, concurrency, graceful shutdown
//! - [`cron`]: periodic jobs fired once across replicas
//! - [`probe`]: the no-op job of `concierge probe`
//! - [`send_email`]: render, send and record one email
//! - [`exchange_oauth_code`]: OAuth code or token → linked account (Discord, Google)
//! - [`refresh_provider_token`]: keep stored provider tokens fresh
//! - [`sweep`]: periodic housekeeping
//! - [`providers`]: the outside services (SMTP, OAuth providers)

pub mod cron;
pub mod exchange_oauth_code;
pub mod probe;
pub mod providers;
pub mod refresh_provider_token;
pub mod runtime;
pub mod send_email;
pub mod sweep;

pub use runtime::{Deps, WorkerSettings, run};
