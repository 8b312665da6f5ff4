//! The producer handle: what the API, the bot and workers use to enqueue jobs and, where a
//! request needs the outcome, to wait for it. Its admin methods (listing, discarding,
//! replaying, pausing, queue sizes) are in `admin.rs`.

use std::sync::Arc;
use std::time::Duration;

use super::connect::{Conn, Heard, RedisClient};
use redis::AsyncCommands;

use super::error::QueueError;
use super::keys::QueueKeys;
use super::push::{Durability, PushLanes, RawPush, current_trace, push_raw};
use super::results::{DEFAULT_MAX_WAITERS, ResultHub};
use super::status::{recorded_status, status};
use crate::job::{Job, JobId, JobStatus, PushOptions, Pushed};

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
            client,
            conn,
            prefix: prefix.into(),
            probe: Arc::default(),
            jobs_in_entries: true,
        };
        let mut conn = producer.conn.clone();
        let registry = QueueKeys::registry(prefix);
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
        let mut items = jobs
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
        let keys = match &options.queue {
            Some(queue) => QueueKeys::new(&self.prefix, queue),
            None => self.keys::<J>(),
        };
        // One job: it joins whatever other single pushes to the queue wait right now.
        if items.len() == 1
            && let Some(item) = items.pop()
        {
            return Ok(vec![self.lanes.push(&keys, item).await?]);
        }
        push_raw(&mut self.push_conn.clone(), &keys, items, self.durability).await
    }

    /// The status of a job, `None` when it never existed or was trimmed after its TTL. A job
    /// without a hash that has not finished (a push whose result is not kept) is looked for in
    /// its queue's stream: up to 50 round trips, for admin reads.
    pub async fn status(&self, queue: &str, id: &JobId) -> Result<Option<JobStatus>, QueueError> {
        status(
            &mut self.conn.clone(),
            &QueueKeys::new(&self.prefix, queue),
            id,
        )
        .await
    }

    /// The status of a job as its hash and the done index record it, in one round trip: the
    /// whole status of a job that keeps its result ([`crate::Job::KEEP_RESULT`],
    /// [`PushOptions::keep_result`]) or is scheduled, which have a hash from their push. For
    /// any other job that has not finished it answers `None`. The read for ids a client sends.
    pub async fn recorded_status(
        &self,
        queue: &str,
        id: &JobId,
    ) -> Result<Option<JobStatus>, QueueError> {
        recorded_status(
            &mut self.conn.clone(),
            &QueueKeys::new(&self.prefix, queue),
            id,
        )
        .await
    }

    /// The same producer, its pushes made only once `replicas` replicas of the queue's node
    /// confirm them (`WAIT`, at most `timeout`; else [`QueueError::NotReplicated`]), on a
    /// connection of their own. 0 does not wait (the default): a push is then made once its
    /// node has it, and a failover may lose the last pushes the replica had not received.
    /// `REDIS_WAIT_REPLICAS`, `REDIS_WAIT_TIMEOUT_MS`.
    pub async fn with_wait_replicas(
        mut self,
        replicas: u32,
        timeout: Duration,
    ) -> Result<Self, QueueError> {
        let durability = Durability {
            replicas,
            timeout_ms: timeout.as_millis() as u64,
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

    /// Every job that finishes from now on in any queue of the deployment, as its queue
    /// announces it: `(queue, ids)`, the ids separated by spaces (one announcement per settle
    /// call). On one node, one pattern subscription; on a cluster, one sharded subscription
    /// per queue of the registry. Ends when the subscription does.
    pub async fn finished_announcements(
        &self,
    ) -> Result<impl futures::Stream<Item = (String, String)> + Send + use<>, QueueError> {
        let (mut subscriptions, messages) = self.client.subscriber().await?;
        if self.client.is_cluster() {
            let queues: Vec<String> = self
                .connection()
                .smembers(QueueKeys::registry(&self.prefix))
                .await?;
            let channels: Vec<String> = queues
                .iter()
                .map(|queue| QueueKeys::new(&self.prefix, queue).results())
                .collect();
            subscriptions.subscribe(&channels).await?;
        } else {
            subscriptions
                .subscribe_pattern(&format!("{}:{{*}}:results", self.prefix))
                .await?;
        }
        Ok(futures::stream::unfold(
            (subscriptions, messages),
            |(subscriptions, mut messages)| async move {
                loop {
                    match messages.next().await? {
                        Heard::Message { channel, payload } => {
                            let Some(queue) = channel
                                .split_once('{')
                                .and_then(|(_, rest)| rest.split_once('}'))
                                .map(|(queue, _)| queue.to_owned())
                            else {
                                continue;
                            };
                            return Some(((queue, payload), (subscriptions, messages)));
                        }
                        Heard::Gap => continue,
                    }
                }
            },
        ))
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
