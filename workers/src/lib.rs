//! Job handlers, one file per job (named like its payload in `jobs`), and the runtime that
//! runs them: one apalis worker per queue in a `Monitor`, on the Redis backend of `jobs`.
//!
//! # Layout
//! - [`runtime`]: `concierge worker`: which queues, concurrency, graceful shutdown
//! - [`cron`]: periodic jobs fired once across replicas
//! - [`probe`]: the no-op job of `concierge probe`
//! - [`sweep`]: periodic housekeeping

pub mod cron;
pub mod probe;
pub mod runtime;
pub mod sweep;

pub use runtime::{Deps, WorkerSettings, run};
