//! What an operator does with queues through the producer (the admin API and the dashboard):
//! list jobs by state, discard one, replay the dead-letter set, pause and resume, and read a
//! queue's depth, throughput, live workers and oldest job.

use std::collections::HashMap;
use std::time::Duration;

use super::connect::Conn;
use redis::AsyncCommands;

use super::contents::{Listed, group_info, ids_with_status, queue_names, stream_jobs};
use super::error::QueueError;
use super::keys::QueueKeys;
use super::producer::Producer;
use super::scripts;
use super::status::{apalis_status, parse_status, recorded_status, status, status_with_entry};
use crate::clock::now_ms;
use crate::job::{JobId, JobState, JobStatus};

/// How long the discarded set outlives its last addition: a discarded job whose entry no
/// worker claims within it (its stream was deleted) is forgotten.
const DISCARDED_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

impl Producer {
    /// Every queue known to this deployment (the catalog's and any other that workers serve,
    /// such as extra probe queues), sorted.
    pub async fn queues(&self) -> Result<Vec<String>, QueueError> {
        queue_names(&mut self.connection(), self.prefix()).await
    }

    /// Puts dead-letter jobs of `queue` back into the stream with a fresh attempt budget:
    /// the given ids, or the oldest `limit` when `ids` is empty. Returns the ids replayed.
    pub async fn replay_dead(
        &self,
        queue: &str,
        ids: &[JobId],
        limit: usize,
    ) -> Result<Vec<JobId>, QueueError> {
        // Every shard of a split queue (each id is in one of them; `limit` per shard).
        let mut out = Vec::new();
        for keys in self.keys_of_shards(queue) {
            let mut invocation = scripts::REPLAY.prepare_invoke();
            invocation.key(&keys.base).arg(limit.max(1));
            for id in ids {
                invocation.arg(id.as_str());
            }
            let replayed: Vec<String> = invocation.invoke_async(&mut self.connection()).await?;
            out.extend(replayed.into_iter().map(JobId));
        }
        Ok(out)
    }

    /// How many jobs of `queue` are waiting (stream entries not yet delivered or still held),
    /// delayed (of which retrying), and dead; over every shard of a split queue.
    pub async fn depth(&self, queue: &str) -> Result<QueueDepth, QueueError> {
        let mut total = QueueDepth::default();
        for keys in self.keys_of_shards(queue) {
            let d = self.depth_of(&keys).await?;
            total.waiting += d.waiting;
            total.running += d.running;
            total.stream += d.stream;
            total.delayed += d.delayed;
            total.retrying += d.retrying;
            total.dead += d.dead;
        }
        Ok(total)
    }

    async fn depth_of(&self, keys: &QueueKeys) -> Result<QueueDepth, QueueError> {
        let mut conn = self.connection();
        let (waiting, held) = stream_jobs(&mut conn, keys).await?;
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
    /// Every shard of a split queue is paused.
    pub async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        for keys in self.keys_of_shards(queue) {
            let _: () = self.connection().set(keys.paused(), now_ms()).await?;
        }
        Ok(())
    }

