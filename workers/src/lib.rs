//! Job handlers, one file per job (named like its payload in `jobs`), and the runtime that
//! runs them: one apalis worker per queue in a `Monitor`, on the Redis backend of `jobs`.
//!
//! # Layout
//! - [`runtime`]: `concierge worker`: which queues, concurrency, graceful shutdown
//! - [`cron`]: periodic jobs fired once across replicas
//! - [`probe`]: the no-op job of `concierge probe`
//! - [`send_email`]: render, send and record one email
//! - [`sweep`]: periodic housekeeping
//! - [`providers`]: the outside services (SMTP)

pub mod cron;
pub mod probe;
pub mod providers;
pub mod runtime;
pub mod send_email;
pub mod sweep;

pub use runtime::{Deps, WorkerSettings, run};
