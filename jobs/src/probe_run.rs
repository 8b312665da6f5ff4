//! Bookkeeping of `concierge probe` runs: each probe job records that it ran (how often, and
//! its enqueue → start latency) under its run id, so a probe can check, even from another
//! process and after workers were killed, that every job ran exactly once.
//!
//! The probe measures the queue, not itself: the jobs that finish at about the same time are
//! recorded together ([`Recorder`], a group commit), one Redis command a job (`HINCRBY` of
//! its run count) and a few a batch (its latencies as a histogram, the run's last finish and
//! expiries). Each job still waits for its record before it is acknowledged, so a crash
//! cannot lose a record of a job that counts as done.

use std::collections::{BTreeMap, HashMap};

use crate::redis::Conn;
use redis::AsyncCommands;
use serde::Serialize;

use crate::catalog::Probe;
use crate::clock::now_ms;
use crate::redis::{QueueError, QueueKeys};

/// Probe bookkeeping is kept this long.
const RUN_TTL_SECONDS: i64 = 24 * 3600;

/// The keys of one run, in the probe queue's hash slot.
#[derive(Debug, Clone)]
pub struct ProbeRunKeys {
    /// Run facts: `enqueued`, `started_ms`, `pushed_ms`, `last_done_ms`.
    pub meta: String,
    /// seq → how many times the job ran.
    pub runs: String,
    /// enqueue → start latency (ms) → how many runs started that late.
    pub latency: String,
}

impl ProbeRunKeys {
    pub fn new(keys: &QueueKeys, run_id: &str) -> Self {
        let base = format!("{}:probe:{run_id}", keys.base);
        Self {
            meta: format!("{base}:meta"),
            runs: format!("{base}:runs"),
            latency: format!("{base}:latency_ms"),
        }
    }
}

/// Notes a run about to push `count` jobs.
pub async fn begin(conn: &mut Conn, keys: &ProbeRunKeys, count: u64) -> Result<(), QueueError> {
    let _: () = redis::pipe()
        .hset_multiple(&keys.meta, &[("enqueued", count), ("started_ms", now_ms())])
        .expire(&keys.meta, RUN_TTL_SECONDS)
        .query_async(conn)
        .await?;
    Ok(())
}

/// Notes that all jobs of the run were pushed.
pub async fn pushed(conn: &mut Conn, keys: &ProbeRunKeys) -> Result<(), QueueError> {
    let _: () = conn.hset(&keys.meta, "pushed_ms", now_ms()).await?;
    Ok(())
}

/// How many records one batch writes at most.
const BATCH: usize = 1024;

/// One run of a probe job to record, and who waits for its record.
struct Pending {
    keys: ProbeRunKeys,
    seq: u64,
    latency_ms: u64,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Records probe runs in batches over one connection: whatever is waiting when a write
/// starts goes into it.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: tokio::sync::mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the writer (on the current runtime); it ends with the last clone.
    pub fn spawn(conn: Conn) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut conn = conn;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(pending) => batch.push(pending),
                        Err(_) => break,
                    }
                }
                let written = write(&mut conn, &batch).await.map_err(|e| e.to_string());
                for pending in batch {
                    let _ = pending.done.send(written.clone());
                }
            }
        });
        Self { tx }
    }

    /// Records one execution of `job`, which started at `started_ms`; returns once it is
    /// written.
    pub async fn record(
        &self,
        keys: &ProbeRunKeys,
        job: &Probe,
        started_ms: u64,
    ) -> Result<(), QueueError> {
        let (done, written) = tokio::sync::oneshot::channel();
        let pending = Pending {
            keys: keys.clone(),
            seq: job.seq,
            latency_ms: started_ms.saturating_sub(job.enqueued_at_ms),
            done,
        };
        let stopped = || QueueError::Protocol("the probe recorder stopped".into());
        self.tx.send(pending).map_err(|_| stopped())?;
        written
            .await
            .map_err(|_| stopped())?
            .map_err(|e| QueueError::Protocol(format!("recording probe runs: {e}")))
    }
}

/// One pipeline per run in a batch (a run's keys share its queue's slot; on a cluster, runs of
/// two queues cannot share a pipeline): a run count a job, a latency histogram, the last
/// finish and the expiries.
async fn write(conn: &mut Conn, batch: &[Pending]) -> Result<(), QueueError> {
    /// A run's keys, the seqs of its jobs in the batch, and their latencies (ms → count).
    type Run<'a> = (&'a ProbeRunKeys, Vec<u64>, BTreeMap<u64, u64>);
    let mut runs: HashMap<&str, Run<'_>> = HashMap::new();
    for pending in batch {
        let (_, seqs, latencies) = runs
            .entry(pending.keys.runs.as_str())
            .or_insert_with(|| (&pending.keys, Vec::new(), BTreeMap::new()));
        seqs.push(pending.seq);
        *latencies.entry(pending.latency_ms).or_default() += 1;
    }
    let now = now_ms();
    for (keys, seqs, latencies) in runs.values() {
        let mut pipe = redis::pipe();
        for seq in seqs {
            pipe.hincr(&keys.runs, seq, 1).ignore();
        }
        for (ms, count) in latencies {
            pipe.hincr(&keys.latency, ms, *count).ignore();
        }
        pipe.hset(&keys.meta, "last_done_ms", now)
            .ignore()
            .expire(&keys.runs, RUN_TTL_SECONDS)
            .ignore()
            .expire(&keys.latency, RUN_TTL_SECONDS)
            .ignore();
        let _: () = pipe.query_async(conn).await?;
    }
    Ok(())
}

