//! The fetcher: the task of a worker run that brings jobs in. Whenever the worker has room for
//! a batch it promotes due delayed jobs in bounded chunks, reads new jobs with `XREADGROUP`
//! (blocking, woken by the push itself, only once the stream ran dry; no polling), starts
//! them (a job without a hash from its entry alone, one with a hash through `claim.lua`,
//! which counts the attempt), and hands them to
//! apalis through the run's bounded channel. Redis errors never end it: it logs,
//! backs off and tries again.

use std::time::Duration;

use super::connect::{Conn, RedisClient};
use apalis_core::backend::queue::Queue;
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;
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
async fn ensure_group(conn: &mut Conn, keys: &QueueKeys) -> Result<(), QueueError> {
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
    conn: &mut Conn,
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

async fn blocking_connection(client: &RedisClient, wait: Duration) -> Result<Conn, QueueError> {
    Ok(client.dedicated(wait + Duration::from_secs(5)).await?)
}

/// Longest time between two promotions of due delayed jobs while jobs keep coming (an idle
/// fetcher promotes before each blocking read anyway). It also bounds how late a busy worker
/// sees a pause.
const PROMOTE_EVERY: Duration = Duration::from_millis(100);

/// The fetcher of one worker run: whenever at least half the run's channel is free, promotes
/// due delayed jobs (at most every [`PROMOTE_EVERY`] while busy) and reads and starts new jobs
/// ([`read_new`]: one round trip while the stream has more and its jobs have no hash),
/// blocking on `XREADGROUP` only once it ran dry; until the run stops, then hands back what
/// it claimed but could not deliver.
///
/// Waiting for half the channel, not one free slot, makes each round bring a batch: at
/// concurrency 16 a round used to bring the one or two jobs that finished meanwhile, three
/// round trips each.
pub(crate) async fn fetch_loop(feed: Feed) {
    let shared = &feed.shared;
    let keys = &shared.keys;
    let mut conn = shared.conn.clone();
    let mut blocking: Option<Conn> = None;
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
                let mut reader = conn.clone();
                return read_new(&mut reader, &mut conn, shared, &feed.consumer, room, None).await;
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
            let tasks = read_new(
                reader,
                &mut conn,
                shared,
                &feed.consumer,
                room,
                Some(wait_ms),
            )
            .await?;
            // The queue may have been paused while the read waited (up to `idle_wait`): what
            // it claimed goes back unrun, and the next turn sees the pause. When the check
            // itself fails (Redis went away just now), the jobs run: they are claimed and held
            // already, and an error here would drop them while their leases are kept alive.
            // (A failed release lets them go: their leases expire and they are taken over.)
            if !tasks.is_empty() {
                let paused: bool = redis::AsyncCommands::exists(&mut conn, keys.paused())
                    .await
                    .unwrap_or(false);
                if paused {
                    let entries: Vec<String> = tasks
                        .iter()
                        .filter_map(|t| t.data().get::<Lease>().map(|l| l.entry.clone()))
                        .collect();
                    shared.let_go(&entries);
                    release(&mut conn, keys, &entries).await?;
                    return Ok(Vec::new());
                }
            }
            Ok(tasks)
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

/// Reads up to `room` new entries for this consumer (`XREADGROUP` on `reader`, blocking up to
/// `block` ms when given) and starts their attempts. A job without a hash (`push.lua`) is
/// all in its entry: its task is built here and nothing is written, unless the queue's
/// discarded set names it (read in the same round trip), in which case it is acknowledged and
/// skipped. Jobs with a hash go through `claim.lua` on `conn`, which counts the attempt.
/// Nothing is held until every step succeeded; if one fails, the jobs without a hash go back
/// to the stream at once (not counted as an attempt) and those with one are left to expire and
/// be taken over.
async fn read_new<C: redis::aio::ConnectionLike>(
    reader: &mut C,
    conn: &mut Conn,
    shared: &Shared,
    consumer: &str,
    room: usize,
    block: Option<u64>,
) -> Result<Vec<Task<Vec<u8>>>, QueueError> {
    let keys = &shared.keys;
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP")
        .arg(GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(room);
    if let Some(ms) = block {
        read.arg("BLOCK").arg(ms);
    }
    read.arg("STREAMS").arg(keys.stream()).arg(">");
    // The discarded set is read after the entries: a discard made before they were read is seen.
    let (reply, any_discarded): (Option<StreamReadReply>, bool) = redis::pipe()
        .add_command(read)
        .exists(keys.discarded())
        .query_async(reader)
        .await?;
    let mut inline = Vec::new();
    let mut hashed = Vec::new();
    let mut junk = Vec::new();
    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
        match Delivery::of(entry) {
            Delivery::Inline(job) => inline.push(job),
            Delivery::Hashed(pair) => hashed.push(pair),
            Delivery::Junk(entry) => junk.push(entry),
        }
    }
    let started = async {
        if any_discarded && !inline.is_empty() {
            skip_discarded(conn, keys, &mut inline).await?;
        }
        if !junk.is_empty() {
            let _: () = redis::AsyncCommands::xack(conn, keys.stream(), GROUP, &junk).await?;
        }
        claim(conn, shared, consumer, &hashed, false).await
    }
    .await;
    let claimed = match started {
        Ok(claimed) => claimed,
        Err(e) => {
            let entries: Vec<String> = inline.into_iter().map(|j| j.entry).collect();
            if !entries.is_empty() {
                let _ = release(conn, keys, &entries).await;
            }
            return Err(e);
        }
    };
    let now = now_ms();
    let mut tasks = Vec::with_capacity(inline.len() + claimed.len());
    for job in inline {
        let lease = Lease {
            entry: job.entry,
            job_id: job.id,
            consumer: consumer.to_owned(),
            attempt: 1,
            max_attempts: job.max_attempts,
            enqueued_at_ms: job.enqueued_at_ms,
            claimed_at_ms: now,
            trace: job.trace,
            hashless: true,
        };
        tasks.push(task(shared, lease, job.payload, job.enqueued_at_ms)?);
    }
    tasks.extend(claimed);
    Ok(tasks)
}

/// Acknowledges and drops from `inline` the jobs the discarded set names (and forgets them).
async fn skip_discarded(
    conn: &mut Conn,
    keys: &QueueKeys,
    inline: &mut Vec<InlineJob>,
) -> Result<(), QueueError> {
    let ids: Vec<&str> = inline.iter().map(|j| j.id.as_str()).collect();
    let named: Vec<bool> = redis::cmd("SMISMEMBER")
        .arg(keys.discarded())
        .arg(&ids)
        .query_async(conn)
        .await?;
    let mut named = named.into_iter();
    let (skipped, kept): (Vec<InlineJob>, Vec<InlineJob>) = std::mem::take(inline)
        .into_iter()
        .partition(|_| named.next().unwrap_or(false));
    *inline = kept;
    if !skipped.is_empty() {
        let ids: Vec<&str> = skipped.iter().map(|j| j.id.as_str()).collect();
        let entries: Vec<&str> = skipped.iter().map(|j| j.entry.as_str()).collect();
        let _: () = redis::pipe()
            .srem(keys.discarded(), &ids)
            .ignore()
            .xack(keys.stream(), GROUP, &entries)
            .ignore()
            .query_async(conn)
            .await?;
    }
    Ok(())
}

/// A stream entry as read: a whole job without a hash, the pair (entry, job id) of a job with
/// one, or an entry without a job id, which is only acknowledged.
enum Delivery {
    Inline(InlineJob),
    Hashed((String, String)),
    Junk(String),
}

/// A job without a hash, from the fields `push.lua` wrote into its entry.
struct InlineJob {
    entry: String,
    id: JobId,
    payload: Vec<u8>,
    max_attempts: u32,
    enqueued_at_ms: u64,
    trace: Option<crate::trace::TraceParent>,
}

impl Delivery {
    fn of(mut entry: redis::streams::StreamId) -> Self {
        let mut field = |name: &str| -> Option<Vec<u8>> {
            redis::from_redis_value::<Vec<u8>>(entry.map.remove(name)?).ok()
        };
        let Some(id) = field("id").and_then(|id| String::from_utf8(id).ok()) else {
            return Delivery::Junk(entry.id);
        };
        let Some(payload) = field("a") else {
            return Delivery::Hashed((entry.id, id));
        };
        let number = |v: Option<Vec<u8>>| {
            v.and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let max_attempts = number(field("m")).unwrap_or(1) as u32;
        let enqueued_at_ms = number(field("e")).unwrap_or(0);
        let trace = field("t")
            .and_then(|t| String::from_utf8(t).ok())
            .and_then(|t| crate::trace::TraceParent::parse(&t));
        Delivery::Inline(InlineJob {
            entry: entry.id,
            id: JobId(id),
            payload,
            max_attempts,
            enqueued_at_ms,
            trace,
        })
    }
}

/// Starts the attempts of stream entries (stream entry, job id) of jobs with a hash, just
/// delivered to this consumer or, when `taken_over`, taken from a dead one (`claim.lua`, which
/// counts the attempt), and builds their apalis tasks.
pub(crate) async fn claim(
    conn: &mut Conn,
    shared: &Shared,
    consumer: &str,
    entries: &[(String, String)],
    taken_over: bool,
) -> Result<Vec<Task<Vec<u8>>>, QueueError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut invocation = scripts::claim(conn.is_cluster()).prepare_invoke();
    invocation
        .key(&shared.keys.base)
        .arg(now)
        .arg(consumer)
        .arg(GROUP)
        .arg(shared.config.dead_ttl.as_millis() as u64)
        .arg(if taken_over { "1" } else { "" });
    for (entry, id) in entries {
        invocation.arg(entry).arg(id);
    }
    let reply: Vec<Vec<u8>> = invocation.invoke_async(conn).await?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let number = |v: &[u8]| text(v).parse::<u64>().unwrap_or(0);
    let mut tasks = Vec::with_capacity(reply.len() / 8);
    for job in reply.chunks_exact(8) {
        let lease = Lease {
            entry: text(&job[0]),
            job_id: JobId(text(&job[1])),
            consumer: consumer.to_owned(),
            attempt: number(&job[3]) as u32,
            max_attempts: number(&job[4]) as u32,
            enqueued_at_ms: number(&job[5]),
            claimed_at_ms: now,
            trace: crate::trace::TraceParent::parse(&text(&job[7])),
            hashless: false,
        };
        tasks.push(task(shared, lease, job[2].clone(), number(&job[6]))?);
    }
    Ok(tasks)
}

/// The apalis task of one attempt, held by this worker from now on.
fn task(
    shared: &Shared,
    lease: Lease,
    payload: Vec<u8>,
    run_at_ms: u64,
) -> Result<Task<Vec<u8>>, QueueError> {
    let task_id = lease
        .job_id
        .as_str()
        .parse::<TaskId>()
        .map_err(|e| QueueError::Protocol(format!("job id {}: {e}", lease.job_id)))?;
    shared.hold([lease.entry.clone()]);
    Ok(TaskBuilder::new(payload)
        .task_id(task_id)
        // apalis counts the attempt again when the handler starts.
        .attempt(lease.attempt.saturating_sub(1) as usize)
        .max_attempts(lease.max_attempts as usize)
        .status(Status::Running)
        .queue(Queue::from(shared.keys.queue.as_str()))
        .run_at_timestamp(run_at_ms / 1000)
        .lock_at(Some(lease.claimed_at_ms / 1000))
        .lock_by(Some(lease.consumer.clone()))
        .data(lease)
        .build())
}
