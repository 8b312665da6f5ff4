//! The producer handle: what the API, the bot and workers use to enqueue jobs and, where a
//! request needs the outcome, to wait for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{QueueError, QueueKeys, scripts};
use crate::{Job, JobId, JobStatus, PushOptions, Pushed, now_ms};

/// Jobs per push script call: keeps each call short (Redis runs one script at a time) while a
/// bulk push of any size still goes out in one round trip (the calls are pipelined).
const PUSH_CHUNK: usize = 1_000;
/// How long an idempotency key is remembered when the push does not say.
pub(crate) const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Enqueues jobs. Cheap to clone: one multiplexed connection serves every clone, so pushes
/// from many tasks are pipelined together.
#[derive(Clone)]
pub struct Producer {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: Arc<str>,
    /// One result subscription shared by every waiter of this producer and its clones.
    results: Arc<super::results::ResultHub>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to Redis. `prefix` starts every key (`REDIS_KEY_PREFIX`).
    pub async fn connect(client: redis::Client, prefix: &str) -> Result<Self, QueueError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let conn = client.get_connection_manager_with_config(config).await?;
        let producer = Self {
            results: super::results::ResultHub::new(
                client.clone(),
                super::results::DEFAULT_MAX_WAITERS,
            ),
            client,
            conn,
            prefix: prefix.into(),
        };
        let mut conn = producer.conn.clone();
        let registry = QueueKeys::registry(prefix);
        let _: () = conn.sadd(registry, crate::QUEUES).await?;
        Ok(producer)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
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
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        let ttl = options.idempotency_ttl.unwrap_or(DEFAULT_IDEMPOTENCY_TTL);
        let keys = match &options.queue {
            Some(queue) => QueueKeys::new(&self.prefix, queue),
            None => self.keys::<J>(),
        };
        let trace = crate::trace::current()
            .map(|t| t.to_string())
            .unwrap_or_default();
        push_raw(&mut self.conn.clone(), &keys, items, ttl, &trace).await
    }

    /// Every queue known to this deployment (the catalog's and any other that workers serve,
    /// such as extra probe queues), sorted.
    pub async fn queues(&self) -> Result<Vec<String>, QueueError> {
        super::introspect::queue_names(&mut self.conn.clone(), &self.prefix).await
    }

    /// The status of a job, `None` when it never existed or was trimmed after its TTL.
    pub async fn status(&self, queue: &str, id: &JobId) -> Result<Option<JobStatus>, QueueError> {
        status(
            &mut self.conn.clone(),
            &QueueKeys::new(&self.prefix, queue),
            id,
        )
        .await
    }

    /// The same producer with its own result subscription allowing `max` waiters at once
    /// (default [`super::DEFAULT_MAX_WAITERS`]).
    pub fn with_max_waiters(mut self, max: usize) -> Self {
        self.results = super::results::ResultHub::new(self.client.clone(), max);
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

    /// Puts dead-letter jobs of `queue` back into the stream with a fresh attempt budget:
    /// the given ids, or the oldest `limit` when `ids` is empty. Returns the ids replayed.
    pub async fn replay_dead(
        &self,
        queue: &str,
        ids: &[JobId],
        limit: usize,
    ) -> Result<Vec<JobId>, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let mut invocation = scripts::REPLAY.prepare_invoke();
        invocation.key(&keys.base).arg(limit.max(1));
        for id in ids {
            invocation.arg(id.as_str());
        }
        let replayed: Vec<String> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(replayed.into_iter().map(JobId).collect())
    }

    /// How many jobs of `queue` are waiting (stream entries not yet delivered or still held),
    /// delayed (of which retrying), and dead.
    pub async fn depth(&self, queue: &str) -> Result<QueueDepth, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let mut conn = self.conn.clone();
        let (waiting, held) = super::stream_jobs(&mut conn, &keys).await?;
        let (delayed, retrying, dead): (u64, u64, u64) = redis::pipe()
            .zcard(keys.delayed())
            .zcard(keys.retrying())
            .zcard(keys.dead())
            .query_async(&mut conn)
            .await?;
        Ok(QueueDepth {
            waiting,
            running: held,
            stream: waiting + held,
            delayed,
            retrying: retrying.min(delayed),
            dead,
        })
    }

    /// Stops workers from claiming jobs of `queue` (running ones finish; pushes still queue).
    /// Fetchers notice at their next wake-up, within `QueueConfig::idle_wait`.
    pub async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        let key = format!("{}:paused", QueueKeys::new(&self.prefix, queue).base);
        let _: () = self.conn.clone().set(key, now_ms()).await?;
        Ok(())
    }

    pub async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        let key = format!("{}:paused", QueueKeys::new(&self.prefix, queue).base);
        let _: () = self.conn.clone().del(key).await?;
        Ok(())
    }

    pub async fn is_paused(&self, queue: &str) -> Result<bool, QueueError> {
        let key = format!("{}:paused", QueueKeys::new(&self.prefix, queue).base);
        Ok(self.conn.clone().exists(key).await?)
    }

    /// Deletes a job that is not running: from the dead-letter set, the delayed set, or the
    /// stream (a queued entry whose job is gone is skipped when claimed). False when there is
    /// no such job, or it is running (a running job cannot be recalled).
    pub async fn discard(&self, queue: &str, id: &JobId) -> Result<bool, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let mut conn = self.conn.clone();
        let Some(status) = self.status(queue, id).await? else {
            return Ok(false);
        };
        if status.state == crate::JobState::Running {
            return Ok(false);
        }
        let _: () = redis::pipe()
            .zrem(keys.dead(), id.as_str())
            .zrem(keys.delayed(), id.as_str())
            .zrem(keys.retrying(), id.as_str())
            .zrem(keys.done(), id.as_str())
            .del(keys.job(id.as_str()))
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    /// Jobs of `queue` in `state` (`None`: waiting), newest first for finished ones.
    pub async fn list(
        &self,
        queue: &str,
        state: Option<crate::JobState>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<JobStatus>, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let mut conn = self.conn.clone();
        let ids = match state {
            // Both live in the delayed set (apalis' `Pending`); the retrying set tells them apart.
            Some(crate::JobState::Retrying) => {
                let stop = (offset + limit).saturating_sub(1) as isize;
                conn.zrevrange(keys.retrying(), offset as isize, stop)
                    .await?
            }
            Some(crate::JobState::Scheduled) => {
                scheduled_ids(&mut conn, &keys, offset, limit).await?
            }
            _ => {
                let apalis_state = state.map(super::introspect::apalis_status);
                super::introspect::ids_with_status(
                    &mut conn,
                    &keys,
                    apalis_state.as_ref(),
                    offset,
                    limit,
                )
                .await?
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = status(&mut conn, &keys, &JobId(id)).await? {
                // The retrying set may trail a promotion by one promote call.
                if state == Some(crate::JobState::Retrying) && s.state != crate::JobState::Retrying
                {
                    continue;
                }
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Jobs of `queue` that finished (done, failed or dead) in the last minute: the queue's
    /// throughput.
    pub async fn finished_last_minute(&self, queue: &str) -> Result<u64, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let since = now_ms().saturating_sub(60_000);
        let (done, dead): (u64, u64) = redis::pipe()
            .zcount(keys.done(), since, "+inf")
            .zcount(keys.dead(), since, "+inf")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(done + dead)
    }

    /// The live workers of `queue` (heartbeat within two leases): name, host, pid,
    /// concurrency and last heartbeat.
    pub async fn workers(
        &self,
        queue: &str,
        lease: Duration,
    ) -> Result<Vec<WorkerInfo>, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let mut conn = self.conn.clone();
        let since = now_ms().saturating_sub(lease.as_millis() as u64 * 2);
        let names: Vec<(String, u64)> = conn
            .zrangebyscore_withscores(keys.workers(), since, "+inf")
            .await?;
        let mut out = Vec::with_capacity(names.len());
        for (name, beat) in names {
            let info: HashMap<String, String> = conn.hgetall(keys.worker(&name)).await?;
            out.push(WorkerInfo {
                queue: queue.to_owned(),
                host: info.get("host").cloned().unwrap_or_default(),
                pid: info
                    .get("pid")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_default(),
                concurrency: info
                    .get("concurrency")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_default(),
                last_heartbeat_ms: beat,
                name,
            });
        }
        Ok(out)
    }

    /// How long the oldest unfinished job of `queue` has been in its stream (0 when empty).
    /// Approximate: acknowledged entries leave the stream one settle batch late.
    pub async fn oldest_age_ms(&self, queue: &str) -> Result<u64, QueueError> {
        let keys = QueueKeys::new(&self.prefix, queue);
        let first: redis::streams::StreamRangeReply = self
            .conn
            .clone()
            .xrange_count(keys.stream(), "-", "+", 1)
            .await?;
        let Some(entry) = first.ids.first() else {
            return Ok(0);
        };
        let at: u64 = entry
            .id
            .split('-')
            .next()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(now_ms);
        Ok(now_ms().saturating_sub(at))
    }

    /// The client, for callers that need connections of their own (blocking reads, pub/sub).
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }

    /// The shared connection, for callers that read queue data directly (probe, dashboard).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// One live worker of a queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkerInfo {
    pub name: String,
    pub queue: String,
    pub host: String,
    pub pid: u32,
    pub concurrency: u32,
    pub last_heartbeat_ms: u64,
}

