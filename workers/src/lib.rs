//! Job handlers, one file per job (named like its payload in `jobs`), and the runtime that
//! runs them: one apalis worker per queue in a `Monitor`, on the Redis backend of `jobs`.
//!
//! # Layout
//! - [`runtime`]: `concierge worker`: which queues, concurrency, graceful shutdown
//! - [`probe`]: the no-op job of `concierge probe`

pub mod probe;
pub mod runtime;

pub use runtime::{Deps, WorkerSettings, run};