    pub async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        for keys in self.keys_of_shards(queue) {
            let _: () = self.connection().del(keys.paused()).await?;
        }
        Ok(())
    }

    /// Whether `queue` (any of its shards) is paused.
    pub async fn is_paused(&self, queue: &str) -> Result<bool, QueueError> {
        for keys in self.keys_of_shards(queue) {
            if self.connection().exists(keys.paused()).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes a job that is not running: from the dead-letter set, the delayed set, or the
    /// stream (a queued entry whose job is gone is skipped when claimed; one without a hash is
    /// named in the queue's discarded set, which the fetcher checks). False when there is no
    /// such job, or it is running (a running job cannot be recalled).
    pub async fn discard(&self, queue: &str, id: &JobId) -> Result<bool, QueueError> {
        for keys in self.keys_of_shards(queue) {
            if self.discard_in(&keys, id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn discard_in(&self, keys: &QueueKeys, id: &JobId) -> Result<bool, QueueError> {
        let mut conn = self.connection();
        let (status, waiting_entry) = status_with_entry(&mut conn, keys, id).await?;
        let Some(status) = status else {
            return Ok(false);
        };
        if status.state == JobState::Running {
            return Ok(false);
        }
        if let Some(entry) = waiting_entry {
            // No hash: named in the discarded set, unless delivered meanwhile.
            let discarded: i64 = scripts::DISCARD
                .key(&keys.base)
                .arg(entry)
                .arg(id.as_str())
                .arg(DISCARDED_TTL_MS)
                .arg(super::keys::GROUP)
                .invoke_async(&mut conn)
                .await?;
            return Ok(discarded == 1);
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
        state: Option<JobState>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<JobStatus>, QueueError> {
        let keys = QueueKeys::new(self.prefix(), queue);
        let mut conn = self.connection();
        let listed: Vec<Listed> = match state {
            // Both live in the delayed set (apalis' `Pending`); the retrying set tells them apart.
            Some(JobState::Retrying) => {
                let stop = (offset + limit).saturating_sub(1) as isize;
                let ids: Vec<String> = conn
                    .zrevrange(keys.retrying(), offset as isize, stop)
                    .await?;
                ids.into_iter().map(Listed::of).collect()
            }
            Some(JobState::Scheduled) => scheduled_ids(&mut conn, &keys, offset, limit)
                .await?
                .into_iter()
                .map(Listed::of)
                .collect(),
            _ => {
                let apalis_state = state.map(apalis_status);
                ids_with_status(&mut conn, &keys, apalis_state.as_ref(), offset, limit).await?
            }
        };
        let mut out = Vec::with_capacity(listed.len());
        for Listed { id, inline } in listed {
            let id = JobId(id);
            let found = match inline {
                // A hash, when there is one, says more than the entry (a take-over made one).
                Some(fields) => match recorded_status(&mut conn, &keys, &id).await? {
                    Some(recorded) => Some(recorded),
                    None => parse_status(queue, id.as_str(), fields),
                },
                None => status(&mut conn, &keys, &id).await?,
            };
            if let Some(s) = found {
                // The retrying set may trail a promotion by one promote call.
                if state == Some(JobState::Retrying) && s.state != JobState::Retrying {
                    continue;
                }
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Jobs of `queue` that finished (done, failed or dead) in the last minute: the queue's
    /// throughput. Over every shard of a split queue.
    pub async fn finished_last_minute(&self, queue: &str) -> Result<u64, QueueError> {
        let since = now_ms().saturating_sub(60_000);
        let mut total = 0;
        for keys in self.keys_of_shards(queue) {
            let (done, dead): (u64, u64) = redis::pipe()
                .zcount(keys.done(), since, "+inf")
                .zcount(keys.dead(), since, "+inf")
                .query_async(&mut self.connection())
                .await?;
            total += done + dead;
        }
        Ok(total)
    }

    /// Attempts of `queue` that ended in each of the `minutes` minutes (at most 120) up to the
    /// one holding `now_ms`, oldest first; over every shard of a split queue. From the counts
    /// `settle.lua` keeps per minute (by the workers' clocks), so a minute before the
    /// deployment counted is 0.
    pub async fn per_minute(
        &self,
        queue: &str,
        minutes: usize,
        now_ms: u64,
    ) -> Result<Vec<MinuteCounts>, QueueError> {
        let minutes = minutes.clamp(1, 120) as u64;
        let now = now_ms / 60_000;
        let first = now + 1 - minutes;
        let mut out: Vec<MinuteCounts> = (first..=now)
            .map(|minute| MinuteCounts {
                minute_start_ms: minute * 60_000,
                ..MinuteCounts::default()
            })
            .collect();
        for keys in self.keys_of_shards(queue) {
            let mut pipe = redis::pipe();
            for hour in first / 60..=now / 60 {
                pipe.hgetall(keys.minutes(hour));
            }
            let hours: Vec<HashMap<String, u64>> = pipe.query_async(&mut self.connection()).await?;
            for (field, n) in hours.into_iter().flatten() {
                let Some((minute, outcome)) = field.split_once(':') else {
                    continue;
                };
                let Some(slot) = minute
                    .parse::<u64>()
                    .ok()
                    .filter(|m| (first..=now).contains(m))
                    .map(|m| &mut out[(m - first) as usize])
                else {
                    continue;
                };
                match outcome {
                    "done" => slot.done += n,
                    // A failed attempt, whatever comes of the job (retried, failed, dead); a
                    // postponed one (a dependency was down) is given back and not a failure.
                    "retry" | "failed" | "dead" => slot.failed += n,
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// The live workers of `queue` (heartbeat within two leases): name, host, pid,
    /// concurrency and last heartbeat.
    pub async fn workers(
        &self,
        queue: &str,
        lease: Duration,
    ) -> Result<Vec<WorkerInfo>, QueueError> {
        let keys = QueueKeys::new(self.prefix(), queue);
        let mut conn = self.connection();
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
    /// Over every shard of a split queue: the oldest of them.
    pub async fn oldest_age_ms(&self, queue: &str) -> Result<u64, QueueError> {
        let mut oldest = 0;
        for keys in self.keys_of_shards(queue) {
            oldest = oldest.max(self.oldest_age_in(&keys).await?);
        }
        Ok(oldest)
    }

    /// How long the oldest job of `queue` no worker has claimed yet has been waiting, `None`
    /// when nothing waits (scheduled and retrying jobs wait for their time, not for a
    /// worker). Exact: every entry after the group's last delivery is undelivered. Over every
    /// shard of a split queue: the oldest of them.
    pub async fn oldest_waiting_ms(&self, queue: &str) -> Result<Option<u64>, QueueError> {
        let mut oldest = None;
        for keys in self.keys_of_shards(queue) {
            let mut conn = self.connection();
            let after = match group_info(&mut conn, &keys).await? {
                Some(group) => format!("({}", group.last_delivered),
                None => "-".to_owned(),
            };
            let first: redis::streams::StreamRangeReply =
                conn.xrange_count(keys.stream(), after, "+", 1).await?;
            if let Some(at) = first.ids.first().and_then(|e| entry_ms(&e.id)) {
                let age = now_ms().saturating_sub(at);
                oldest = Some(oldest.map_or(age, |o: u64| o.max(age)));
            }
        }
        Ok(oldest)
    }

    async fn oldest_age_in(&self, keys: &QueueKeys) -> Result<u64, QueueError> {
        let first: redis::streams::StreamRangeReply = self
            .connection()
            .xrange_count(keys.stream(), "-", "+", 1)
            .await?;
        let Some(entry) = first.ids.first() else {
            return Ok(0);
        };
        let at = entry_ms(&entry.id).unwrap_or_else(now_ms);
        Ok(now_ms().saturating_sub(at))
    }
}

/// When a stream entry was added: the milliseconds of its id.
fn entry_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// What ended in one minute of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MinuteCounts {
    /// The minute's start (UNIX ms).
    pub minute_start_ms: u64,
    /// Jobs done.
    pub done: u64,
    /// Attempts that failed (retried, failed or dead).
    pub failed: u64,
}

/// One live worker of a queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkerInfo {
    /// The consumer name (host, pid, random part and queue; see [`super::worker_name`]).
    pub name: String,
    pub queue: String,
    /// Where it runs, as the worker registered itself.
    pub host: String,
    pub pid: u32,
    /// Jobs it runs at once.
    pub concurrency: u32,
    /// Its last heartbeat (UNIX ms).
    pub last_heartbeat_ms: u64,
}

/// Sizes of a queue's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// Ids of scheduled pushes (delayed jobs that are not retries), latest due first: the delayed
/// set read in chunks, retries skipped. Looks at no more than `SCAN_LIMIT` delayed jobs.
async fn scheduled_ids(
    conn: &mut Conn,
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
