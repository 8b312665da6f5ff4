//! The fetcher: the task of a worker run that brings jobs in. Whenever the worker has room for
//! a batch it promotes due delayed jobs in bounded chunks, reads and claims new jobs (counting
//! the attempt, `claim.lua`, one round trip while the stream has more) or, once the stream ran
//! dry, blocks on `XREADGROUP` (woken by the push itself, no polling), and hands the jobs to
//! apalis through the run's bounded channel. Redis errors never end it: it logs,
//! backs off and tries again.

use std::time::Duration;

use apalis_core::backend::queue::Queue;
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::StreamReadReply;

use super::ack::release;
use super::error::QueueError;
use super::keys::GROUP;
use super::keys::QueueKeys;
use super::scripts;
use super::shared::{Feed, Lease, Shared};
use crate::clock::now_ms;
use crate::job::JobId;

/// Creates the consumer group (from the start of the stream, so jobs pushed before any worker
/// existed are delivered). Already existing is fine.
async fn ensure_group(conn: &mut ConnectionManager, keys: &QueueKeys) -> Result<(), QueueError> {
    let result: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.stream())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Moves every due delayed job into the stream, chunk by chunk; returns when the next delayed
/// job is due (ms), if any, and whether the queue is paused.
async fn promote_due(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    chunk: usize,
) -> Result<(Option<u64>, bool), QueueError> {
    loop {
        let (moved, next, paused): (usize, i64, u8) = scripts::PROMOTE
            .key(&keys.base)
            .arg(now_ms())
            .arg(chunk)
            .invoke_async(conn)
            .await?;
        if moved < chunk {
            return Ok((u64::try_from(next).ok(), paused == 1));
        }
    }
}

