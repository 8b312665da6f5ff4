//! Bookkeeping of `concierge probe` runs: each probe job records that it ran (how often, and
//! its enqueue → start latency) under its run id, so a probe can check, even from another
//! process and after workers were killed, that every job ran exactly once.

use std::collections::HashMap;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
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
    /// seq → enqueue → start latency (ms) of its first run.
    pub latency: String,
}

impl ProbeRunKeys {
    pub fn new(keys: &QueueKeys, run_id: &str) -> Self {
        let base = format!("{}:probe:{run_id}", keys.base);
        Self {
            meta: format!("{base}:meta"),
            runs: format!("{base}:runs"),
            latency: format!("{base}:latency"),
        }
    }
}

/// Notes a run about to push `count` jobs.
pub async fn begin(
    conn: &mut ConnectionManager,
    keys: &ProbeRunKeys,
    count: u64,
) -> Result<(), QueueError> {
    let _: () = redis::pipe()
        .hset_multiple(&keys.meta, &[("enqueued", count), ("started_ms", now_ms())])
        .expire(&keys.meta, RUN_TTL_SECONDS)
        .query_async(conn)
        .await?;
    Ok(())
}

/// Notes that all jobs of the run were pushed.
pub async fn pushed(conn: &mut ConnectionManager, keys: &ProbeRunKeys) -> Result<(), QueueError> {
    let _: () = conn.hset(&keys.meta, "pushed_ms", now_ms()).await?;
    Ok(())
}

/// Records one execution of `job`, which started at `started_ms`.
pub async fn record(
    conn: &mut ConnectionManager,
    keys: &ProbeRunKeys,
    job: &Probe,
    started_ms: u64,
) -> Result<(), QueueError> {
    let seq = job.seq.to_string();
    let _: () = redis::pipe()
        .hincr(&keys.runs, &seq, 1)
        .ignore()
        .hset_nx(
            &keys.latency,
            &seq,
            started_ms.saturating_sub(job.enqueued_at_ms),
        )
        .ignore()
        .hset(&keys.meta, "last_done_ms", now_ms())
        .ignore()
        .expire(&keys.runs, RUN_TTL_SECONDS)
        .ignore()
        .expire(&keys.latency, RUN_TTL_SECONDS)
        .ignore()
        .query_async(conn)
        .await?;
    Ok(())
}

/// How many distinct jobs of the run have completed so far.
pub async fn completed(
    conn: &mut ConnectionManager,
    keys: &ProbeRunKeys,
) -> Result<u64, QueueError> {
    Ok(conn.hlen(&keys.runs).await?)
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

/// Reads the run's bookkeeping into a report.
pub async fn report(
    conn: &mut ConnectionManager,
    keys: &ProbeRunKeys,
    run_id: &str,
    queue: &str,
) -> Result<ProbeReport, QueueError> {
    let meta: HashMap<String, u64> = conn.hgetall(&keys.meta).await?;
    let runs: HashMap<String, u64> = conn.hgetall(&keys.runs).await?;
    let latencies: HashMap<String, u64> = conn.hgetall(&keys.latency).await?;
    let enqueued = meta.get("enqueued").copied().unwrap_or(0);
    let completed = runs.len() as u64;
    let duplicates = runs.values().map(|n| n.saturating_sub(1)).sum();
    let mut sorted: Vec<u64> = latencies.into_values().collect();
    sorted.sort_unstable();
    let pick = |q: f64| -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    };
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
        max_ms: sorted.last().copied().unwrap_or(0),
        elapsed_s,
    })
}