/// How many distinct jobs of the run have completed so far, over the run's keys in each shard
/// of its queue (the first holds its meta, each shard's worker records in its own).
pub async fn completed(conn: &mut Conn, shards: &[ProbeRunKeys]) -> Result<u64, QueueError> {
    let mut total = 0;
    for keys in shards {
        let n: u64 = conn.hlen(&keys.runs).await?;
        total += n;
    }
    Ok(total)
}

/// The run's keys in each queue holding `queue`'s jobs ([`crate::Producer::shard_queues`]):
/// the queue's own first.
pub async fn shard_keys(
    producer: &crate::Producer,
    queue: &str,
    run_id: &str,
) -> Result<Vec<ProbeRunKeys>, QueueError> {
    Ok(producer
        .shard_queues(queue)
        .await?
        .iter()
        .map(|name| ProbeRunKeys::new(&QueueKeys::new(producer.prefix(), name), run_id))
        .collect())
}

/// The outcome of a probe run: the one JSON line `concierge probe` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub run_id: String,
    pub queue: String,
    pub enqueued: u64,
    /// Distinct jobs that ran at least once.
    pub completed: u64,
    /// Extra executions beyond the first (at-least-once delivery made visible).
    pub duplicates: u64,
    /// Jobs that never ran (by the time of the report).
    pub lost: u64,
    /// Completed jobs per second, from the first push to the last completion.
    pub jobs_per_s: f64,
    /// Enqueue → start latency percentiles (ms).
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Seconds from the first push to the last completion.
    pub elapsed_s: f64,
}

/// Reads the run's bookkeeping into a report, over its keys in each shard (see
/// [`completed`]).
pub async fn report(
    conn: &mut Conn,
    shards: &[ProbeRunKeys],
    run_id: &str,
    queue: &str,
) -> Result<ProbeReport, QueueError> {
    let mut meta: HashMap<String, u64> = HashMap::new();
    let mut runs: HashMap<String, u64> = HashMap::new();
    let mut latencies: HashMap<String, u64> = HashMap::new();
    for (i, keys) in shards.iter().enumerate() {
        let shard_meta: HashMap<String, u64> = conn.hgetall(&keys.meta).await?;
        for (field, value) in shard_meta {
            // The first holds the run's own meta; the others only their last finish.
            if i == 0 || field == "last_done_ms" {
                let kept = meta.entry(field).or_default();
                *kept = (*kept).max(value);
            }
        }
        let shard_runs: HashMap<String, u64> = conn.hgetall(&keys.runs).await?;
        for (seq, n) in shard_runs {
            *runs.entry(seq).or_default() += n;
        }
        let shard_latencies: HashMap<String, u64> = conn.hgetall(&keys.latency).await?;
        for (ms, n) in shard_latencies {
            *latencies.entry(ms).or_default() += n;
        }
    }
    let enqueued = meta.get("enqueued").copied().unwrap_or(0);
    let completed = runs.len() as u64;
    let duplicates = runs.values().map(|n| n.saturating_sub(1)).sum();
    let histogram: BTreeMap<u64, u64> = latencies
        .into_iter()
        .filter_map(|(ms, count)| Some((ms.parse().ok()?, count)))
        .collect();
    let pick = |q: f64| percentile(&histogram, q);
    let started = meta.get("started_ms").copied().unwrap_or(0);
    let last = meta.get("last_done_ms").copied().unwrap_or(started);
    let elapsed_s = last.saturating_sub(started) as f64 / 1000.0;
    Ok(ProbeReport {
        run_id: run_id.to_owned(),
        queue: queue.to_owned(),
        enqueued,
        completed,
        duplicates,
        lost: enqueued.saturating_sub(completed),
        jobs_per_s: if elapsed_s > 0.0 {
            (completed as f64 / elapsed_s * 10.0).round() / 10.0
        } else {
            0.0
        },
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: histogram.keys().next_back().copied().unwrap_or(0),
        elapsed_s,
    })
}

/// The `q` quantile (nearest rank) of a histogram of values → counts; 0 when it is empty.
fn percentile(histogram: &BTreeMap<u64, u64>, q: f64) -> u64 {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (value, count) in histogram {
        seen += count;
        if seen >= rank {
            return *value;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::percentile;

    #[test]
    fn percentiles_of_a_histogram_are_nearest_ranks() {
        let histogram = BTreeMap::from([(1, 50), (2, 49), (40, 1)]);
        assert_eq!(percentile(&histogram, 0.50), 1);
        assert_eq!(percentile(&histogram, 0.99), 2);
        assert_eq!(percentile(&histogram, 1.0), 40);
        assert_eq!(percentile(&BTreeMap::new(), 0.5), 0);
    }
}
