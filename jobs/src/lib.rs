//! The contract between producers (API, bot, workers) and workers: the typed payload of every
//! job with its stable queue name, the producer handle, and the Redis backend for apalis that
//! runs them. `jobs/README.md` explains the queue design.
//!
//! # Layout
//! - [`catalog`]: one file per job payload, named like its queue; [`for_each_job!`] names them all
//! - [`Job`], [`JobId`], [`PushOptions`], [`Pushed`], [`JobState`], [`JobStatus`]: the handle types
//! - [`now_ms`] (`clock.rs`): the one clock, UNIX milliseconds
//! - [`probe_run`]: bookkeeping of `concierge probe` runs
//! - [`ratelimit`]: fixed-window rate limits shared by every replica
//! - [`scrub`]: credentials cut out of error texts before they are stored, logged or exported
//! - [`trace`]: W3C trace context carried from requests and events into jobs
//! - [`metrics`]: the Prometheus registry of the process (HTTP, jobs, providers, queues)
//! - [`redis`]: [`Producer`] (push, push in bulk, schedule, idempotency, wait for a result,
//!   admin), [`RedisBackend`] (apalis `Backend` + `TaskSink`, its fetcher and keeper) and its
//!   [`redis::AckLayer`]; its own layout map lists its files

pub mod catalog;
mod clock;
mod job;
pub mod metrics;
pub mod probe_run;
pub mod ratelimit;
pub mod redis;
pub mod scrub;
pub mod trace;

pub use catalog::*;
pub use clock::now_ms;
pub use job::{Job, JobId, JobState, JobStatus, PushOptions, Pushed, Unavailable};
pub use redis::{Lease, Producer, QueueConfig, QueueError, RedisBackend};
