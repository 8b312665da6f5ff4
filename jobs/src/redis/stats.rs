//! A queue's counters and live workers as apalis-board shows them (`Metrics`, `ListQueues`,
//! `ListWorkers`), from the stream, the sets and the daily outcome counts.

use std::collections::HashMap;

use super::connect::Conn;
use apalis_core::backend::{RunningWorker, StatType, Statistic};
use redis::AsyncCommands;

use super::contents::stream_jobs;
use super::error::QueueError;
use super::keys::QueueKeys;
use crate::clock::now_ms;

/// The backend name workers report.
const BACKEND_NAME: &str = "concierge-redis-streams";

fn stat(title: &str, stat_type: StatType, value: impl ToString, priority: u64) -> Statistic {
    Statistic {
        title: title.to_owned(),
        stat_type,
        value: value.to_string(),
        priority: Some(priority),
    }
}

/// Counters of one queue: what is waiting, running, finished, and its last days. Only titles
/// apalis-board knows (it labels any other "TOTAL_JOBS"); `PENDING_JOBS` counts scheduled
/// jobs and retries too, as apalis' `Pending` status does.
pub(crate) async fn queue_stats(
    conn: &mut Conn,
    keys: &QueueKeys,
) -> Result<(Vec<Statistic>, Vec<usize>), QueueError> {
    let (delayed, dead, done): (u64, u64, u64) = redis::pipe()
        .zcard(keys.delayed())
        .zcard(keys.dead())
        .zcard(keys.done())
        .query_async(conn)
        .await?;
    let (pending, running) = stream_jobs(conn, keys).await?;
    let length = pending + running;
    let today = now_ms() / 86_400_000;
    let mut activity = Vec::with_capacity(7);
    let (mut done_7d, mut failed_7d, mut dead_7d, mut last_24h) = (0u64, 0u64, 0u64, 0u64);
    for days_ago in (0..7).rev() {
        let counts: HashMap<String, u64> = conn
            .hgetall(format!("{}:daily:{}", keys.base, today - days_ago))
            .await?;
        let d = counts.get("done").copied().unwrap_or(0);
        let f = counts.get("failed").copied().unwrap_or(0);
        let x = counts.get("dead").copied().unwrap_or(0);
        done_7d += d;
        failed_7d += f;
        dead_7d += x;
        if days_ago <= 1 {
            last_24h += d + f + x;
        }
        activity.push((d + f + x) as usize);
    }
    let finished = done_7d + failed_7d + dead_7d;
    let rate = |n: u64| {
        if finished == 0 {
            0.0
        } else {
            n as f64 * 100.0 / finished as f64
        }
    };
    let stats = vec![
        stat("RUNNING_JOBS", StatType::Number, running, 1),
        stat("PENDING_JOBS", StatType::Number, pending + delayed, 2),
        stat("FAILED_JOBS", StatType::Number, dead, 3),
        stat("DONE_JOBS", StatType::Number, done, 4),
        stat(
            "TOTAL_JOBS",
            StatType::Number,
            length + delayed + dead + done,
            5,
        ),
        stat("KILLED_JOBS", StatType::Number, failed_7d, 6),
        stat(
            "SUCCESS_RATE",
            StatType::Percentage,
            format!("{:.2}", rate(done_7d)),
            7,
        ),
        stat(
            "FAILURE_RATE",
            StatType::Percentage,
            format!("{:.2}", rate(failed_7d + dead_7d)),
            8,
        ),
        stat("JOBS_PAST_24_HOURS", StatType::Number, last_24h, 9),
        stat(
            "FAILED_JOBS_PAST_7_DAYS",
            StatType::Number,
            failed_7d + dead_7d,
            10,
        ),
    ];
    Ok((stats, activity))
}

pub(crate) async fn workers_of(
    conn: &mut Conn,
    keys: &QueueKeys,
) -> Result<Vec<RunningWorker>, QueueError> {
    let live: Vec<(String, u64)> = conn.zrange_withscores(keys.workers(), 0, -1).await?;
    let mut workers = Vec::with_capacity(live.len());
    for (name, last_heartbeat) in live {
        let info: HashMap<String, String> = conn.hgetall(keys.worker(&name)).await?;
        if info.is_empty() {
            // Registration expired: the worker is gone, the registry not yet cleaned.
            continue;
        }
        let started = info
            .get("started_at")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        workers.push(RunningWorker {
            id: name,
            queue: keys.queue.clone(),
            backend: BACKEND_NAME.to_owned(),
            started_at: started / 1000,
            last_heartbeat: last_heartbeat / 1000,
            layers: format!(
                "host={} pid={} concurrency={}",
                info.get("host").map_or("?", String::as_str),
                info.get("pid").map_or("?", String::as_str),
                info.get("concurrency").map_or("?", String::as_str)
            ),
        });
    }
    Ok(workers)
}