async fn blocking_connection(
    client: &redis::Client,
    wait: Duration,
) -> Result<MultiplexedConnection, QueueError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(wait + Duration::from_secs(5)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Longest time between two promotions of due delayed jobs while jobs keep coming (an idle
/// fetcher promotes before each blocking read anyway). It also bounds how late a busy worker
/// sees a pause.
const PROMOTE_EVERY: Duration = Duration::from_millis(100);

/// The fetcher of one worker run: whenever at least half the run's channel is free, promotes
/// due delayed jobs (at most every [`PROMOTE_EVERY`] while busy) and reads and claims new jobs,
/// in one script call while the stream has more (`claim.lua` reads them itself), blocking on
/// `XREADGROUP` only once it ran dry; until the run stops, then hands back what it claimed but
/// could not deliver.
///
/// Waiting for half the channel, not one free slot, makes each round bring a batch: at
/// concurrency 16 a round used to bring the one or two jobs that finished meanwhile, three
/// round trips each.
pub(crate) async fn fetch_loop(feed: Feed) {
    let shared = &feed.shared;
    let keys = &shared.keys;
    let mut conn = shared.conn.clone();
    let mut blocking: Option<MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let mut group_ready = false;
    let mut undelivered: Vec<String> = Vec::new();
    let low = (feed.tx.max_capacity() / 2).max(1);
    // When delayed jobs were last promoted, and when the next one is due.
    let mut promoted: Option<tokio::time::Instant> = None;
    let mut next_due: Option<u64> = None;
    // The last read left the stream empty: block on the next one.
    let mut dry = true;
    'fetching: loop {
        let permits = tokio::select! {
            permits = feed.tx.reserve_many(low) => match permits {
                Ok(p) => p,
                Err(_) => break,
            },
            () = feed.stop.cancelled() => break,
        };
        let room = feed.tx.capacity() + low;
        let fetched = async {
            if !group_ready {
                ensure_group(&mut conn, keys).await?;
                let _: () = redis::AsyncCommands::sadd(
                    &mut conn,
                    QueueKeys::registry(&keys.prefix),
                    &keys.queue,
                )
                .await?;
                group_ready = true;
            }
            let promote = dry
                || promoted.is_none_or(|at| at.elapsed() >= PROMOTE_EVERY)
                || next_due.is_some_and(|due| due <= now_ms());
            if promote {
                let (due, paused) =
                    promote_due(&mut conn, keys, shared.config.promote_chunk).await?;
                promoted = Some(tokio::time::Instant::now());
                next_due = due;
                if paused {
                    // An admin paused the queue: claim nothing, look again after the idle wait.
                    tokio::select! {
                        () = tokio::time::sleep(shared.config.idle_wait) => {}
                        () = feed.stop.cancelled() => {}
                    }
                    dry = true;
                    return Ok(Vec::new());
                }
            }
            if !dry {
                return claim(&mut conn, shared, &feed.consumer, room, &[], false).await;
            }
            let mut wait = shared.config.idle_wait;
            if let Some(due) = next_due {
                wait = wait.min(Duration::from_millis(due.saturating_sub(now_ms())));
            }
            let wait_ms = wait.as_millis().max(1) as u64;
            if blocking.is_none() {
                blocking =
                    Some(blocking_connection(&shared.client, shared.config.idle_wait).await?);
            }
            let Some(reader) = blocking.as_mut() else {
                return Ok(Vec::new());
            };
            let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&feed.consumer)
                .arg("COUNT")
                .arg(room)
                .arg("BLOCK")
                .arg(wait_ms)
                .arg("STREAMS")
                .arg(keys.stream())
                .arg(">")
                .query_async(reader)
                .await?;
            let entries: Vec<(String, String)> = reply
                .into_iter()
                .flat_map(|r| r.keys)
                .flat_map(|k| k.ids)
                .filter_map(|e| {
                    let id = redis::from_redis_value_ref::<String>(e.map.get("id")?).ok()?;
                    Some((e.id, id))
                })
                .collect();
            claim(&mut conn, shared, &feed.consumer, 0, &entries, false).await
        }
        .await;
        match fetched {
            Ok(tasks) => {
                backoff = Duration::from_millis(50);
                // A full batch: the stream may hold more, read on without blocking.
                dry = tasks.len() < room;
                let mut tasks = tasks.into_iter();
                for permit in permits {
                    match tasks.next() {
                        Some(task) => permit.send(task),
                        None => break,
                    }
                }
                for task in tasks {
                    tokio::select! {
                        sent = feed.tx.send(task.clone()) => if sent.is_err() { break 'fetching },
                        () = feed.stop.cancelled() => {
                            undelivered.extend(task.data().get::<Lease>().map(|l| l.entry.clone()));
                        }
                    }
                }
            }
            Err(e) => {
                drop(permits);
                dry = true;
                if let QueueError::Redis(re) = &e
                    && re.code() == Some("NOGROUP")
                {
                    // The stream or its group vanished (a Redis without persistence restarted).
                    group_ready = false;
                }
                tracing::warn!(queue = %keys.queue, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot fetch jobs");
                blocking = None;
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = feed.stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    if !undelivered.is_empty() {
        shared.let_go(&undelivered);
        let _ = release(&mut conn, keys, &undelivered).await;
    }
}

/// Claims stream entries for this consumer (counting the attempt) and builds apalis tasks:
/// up to `read` new entries the script reads itself, and `entries` (stream entry, job id)
/// received from a blocking read or, when `taken_over`, from a dead consumer.
pub(crate) async fn claim(
    conn: &mut ConnectionManager,
    shared: &Shared,
    consumer: &str,
    read: usize,
    entries: &[(String, String)],
    taken_over: bool,
) -> Result<Vec<Task<Vec<u8>>>, QueueError> {
    if read == 0 && entries.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut invocation = scripts::CLAIM.prepare_invoke();
    invocation
        .key(&shared.keys.base)
        .arg(now)
        .arg(consumer)
        .arg(GROUP)
        .arg(shared.config.dead_ttl.as_millis() as u64)
        .arg(read)
        .arg(if taken_over { "1" } else { "" });
    for (entry, id) in entries {
        invocation.arg(entry).arg(id);
    }
    let reply: Vec<Vec<u8>> = invocation.invoke_async(conn).await?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let number = |v: &[u8]| text(v).parse::<u64>().unwrap_or(0);
    let queue = Queue::from(shared.keys.queue.as_str());
    let mut tasks = Vec::with_capacity(reply.len() / 9);
    for job in reply.chunks_exact(9) {
        let lease = Lease {
            entry: text(&job[0]),
            job_id: JobId(text(&job[1])),
            consumer: consumer.to_owned(),
            attempt: number(&job[3]) as u32,
            max_attempts: number(&job[4]) as u32,
            enqueued_at_ms: number(&job[5]),
            claimed_at_ms: now,
            trace: crate::trace::TraceParent::parse(&text(&job[7])),
            hashless: job[8] == b"1",
        };
        let task_id = lease
            .job_id
            .as_str()
            .parse::<TaskId>()
            .map_err(|e| QueueError::Protocol(format!("job id {}: {e}", lease.job_id)))?;
        let run_at = number(&job[6]);
        shared.hold([lease.entry.clone()]);
        tasks.push(
            TaskBuilder::new(job[2].clone())
                .task_id(task_id)
                // apalis counts the attempt again when the handler starts.
                .attempt(lease.attempt.saturating_sub(1) as usize)
                .max_attempts(lease.max_attempts as usize)
                .status(Status::Running)
                .queue(queue.clone())
                .run_at_timestamp(run_at / 1000)
                .lock_at(Some(now / 1000))
                .lock_by(Some(consumer.to_owned()))
                .data(lease)
                .build(),
        );
    }
    Ok(tasks)
}
