//! Pushing encoded jobs: the push script's calls, and the lanes that coalesce concurrent
//! single pushes into one call.
//!
//! Each script call costs Redis a fixed overhead on top of its jobs' commands, so 32 API
//! requests pushing one job each at the same moment cost far more as 32 calls than as one.
//! A producer therefore keeps one lane per queue: a push joins the lane's waiting list, and
//! while the lane's calls are in flight (at most [`MAX_IN_FLIGHT`]) the pushes that arrive
//! wait and go out together as the next one (group commit, the same pattern as the worker's
//! settle loop). An idle lane adds no waiting: the first push starts a call at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::connect::Conn;
use tokio::sync::oneshot;

use super::error::QueueError;
use super::keys::QueueKeys;
use super::scripts;
use crate::clock::now_ms;
use crate::job::{JobId, Pushed};

/// Jobs per push script call: keeps each call short (Redis runs one script at a time) while a
/// bulk push of any size still goes out in one round trip (the calls are pipelined).
pub(crate) const PUSH_CHUNK: usize = 1_000;

/// The pushing task's trace context as the push script stores it, `""` for none.
pub(crate) fn current_trace() -> Arc<str> {
    crate::trace::current()
        .map(|t| t.to_string())
        .unwrap_or_default()
        .into()
}

/// How many replicas must confirm a push before it counts as made (`WAIT`), and how long
/// they may take; the default, 0, does not wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durability {
    pub replicas: u32,
    pub timeout_ms: u64,
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
    pub idempotency_ttl_ms: u64,
    /// The pusher's trace context, `""` for none.
    pub trace: Arc<str>,
    /// Keep the job's result once done ([`crate::PushOptions::keep_result`]).
    pub keep_result: bool,
    /// Give the job a hash from its push even if it needs none
    /// ([`crate::Producer::with_jobs_in_entries`]).
    pub hashed: bool,
}

/// Pushes encoded jobs: one script call per chunk, all calls pipelined in one round trip.
/// The replies are in the order of `items`.
pub(crate) async fn push_raw(
    conn: &mut Conn,
    keys: &QueueKeys,
    items: Vec<RawPush>,
    durability: Durability,
) -> Result<Vec<Pushed>, QueueError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let invocation = |chunk: &[RawPush]| {
        let mut invocation = scripts::PUSH.prepare_invoke();
        invocation.key(&keys.base).arg(now);
        for item in chunk {
            invocation
                .arg(item.id.as_str())
                .arg(item.payload.as_slice())
                .arg(item.max_attempts.max(1))
                .arg(item.run_at_ms)
                .arg(item.idempotency_key.as_deref().unwrap_or(""))
                .arg(item.idempotency_ttl_ms)
                .arg(&*item.trace)
                .arg(match (item.keep_result, item.hashed) {
                    (true, _) => "1",
                    (false, true) => "h",
                    (false, false) => "",
                });
        }
        invocation
    };
    let replies = if items.len() <= PUSH_CHUNK {
        vec![call(&invocation(&items), conn, durability).await]
    } else {
        // Each chunk's call is sent as soon as it is encoded, so encoding the next chunk
        // overlaps with Redis running the previous one; the multiplexed connection pipelines
        // them.
        let calls: Vec<_> = items
            .chunks(PUSH_CHUNK)
            .map(|chunk| {
                let invocation = invocation(chunk);
                let mut conn = conn.clone();
                tokio::spawn(async move { call(&invocation, &mut conn, durability).await })
            })
            .collect();
        let mut replies = Vec::with_capacity(calls.len());
        for call in calls {
            replies.push(
                call.await
                    .map_err(|e| QueueError::Protocol(format!("push task failed: {e}")))?,
            );
        }
        replies
    };
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
    if pushed.len() != items.len() {
        return Err(QueueError::Protocol(format!(
            "push answered {} jobs for {}",
            pushed.len(),
            items.len()
        )));
    }
    Ok(pushed)
}

/// One push script call; with a durability, the call and a `WAIT` in one pipeline: on the
/// queue's node and the same connection, so the `WAIT` covers the call's writes even when the
/// connection retries both on a new connection (a lone `WAIT` retried there would find nothing
/// to wait for and confirm a push that only the dead node had).
async fn call(
    invocation: &redis::ScriptInvocation<'_>,
    conn: &mut Conn,
    durability: Durability,
) -> Result<Vec<String>, QueueError> {
    if durability.replicas == 0 {
        return Ok(invocation.invoke_async(conn).await?);
    }
    let pipeline = || {
        let mut pipe = redis::pipe();
        pipe.invoke_script(invocation)
            .cmd("WAIT")
            .arg(durability.replicas)
            .arg(durability.timeout_ms.max(1));
        pipe
    };
    let reply: redis::RedisResult<(Vec<String>, u32)> = pipeline().query_async(conn).await;
    let (pushed, acknowledged) = match reply {
        // After a restart or a failover the script is not loaded there yet.
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            invocation.load_async(conn).await?;
            pipeline().query_async(conn).await?
        }
        other => other?,
    };
    if acknowledged < durability.replicas {
        return Err(QueueError::NotReplicated {
            acknowledged,
            wanted: durability.replicas,
        });
    }
    Ok(pushed)
}

