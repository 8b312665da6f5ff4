//! The benchmark cases, one file each (a case is a method of [`Bench`](crate::subject::Bench)
//! that prints its JSON line): the order `main` runs them in is the order below.
//!
//! - `redis_benchmark`: the physical limit, `redis-benchmark` on the commands one job needs
//! - `enqueue`: `enqueue_single` (one job per call) and `enqueue_bulk` (batches)
//! - `drain`: `drain` (a queued backlog run by one worker) and `due_backlog` (a backlog due at
//!   once)
//! - `latency`: enqueue → start, `latency_at_rate` and `latency_after_idle`
//! - `rss`: `worker_rss`, the memory of a `concierge worker` process
//! - `scaling`: 1, 2 and 4 `concierge worker` processes on one queue
//! - `login_storm`: issue 11's anonymous-cost case against `concierge api` and `worker`
//! - `worker_drain`: `concierge worker` at its defaults (and at set concurrencies) draining
//!   probe jobs, checked for jobs run twice or lost (issue 14, against BullMQ)
//! - `soak`: `memory_soak`, Redis memory per finished job after minutes at full speed
//! - `onboarding`: `POST /api/user/onboarding` from 64 clients beside `pgbench` inserting
//!   single rows (issue 14)
//!
//! - `cluster`: a sharded probe queue on a Redis Cluster of 1, 2 and 3 masters, and what
//!   waiting for a replica costs a push (issue 15)
//!
//! `api` holds what the API cases share: `concierge` processes started as an operator would.

mod api;
mod cluster;
mod drain;
mod enqueue;
mod latency;
mod login_storm;
mod onboarding;
mod redis_benchmark;
mod rss;
mod scaling;
mod soak;
mod worker_drain;