/// Sizes of a queue's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Entries not yet delivered to a worker.
    pub waiting: u64,
    /// Entries a worker holds (running, or claimed and about to run).
    pub running: u64,
    /// Entries in the stream: waiting or held by a worker.
    pub stream: u64,
    /// Scheduled jobs and retries waiting for their time.
    pub delayed: u64,
    /// Of `delayed`, the retries: jobs whose attempt failed, waiting for their backoff.
    pub retrying: u64,
    /// Dead-letter jobs.
    pub dead: u64,
}

pub(crate) async fn status(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<Option<JobStatus>, QueueError> {
    let fields: HashMap<String, Vec<u8>> = conn.hgetall(keys.job(id.as_str())).await?;
    Ok(super::parse_status(&keys.queue, id.as_str(), fields))
}

/// One job to push, already encoded.
#[derive(Debug)]
pub(crate) struct RawPush {
    pub id: JobId,
    pub payload: Vec<u8>,
    pub max_attempts: u32,
    /// 0: now.
    pub run_at_ms: u64,
    pub idempotency_key: Option<String>,
}

/// Pushes encoded jobs: one script call per chunk, all calls pipelined in one round trip.
pub(crate) async fn push_raw(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    items: Vec<RawPush>,
    idempotency_ttl: Duration,
    trace: &str,
) -> Result<Vec<Pushed>, QueueError> {
    let ttl = idempotency_ttl.as_millis() as u64;
    let now = now_ms();
    // Each chunk's call is sent as soon as it is encoded, so encoding the next chunk overlaps
    // with Redis running the previous one; the multiplexed connection pipelines them.
    let mut calls = Vec::with_capacity(items.len().div_ceil(PUSH_CHUNK));
    for chunk in items.chunks(PUSH_CHUNK) {
        let mut invocation = scripts::PUSH.prepare_invoke();
        invocation.key(&keys.base).arg(now).arg(trace);
        for item in chunk {
            invocation
                .arg(item.id.as_str())
                .arg(item.payload.as_slice())
                .arg(item.max_attempts.max(1))
                .arg(item.run_at_ms)
                .arg(item.idempotency_key.as_deref().unwrap_or(""))
                .arg(ttl);
        }
        let mut conn = conn.clone();
        calls.push(tokio::spawn(async move {
            invocation.invoke_async::<Vec<String>>(&mut conn).await
        }));
    }
    let mut replies = Vec::with_capacity(calls.len());
    for call in calls {
        replies.push(
            call.await
                .map_err(|e| QueueError::Protocol(format!("push task failed: {e}")))?,
        );
    }
    let mut pushed = Vec::with_capacity(items.len());
    for reply in replies {
        for item in reply? {
            pushed.push(match item.split_once(':') {
                Some(("new", id)) => Pushed::Enqueued(JobId(id.to_owned())),
                Some(("dup", id)) => Pushed::Duplicate(JobId(id.to_owned())),
                _ => return Err(QueueError::Protocol(format!("push answered {item:?}"))),
            });
        }
    }
    Ok(pushed)
}

/// Ids of scheduled pushes (delayed jobs that are not retries), latest due first: the delayed
/// set read in chunks, retries skipped. Looks at no more than `SCAN_LIMIT` delayed jobs.
async fn scheduled_ids(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    offset: usize,
    limit: usize,
) -> Result<Vec<String>, QueueError> {
    const CHUNK: isize = 500;
    const SCAN_LIMIT: isize = 50_000;
    let mut out = Vec::with_capacity(limit);
    let mut skipped = 0;
    let mut start = 0;
    while out.len() < limit && start < SCAN_LIMIT {
        let ids: Vec<String> = conn
            .zrevrange(keys.delayed(), start, start + CHUNK - 1)
            .await?;
        if ids.is_empty() {
            break;
        }
        let retry_scores: Vec<Option<f64>> = redis::cmd("ZMSCORE")
            .arg(keys.retrying())
            .arg(&ids)
            .query_async(conn)
            .await?;
        for (id, retry) in ids.into_iter().zip(retry_scores) {
            if retry.is_some() {
                continue;
            }
            if skipped < offset {
                skipped += 1;
            } else if out.len() < limit {
                out.push(id);
            }
        }
        start += CHUNK;
    }
    Ok(out)
}
