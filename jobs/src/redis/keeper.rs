//! The keeper: the task of a worker run that keeps its claims alive and picks up what dead
//! workers left. Every heartbeat it renews the leases of the jobs this process holds
//! (`heartbeat.lua`), registers the worker, and takes over (`XAUTOCLAIM`) jobs whose lease
//! expired because their worker stopped heartbeating; now and then it forgets workers that
//! have been gone for long. Redis errors never end it: it logs and tries at the next beat.

use super::connect::Conn;
use apalis_core::task::Task;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ack::release;
use super::error::QueueError;
use super::fetch::claim;
use super::keys::GROUP;
use super::scripts;
use super::shared::{Feed, Lease, Shared};
use crate::clock::now_ms;

/// Heartbeats, lease renewal and take-over of jobs whose worker died.
pub(crate) async fn keep_loop(feed: Feed) {
    let shared = &feed.shared;
    let keys = &shared.keys;
    let mut conn = shared.conn.clone();
    let mut ticker = tokio::time::interval(shared.config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let host = hostname();
    let started = now_ms();
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = feed.stop.cancelled() => break,
        }
        ticks += 1;
        let info_ttl = (shared.config.lease * 2).as_millis() as u64;
        let held = shared.held_entries();
        let beat: Result<usize, redis::RedisError> = scripts::HEARTBEAT
            .key(&keys.base)
            .arg(GROUP)
            .arg(&feed.consumer)
            .arg(now_ms())
            .arg(info_ttl)
            .arg(held.len())
            .arg(&held)
            .arg("host")
            .arg(&host)
            .arg("pid")
            .arg(std::process::id())
            .arg("queue")
            .arg(&keys.queue)
            .arg("concurrency")
            .arg(shared.concurrency)
            .arg("started_at")
            .arg(started)
            .invoke_async(&mut conn)
            .await;
        if beat.is_ok() {
            crate::metrics::global()
                .heartbeats
                .get_or_create(&crate::metrics::QueueLabels {
                    queue: keys.queue.clone(),
                })
                .set((now_ms() / 1000) as i64);
        }
        if let Err(e) = beat {
            tracing::warn!(queue = %keys.queue, error = %e, "heartbeat failed");
            continue;
        }
        if let Err(e) = take_over(&mut conn, shared, &feed.consumer, &feed.tx, &feed.stop).await {
            tracing::warn!(queue = %keys.queue, error = %e, "cannot take over abandoned jobs");
        }
        if ticks.is_multiple_of(30)
            && let Err(e) = forget_dead_workers(&mut conn, shared).await
        {
            tracing::debug!(queue = %keys.queue, error = %e, "cannot clean the worker registry");
        }
    }
}

/// Takes over jobs held by consumers that stopped renewing their leases (XAUTOCLAIM), as many
/// as there is room for.
async fn take_over(
    conn: &mut Conn,
    shared: &Shared,
    consumer: &str,
    tx: &mpsc::Sender<Task<Vec<u8>>>,
    stop: &CancellationToken,
) -> Result<(), QueueError> {
    let mut cursor = "0-0".to_owned();
    let mut budget = tx.capacity();
    while budget > 0 {
        let reply: redis::Value = redis::cmd("XAUTOCLAIM")
            .arg(shared.keys.stream())
            .arg(GROUP)
            .arg(consumer)
            .arg(shared.config.lease.as_millis() as u64)
            .arg(&cursor)
            .arg("COUNT")
            .arg(budget.min(100))
            .query_async(conn)
            .await?;
        let (next, entries) = parse_autoclaim(reply)?;
        if !entries.is_empty() {
            tracing::info!(queue = %shared.keys.queue, jobs = entries.len(), "taking over jobs of a worker that stopped");
        }
        budget = budget.saturating_sub(entries.len().max(1));
        let mut claimed = claim(conn, shared, consumer, &entries, true)
            .await?
            .into_iter();
        while let Some(task) = claimed.next() {
            let entry = task.data().get::<Lease>().map(|l| l.entry.clone());
            tokio::select! {
                sent = tx.send(task) => if sent.is_ok() { continue },
                () = stop.cancelled() => {}
            }
            // Stopping: what was taken over but not handed to the worker goes back at once.
            let rest: Vec<String> = entry
                .into_iter()
                .chain(claimed.filter_map(|t| t.data().get::<Lease>().map(|l| l.entry.clone())))
                .collect();
            shared.let_go(&rest);
            release(conn, &shared.keys, &rest).await?;
            return Ok(());
        }
        if next == "0-0" {
            break;
        }
        cursor = next;
    }
    Ok(())
}

/// `[next-cursor, [[entry, [field, value, …]], …], [deleted…]]` → cursor and (entry, job id).
fn parse_autoclaim(reply: redis::Value) -> Result<(String, Vec<(String, String)>), QueueError> {
    let redis::Value::Array(parts) = reply else {
        return Err(QueueError::Protocol(
            "XAUTOCLAIM did not answer an array".into(),
        ));
    };
    let mut parts = parts.into_iter();
    let cursor: String = redis::from_redis_value(parts.next().unwrap_or(redis::Value::Nil))
        .map_err(|e| QueueError::Protocol(e.to_string()))?;
    let mut entries = Vec::new();
    if let Some(redis::Value::Array(claimed)) = parts.next() {
        for item in claimed {
            let (entry, fields): (String, Vec<String>) = match redis::from_redis_value(item) {
                Ok(pair) => pair,
                // A nil entry: deleted meanwhile.
                Err(_) => continue,
            };
            if let Some(pos) = fields.iter().position(|f| f == "id")
                && let Some(id) = fields.get(pos + 1)
            {
                entries.push((entry, id.clone()));
            }
        }
    }
    Ok((cursor, entries))
}

/// Removes workers that stopped heartbeating long ago from the registry, and their consumers
/// from the group once they hold nothing.
async fn forget_dead_workers(conn: &mut Conn, shared: &Shared) -> Result<(), QueueError> {
    let keys = &shared.keys;
    let cutoff = now_ms().saturating_sub(shared.config.lease.as_millis() as u64 * 10);
    let gone: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(keys.workers())
        .arg("-inf")
        .arg(cutoff)
        .query_async(conn)
        .await?;
    for consumer in gone {
        let held: redis::Value = redis::cmd("XPENDING")
            .arg(keys.stream())
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(1)
            .arg(&consumer)
            .query_async(conn)
            .await?;
        let empty = matches!(&held, redis::Value::Array(a) if a.is_empty());
        if empty {
            let _: () = redis::pipe()
                .cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(keys.stream())
                .arg(GROUP)
                .arg(&consumer)
                .ignore()
                .zrem(keys.workers(), &consumer)
                .ignore()
                .query_async(conn)
                .await?;
        }
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// A unique worker name: host, pid and a random part, so a restarted worker never collides
/// with its predecessor's registration.
pub fn worker_name(queue: &str) -> String {
    format!(
        "{}-{}-{:08x}-{queue}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    )
}