/// Calls a lane keeps in flight at once. Two, so Redis runs one call while this process
/// answers the callers of the other and gathers the next: with one, Redis and the producer
/// take turns and each waits for the other.
const MAX_IN_FLIGHT: usize = 2;

type Reply = oneshot::Sender<Result<Pushed, QueueError>>;

/// A producer's lanes, one per queue it pushed single jobs to. Shared by the producer's clones.
pub(crate) struct PushLanes {
    conn: Conn,
    durability: Durability,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    /// Script calls the lanes made, for [`crate::Producer::single_push_calls`].
    calls: Arc<AtomicU64>,
}

struct Lane {
    keys: QueueKeys,
    state: Mutex<LaneState>,
}

#[derive(Default)]
struct LaneState {
    waiting: Vec<(RawPush, Reply)>,
    /// Flush tasks running; each takes whatever is waiting before it stops.
    flushers: usize,
    /// Of those, the ones waiting for a call's reply (the others are about to take a batch).
    in_call: usize,
}

impl PushLanes {
    pub(crate) fn new(conn: Conn, durability: Durability) -> Self {
        Self {
            conn,
            durability,
            lanes: Mutex::default(),
            calls: Arc::default(),
        }
    }

    /// Script calls made for single pushes so far.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Pushes one job, together with whatever other pushes to its queue wait at that moment.
    pub(crate) async fn push(&self, keys: &QueueKeys, item: RawPush) -> Result<Pushed, QueueError> {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            match lanes.get(&keys.base) {
                Some(lane) => lane.clone(),
                None => lanes
                    .entry(keys.base.clone())
                    .or_insert_with(|| {
                        Arc::new(Lane {
                            keys: keys.clone(),
                            state: Mutex::default(),
                        })
                    })
                    .clone(),
            }
        };
        let (tx, rx) = oneshot::channel();
        let flusher = {
            let mut state = lane.lock();
            state.waiting.push((item, tx));
            // A new flusher only when every running one is inside a call: one that is not
            // will take this push.
            (state.flushers == state.in_call && state.flushers < MAX_IN_FLIGHT).then(|| {
                state.flushers += 1;
                Flusher {
                    lane: lane.clone(),
                    in_call: false,
                    stopped: false,
                }
            })
        };
        if let Some(flusher) = flusher {
            // A task of its own, not the caller's future: a caller that gives up (a dropped
            // request) must not strand the pushes that joined its call.
            tokio::spawn(flush(
                flusher,
                self.conn.clone(),
                self.durability,
                self.calls.clone(),
            ));
        }
        rx.await.map_err(|_| {
            QueueError::Protocol("the push was abandoned: its runtime is shutting down".into())
        })?
    }
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One counted flusher of a lane. It is created under the lane's lock when the flusher is
/// counted and owned by its task, so however the task ends (it finds nothing waiting, or is
/// dropped mid-call or before it ever ran, when its runtime shuts down) exactly its own share
/// of the counts is given back and the lane never stays marked busy.
struct Flusher {
    lane: Arc<Lane>,
    in_call: bool,
    /// Stopped normally: the counts were given back under the lock that saw nothing waiting.
    stopped: bool,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let mut state = self.lane.lock();
        state.flushers -= 1;
        state.in_call -= usize::from(self.in_call);
        if state.flushers == 0 {
            // No flusher is left to take them, and none can be started from here: the waiting
            // pushes fail (their senders are dropped) rather than hang.
            state.waiting.clear();
        }
    }
}

/// Sends the lane's waiting pushes, one call at a time, until none wait.
async fn flush(mut me: Flusher, mut conn: Conn, durability: Durability, calls: Arc<AtomicU64>) {
    let lane = me.lane.clone();
    loop {
        // Let the callers just answered (and any other ready task) push again first, so
        // their next pushes join this call instead of trailing it as a call of their own.
        tokio::task::yield_now().await;
        let batch: Vec<(RawPush, Reply)> = {
            let mut state = lane.lock();
            if state.waiting.is_empty() {
                state.flushers -= 1;
                me.stopped = true;
                return;
            }
            state.in_call += 1;
            me.in_call = true;
            let n = state.waiting.len().min(PUSH_CHUNK);
            state.waiting.drain(..n).collect()
        };
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        calls.fetch_add(1, Ordering::Relaxed);
        let result = push_raw(&mut conn, &lane.keys, items, durability).await;
        lane.lock().in_call -= 1;
        me.in_call = false;
        match result {
            Ok(pushed) => {
                for (reply, pushed) in replies.into_iter().zip(pushed) {
                    // A caller that gave up no longer listens; its job is pushed regardless.
                    let _ = reply.send(Ok(pushed));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.shared()));
                }
            }
        }
    }
}
