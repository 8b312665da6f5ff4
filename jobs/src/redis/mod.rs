//! The Redis backend: every queue is a Redis Stream read by one consumer group, with a sorted
//! set for delayed jobs and retry backoff, a dead-letter set, and a hash per job holding its
//! payload, state and result. All keys of a queue share the hash tag `{<queue>}` so a queue
//! lives in one Redis Cluster slot. See `jobs/README.md` for the design and the apalis-redis
//! defects it avoids.
//!
//! # Layout
//! - `producer.rs`: [`Producer`]: push, push in bulk, schedule, idempotency, wait for a result
//! - `push.rs`: the push script's calls, and the lanes coalescing concurrent single pushes
//! - `admin.rs`: the producer's admin methods (list, discard, replay, pause, depth, workers)
//! - `results.rs`: the one result subscription every waiter of a producer shares
//! - `feed.rs`: every job that finishes in any queue, for the board's live log
//! - `backend.rs`: [`RedisBackend`] and the apalis traits a worker runs on
//! - `fetch.rs`: the fetcher of a worker run: promote due jobs, read the stream, claim
//! - `keeper.rs`: the keeper of a worker run: heartbeats, leases, take-over from dead workers
//! - `ack.rs`: [`AckLayer`]: record each attempt's outcome; hand unrun claims back
//! - `shared.rs`: what a run's parts share ([`Lease`], the queue's connection and settings)
//! - `introspect.rs`, `stats.rs`, `watch.rs`: apalis' listing, metrics and result traits
//!   (apalis-board), and [`QueueView`]
//! - `status.rs`: one job's status read from its hash; `contents.rs`: what a queue holds
//! - `connect.rs`: [`RedisClient`] (one node or a cluster) and [`Conn`], the connections
//!   it opens, and the subscriptions results are announced on
//! - `keys.rs`, `config.rs`, `scripts.rs`, `error.rs`: key names, tuning, the Lua scripts,
//!   [`QueueError`]

mod ack;
mod admin;
mod backend;
mod config;
mod connect;
mod contents;
mod error;
mod feed;
mod fetch;
mod introspect;
mod keeper;
mod keys;
mod producer;
mod push;
mod results;
mod scripts;
mod shared;
mod stats;
mod status;
mod watch;

pub use ack::{AckLayer, AckService, release_held};
pub use admin::{MinuteCounts, QueueDepth, WorkerInfo};
pub use backend::RedisBackend;
pub use config::QueueConfig;
pub use connect::{Conn, RedisClient};
pub use error::QueueError;
pub use introspect::{Inspection, QueueView};
pub use keeper::worker_name;
pub use keys::{GROUP, QueueKeys, shard_name, shard_of};
pub use producer::{MAX_SHARDS, Producer};
pub use results::DEFAULT_MAX_WAITERS;
pub use shared::Lease;
pub use status::apalis_status;
