//! The producer handle: what the API, the bot and workers use to enqueue jobs and, where a
//! request needs the outcome, to wait for it. Its admin methods (listing, discarding,
//! replaying, pausing, queue sizes) are in `admin.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::connect::{Conn, RedisClient};
use redis::AsyncCommands;

use super::error::QueueError;
use super::keys::QueueKeys;
use super::push::{Durability, PushLanes, RawPush, current_trace, push_raw};
use super::results::{DEFAULT_MAX_WAITERS, ResultHub};
use super::status::{recorded_status, status};
use crate::job::{Job, JobId, JobStatus, PushOptions, Pushed};

/// The most shards a queue may be split into (`QUEUE_SHARDS_<QUEUE>` is checked against it).
pub const MAX_SHARDS: usize = 64;

/// How long an idempotency key is remembered when the push does not say.
pub(crate) const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Enqueues jobs. Cheap to clone: one multiplexed connection serves every clone, so pushes
/// from many tasks are pipelined together.
#[derive(Clone)]
pub struct Producer {
    client: RedisClient,
    conn: Conn,
    prefix: Arc<str>,
    /// One result subscription shared by every waiter of this producer and its clones.
    results: Arc<ResultHub>,
    /// The probe jobs' group-commit recorder, started by the first probe that runs.
    probe: Arc<std::sync::OnceLock<crate::probe_run::Recorder>>,
    /// Concurrent single pushes to a queue, coalesced into one script call (`push.rs`).
    lanes: Arc<PushLanes>,
    /// A plain push writes the job into its stream entry, with no hash (`push.lua`).
    jobs_in_entries: bool,
    /// Replicas a push waits for ([`Producer::with_wait_replicas`]).
    durability: Durability,
    /// The connection pushes go out on: [`Producer::connection`], or one of their own when
    /// they wait for replicas (a `WAIT` holds up whatever shares its connection).
    push_conn: Conn,
    /// Queues split into shards, and into how many ([`Producer::with_shards`]).
    shards: Arc<HashMap<String, usize>>,
    /// Where the next push without a key goes, among a queue's shards (round robin).
    spread: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to Redis, one node or a cluster (a `redis::Client` is one node). `prefix`
    /// starts every key (`REDIS_KEY_PREFIX`).
    pub async fn connect(client: impl Into<RedisClient>, prefix: &str) -> Result<Self, QueueError> {
        let client = client.into();
        let conn = client.shared().await?;
        let producer = Self {
            results: ResultHub::new(client.clone(), DEFAULT_MAX_WAITERS),
            lanes: Arc::new(PushLanes::new(conn.clone(), Durability::default())),
            durability: Durability::default(),
            push_conn: conn.clone(),
            shards: Arc::default(),
            spread: Arc::default(),
            client,
            conn,
            prefix: prefix.into(),
            probe: Arc::default(),
            jobs_in_entries: true,
        };
        let mut conn = producer.conn.clone();
        let registry = QueueKeys::registry(prefix);
        if producer.client.is_cluster() {
            // Finished jobs are announced with SPUBLISH (Redis 7.0): on an older cluster a
            // script would fail after its writes, so refuse to start instead.
            let sharded: Result<i64, _> = redis::cmd("SPUBLISH")
                .arg(QueueKeys::new(prefix, "probe").results())
                .arg("")
                .query_async(&mut conn)
                .await;
            if let Err(e) = sharded {
                return Err(QueueError::Protocol(format!(
                    "a Redis Cluster needs Redis 7.0 or later (SPUBLISH): {e}"
                )));
            }
        }
        let _: () = conn.sadd(registry, crate::catalog::QUEUES).await?;
        Ok(producer)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether a plain push (to run now, result not kept) writes the whole job into its stream
    /// entry and no hash (the default), or a hash as before `8e4b4c8`. Workers from before
    /// read only the latter: turn it off on every process that pushes (workers push too) while
    /// any of them still runs (`REDIS_JOBS_IN_ENTRIES=false`).
    pub fn with_jobs_in_entries(mut self, on: bool) -> Self {
        self.jobs_in_entries = on;
        self
    }

    pub(crate) fn jobs_in_entries(&self) -> bool {
        self.jobs_in_entries
    }

    /// The recorder of probe runs this producer and its clones share (on the first call's
    /// runtime).
    pub fn probe_recorder(&self) -> &crate::probe_run::Recorder {
        self.probe
            .get_or_init(|| crate::probe_run::Recorder::spawn(self.conn.clone()))
    }

    pub fn keys<J: Job>(&self) -> QueueKeys {
        QueueKeys::new(&self.prefix, J::QUEUE)
    }

    /// Enqueues one job to run now.
    pub async fn push<J: Job>(&self, job: &J) -> Result<Pushed, QueueError> {
        self.push_with(job, PushOptions::default()).await
    }

    /// Enqueues one job with options (delay, idempotency key, attempts).
    pub async fn push_with<J: Job>(
        &self,
        job: &J,
        options: PushOptions,
    ) -> Result<Pushed, QueueError> {
        let mut pushed = self.push_many(std::slice::from_ref(job), &options).await?;
        pushed
            .pop()
            .ok_or_else(|| QueueError::Protocol("the push script answered nothing".into()))
    }

    /// Script calls this producer and its clones made for single pushes so far. Concurrent
    /// single pushes to one queue share a call, so under load this grows slower than the
    /// number of pushes.
    pub fn single_push_calls(&self) -> u64 {
        self.lanes.calls()
    }

    /// Enqueues many jobs in one round trip. Options apply to every job; an idempotency key
    /// gets the job's index appended, so each job is deduplicated on its own.
    pub async fn push_bulk<J: Job>(
        &self,
        jobs: &[J],
        options: PushOptions,
    ) -> Result<Vec<Pushed>, QueueError> {
        self.push_many(jobs, &options).await
    }

    /// Runs `job` at `at_ms` (UNIX milliseconds).
    pub async fn schedule<J: Job>(&self, job: &J, at_ms: u64) -> Result<Pushed, QueueError> {
        self.push_with(job, PushOptions::at(at_ms)).await
    }

    async fn push_many<J: Job>(
        &self,
        jobs: &[J],
        options: &PushOptions,
    ) -> Result<Vec<Pushed>, QueueError> {
        let max_attempts = options.max_attempts.unwrap_or(J::MAX_ATTEMPTS).max(1);
        let run_at_ms = options.run_at_ms.unwrap_or(0);
        let idempotency_ttl_ms = options
            .idempotency_ttl
            .unwrap_or(DEFAULT_IDEMPOTENCY_TTL)
            .as_millis() as u64;
        let trace = current_trace();
        let items = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                Ok(RawPush {
                    id: JobId::generate(),
                    payload: serde_json::to_vec(job)?,
                    max_attempts,
                    run_at_ms,
                    idempotency_key: options.idempotency_key.as_ref().map(|k| {
                        if jobs.len() == 1 {
                            k.clone()
                        } else {
                            format!("{k}:{i}")
                        }
                    }),
                    idempotency_ttl_ms,
                    trace: trace.clone(),
                    // A kept job has a hash from its push on, so a waiter reads it in one go.
                    keep_result: options.keep_result || J::KEEP_RESULT,
                    hashed: !self.jobs_in_entries,
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        let queue = options.queue.as_deref().unwrap_or(J::QUEUE);
        let shards = self.shards(queue);
        if shards <= 1 {
            return self
                .push_to(QueueKeys::new(&self.prefix, queue), items)
                .await;
        }
        // Split: a keyed job goes to its key's shard (an idempotency key is only checked in
        // its shard), the others round robin; each shard's share is one push of its own.
        let start = self.spread.fetch_add(items.len(), Ordering::Relaxed);
        let mut by_shard: Vec<(Vec<usize>, Vec<RawPush>)> =
            (0..shards).map(|_| Default::default()).collect();
        for (k, item) in items.into_iter().enumerate() {
            let key = options
                .order_key
                .as_deref()
                .or(item.idempotency_key.as_deref());
            let shard = match key {
                Some(key) => (stable_hash(key) % shards as u64) as usize,
                None => start.wrapping_add(k) % shards,
            };
            by_shard[shard].0.push(k);
            by_shard[shard].1.push(item);
        }
        let mut order = Vec::new();
        let mut calls = Vec::new();
        for (shard, (indexes, items)) in by_shard.into_iter().enumerate() {
            if items.is_empty() {
                continue;
            }
            order.push(indexes);
            let keys = QueueKeys::new(&self.prefix, &super::keys::shard_name(queue, shard));
            calls.push(self.push_to(keys, items));
        }
        let replies = futures::future::try_join_all(calls).await?;
        let mut pushed: Vec<Option<Pushed>> = vec![None; order.iter().map(Vec::len).sum()];
        for (indexes, replies) in order.into_iter().zip(replies) {
            for (k, reply) in indexes.into_iter().zip(replies) {
                pushed[k] = Some(reply);
            }
        }
        pushed
            .into_iter()
            .map(|p| p.ok_or_else(|| QueueError::Protocol("a shard answered too few".into())))
            .collect()
    }

    /// Pushes to one queue (or shard): a single job joins the lane of single pushes waiting
    /// right now, more go out as one bulk push.
    async fn push_to(
        &self,
        keys: QueueKeys,
        mut items: Vec<RawPush>,
    ) -> Result<Vec<Pushed>, QueueError> {
        if items.len() == 1
            && let Some(item) = items.pop()
        {
            return Ok(vec![self.lanes.push(&keys, item).await?]);
        }
        push_raw(&mut self.push_conn.clone(), &keys, items, self.durability).await
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    pub(crate) fn push_connection(&self) -> Conn {
        self.push_conn.clone()
    }

    /// How many shards `queue` is split into (1: not split).
    pub fn shards(&self, queue: &str) -> usize {
        self.shards.get(queue).copied().unwrap_or(1).max(1)
    }

    /// The same producer, each queue of `shards` split into that many shards
    /// (`QUEUE_SHARDS_<QUEUE>`): queues of their own, `<queue>~1` … (shard 0 is the queue
    /// itself), each with its own hash tag, so on a Redis Cluster one busy queue is served by
    /// several nodes. Pushes spread over them (jobs with an order or idempotency key go to
    /// that key's shard); workers serve every shard ([`Producer::shard_queues`]). The shards
    /// are added to the registry, so a worker started with fewer still drains them.
    pub async fn with_shards(mut self, shards: HashMap<String, usize>) -> Result<Self, QueueError> {
        let shards: HashMap<String, usize> = shards
            .into_iter()
            .map(|(queue, n)| (queue, n.clamp(1, MAX_SHARDS)))
            .collect();
        let names: Vec<String> = shards
            .iter()
            .flat_map(|(queue, n)| (1..*n).map(|i| super::keys::shard_name(queue, i)))
            .collect();
        if !names.is_empty() {
            let _: () = self
                .conn
                .clone()
                .sadd(QueueKeys::registry(&self.prefix), names)
                .await?;
        }
        self.shards = Arc::new(shards);
        Ok(self)
    }

    /// The queues that hold `queue`'s jobs: its shards as configured here, and any other
    /// shard of it in the registry (left by a process configured with more), so that every
    /// job pushed to any of them is served.
    pub async fn shard_queues(&self, queue: &str) -> Result<Vec<String>, QueueError> {
        let registered: Vec<String> = self
            .conn
            .clone()
            .smembers(QueueKeys::registry(&self.prefix))
            .await?;
        let highest = registered
            .iter()
            .map(|name| super::keys::shard_of(name))
            .filter(|(of, _)| *of == queue)
            .map(|(_, i)| i.saturating_add(1))
            .max()
            .unwrap_or(1);
        // A stale or forged registry entry (`send_email~999`) cannot make a worker serve
        // more than the most shards a queue may have.
        let count = highest.max(self.shards(queue)).min(MAX_SHARDS);
        Ok((0..count)
            .map(|i| super::keys::shard_name(queue, i))
            .collect())
    }

    /// The status of a job, `None` when it never existed or was trimmed after its TTL. A job
    /// without a hash that has not finished (a push whose result is not kept) is looked for in
    /// its queue's stream: up to 50 round trips, for admin reads.
    pub async fn status(&self, queue: &str, id: &JobId) -> Result<Option<JobStatus>, QueueError> {
        for keys in self.keys_of_shards(queue) {
            if let Some(found) = status(&mut self.conn.clone(), &keys, id).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The status of a job as its hash and the done index record it, in one round trip: the
    /// whole status of a job that keeps its result ([`crate::Job::KEEP_RESULT`],
    /// [`PushOptions::keep_result`]) or is scheduled, which have a hash from their push. For
    /// any other job that has not finished it answers `None`. The read for ids a client sends
    /// (a round trip per shard of a split queue).
    pub async fn recorded_status(
        &self,
        queue: &str,
        id: &JobId,
    ) -> Result<Option<JobStatus>, QueueError> {
        for keys in self.keys_of_shards(queue) {
            if let Some(found) = recorded_status(&mut self.conn.clone(), &keys, id).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The keys of each shard of `queue` this producer pushes to (one: the queue's own, for
    /// a queue not split or a shard named by itself).
    pub(crate) fn keys_of_shards(&self, queue: &str) -> Vec<QueueKeys> {
        (0..self.shards(queue))
            .map(|i| QueueKeys::new(&self.prefix, &super::keys::shard_name(queue, i)))
            .collect()
    }

    /// The same producer, its pushes made only once `replicas` replicas of the queue's node
    /// confirm them (`WAIT`, at most `timeout`, up to 5 s; else [`QueueError::NotReplicated`]), on a
    /// connection of their own. 0 does not wait (the default): a push is then made once its
    /// node has it, and a failover may lose the last pushes the replica had not received.
    /// `REDIS_WAIT_REPLICAS`, `REDIS_WAIT_TIMEOUT_MS`.
    pub async fn with_wait_replicas(
        mut self,
        replicas: u32,
        timeout: Duration,
    ) -> Result<Self, QueueError> {
        // Under the 10 s a command may take, or the wait fails as a timeout instead.
        let durability = Durability {
            replicas,
            timeout_ms: timeout.as_millis().min(5_000) as u64,
        };
        if durability == self.durability {
            return Ok(self);
        }
        self.push_conn = if replicas == 0 {
            self.conn.clone()
        } else {
            self.client.shared().await?
        };
        self.durability = durability;
        self.lanes = Arc::new(PushLanes::new(self.push_conn.clone(), durability));
        Ok(self)
    }

    /// The same producer with its own result subscription allowing `max` waiters at once
    /// (default [`DEFAULT_MAX_WAITERS`]).
    pub fn with_max_waiters(mut self, max: usize) -> Self {
        self.results = ResultHub::new(self.client.clone(), max);
        self
    }

    /// Waits until the job reaches a final state (done, failed, dead) and returns its status,
    /// or `None` after `timeout`. Woken by the worker's announcement on the one result
    /// subscription this producer shares among all its waiters, not by polling;
    /// [`QueueError::Busy`] when the producer already has its maximum of waiters.
    pub async fn wait(
        &self,
        queue: &str,
        id: &JobId,
        timeout: Duration,
    ) -> Result<Option<JobStatus>, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        self.results
            .wait(self.conn.clone(), &keys, id, timeout)
            .await
    }

    /// Requests waiting for job results right now (through [`Producer::wait`]).
    pub fn waiting(&self) -> usize {
        self.results.waiting()
    }

    /// The client, for callers that need connections of their own (blocking reads, pub/sub).
    pub fn client(&self) -> RedisClient {
        self.client.clone()
    }

    /// The shared connection, for callers that read queue data directly (probe, dashboard).
    pub fn connection(&self) -> Conn {
        self.conn.clone()
    }
}

/// FNV-1a: the same shard for the same key in every process and version.
fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
