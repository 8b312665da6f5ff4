//! What the parts of a worker run share: the queue's connection and settings ([`Shared`],
//! one per backend and its clones), the claim on one job ([`Lease`], attached to each task),
//! and the fetcher's and keeper's way to hand tasks to apalis ([`Feed`]).

use std::sync::Arc;

use super::connect::Conn;
use apalis_core::task::Task;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::config::QueueConfig;
use super::keys::QueueKeys;
use crate::job::JobId;

/// A worker's claim on a job, attached to each task (`task.data()`): the stream entry to
/// acknowledge and the numbers the acknowledgement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The stream entry id (the job's place in the consumer group).
    pub entry: String,
    /// The job's id: its hash, and the id apalis knows the task by.
    pub job_id: JobId,
    /// The worker (consumer-group member) holding the claim; a take-over moves it elsewhere.
    pub consumer: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The job's attempt budget: this attempt failing at `attempt >= max_attempts` is final.
    pub max_attempts: u32,
    /// When the job was pushed, and when this attempt was claimed (UNIX ms).
    pub enqueued_at_ms: u64,
    pub claimed_at_ms: u64,
    /// The trace context of whatever pushed the job.
    pub trace: Option<crate::trace::TraceParent>,
    /// The job has no hash in Redis: this is the first delivery of a push that put everything
    /// in the stream entry (`push.lua`), so settling it writes nothing per job when done.
    pub hashless: bool,
}

/// State shared by a queue's backend clones and its acknowledgement layer.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The queue served: every key the scripts touch.
    pub keys: QueueKeys,
    /// Timings and limits of this queue (lease, heartbeat, idle wait, TTLs, backoff).
    pub config: QueueConfig,
    /// Opens the connections that must be the fetcher's own (a blocking `XREADGROUP` would
    /// stall every other command on a shared one) and apalis' result subscriptions.
    pub client: super::connect::RedisClient,
    /// The producer's multiplexed connection: claims, heartbeats and acknowledgements share
    /// it and are pipelined together.
    pub conn: Conn,
    /// Worker concurrency, reported in the worker registry and used as default prefetch.
    pub concurrency: usize,
    /// Stream entries this process holds (claimed, not yet recorded or handed back): the only
    /// ones its heartbeats renew.
    pub held: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The producer's [`crate::Producer::with_jobs_in_entries`], for pushes through apalis'
    /// `TaskSink`.
    pub jobs_in_entries: bool,
    /// The producer's replicas to wait for and the connection its pushes use
    /// ([`crate::Producer::with_wait_replicas`]), for the same pushes.
    pub durability: super::push::Durability,
    pub push_conn: Conn,
}

impl Shared {
    pub(crate) fn hold(&self, entries: impl IntoIterator<Item = String>) {
        if let Ok(mut held) = self.held.lock() {
            held.extend(entries);
        }
    }

    pub(crate) fn let_go<'a>(&self, entries: impl IntoIterator<Item = &'a String>) {
        if let Ok(mut held) = self.held.lock() {
            for entry in entries {
                held.remove(entry);
            }
        }
    }

    pub(crate) fn held_entries(&self) -> Vec<String> {
        self.held
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// What the two tasks of one worker run (the fetcher and the keeper) are given: both claim
/// jobs for the same consumer and hand them to apalis through the same bounded channel.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    pub shared: Arc<Shared>,
    /// The consumer name of this run (unique per start, see [`super::worker_name`]).
    pub consumer: String,
    /// Where claimed tasks go; its capacity is the room the worker has.
    pub tx: mpsc::Sender<Task<Vec<u8>>>,
    /// Cancelled when the run closes or is dropped.
    pub stop: CancellationToken,
}
