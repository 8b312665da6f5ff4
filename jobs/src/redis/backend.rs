//! The apalis backend of one queue on a Redis Stream.
//!
//! A worker run spawns two tasks: the *fetcher*, which blocks on `XREADGROUP` (woken by the
//! push itself, no polling) whenever the worker has room, promotes due delayed jobs in bounded
//! chunks, claims what it reads (counting the attempt) and hands the jobs to apalis through a
//! bounded channel; and the *keeper*, which every heartbeat renews the leases of the jobs this
//! worker holds, registers the worker, and takes over jobs whose worker stopped heartbeating.
//! Redis errors never end the worker: both tasks log, back off and try again.
//!
//! Acknowledgement happens in [`super::AckLayer`], which apalis wraps around every handler.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_codec::json::JsonCodec;
use apalis_core::backend::finalize::Durable;
use apalis_core::backend::future::BoxSyncFuture;
use apalis_core::backend::queue::Queue;
use apalis_core::backend::{Backend, BackendConfig, WireFormatBackend};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::status::Status;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use futures::FutureExt;
use futures::Sink;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::StreamReadReply;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::producer::{RawPush, push_raw};
use super::{AckLayer, GROUP, Producer, QueueConfig, QueueError, QueueKeys, scripts};
use crate::{Job, JobId, now_ms};

/// A worker's claim on a job, attached to each task (`task.data()`): the stream entry to
/// acknowledge and the numbers the acknowledgement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The stream entry id (the job's place in the consumer group).
    pub entry: String,
    pub job_id: JobId,
    pub consumer: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    /// When the job was pushed, and when this attempt was claimed (UNIX ms).
    pub enqueued_at_ms: u64,
    pub claimed_at_ms: u64,
    /// The trace context of whatever pushed the job.
    pub trace: Option<crate::trace::TraceParent>,
}

/// State shared by a queue's backend clones and its acknowledgement layer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub keys: QueueKeys,
    pub config: QueueConfig,
    pub client: redis::Client,
    pub conn: ConnectionManager,
    /// Worker concurrency, reported in the worker registry and used as default prefetch.
    pub concurrency: usize,
    /// Stream entries this process holds (claimed, not yet recorded or handed back): the only
    /// ones its heartbeats renew.
    pub held: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    pub(crate) fn hold(&self, entries: impl IntoIterator<Item = String>) {
        if let Ok(mut held) = self.held.lock() {
            held.extend(entries);
        }
    }

    pub(crate) fn let_go<'a>(&self, entries: impl IntoIterator<Item = &'a String>) {
        if let Ok(mut held) = self.held.lock() {
            for entry in entries {
                held.remove(entry);
            }
        }
    }

    fn held_entries(&self) -> Vec<String> {
        self.held
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The apalis backend of the queue of `J`: give it to `WorkerBuilder::backend`. Also a
/// `TaskSink` (push through apalis' API) and a source of queue introspection.
pub struct RedisBackend<J> {
    shared: Arc<Shared>,
    codec: JsonCodec<Vec<u8>>,
    run: Option<Run>,
    closing: Option<BoxSyncFuture<()>>,
    sink_buffer: Vec<Task<Vec<u8>>>,
    sink_flush: Option<BoxSyncFuture<Result<(), QueueError>>>,
    _job: PhantomData<fn() -> J>,
}

/// One worker run's machinery.
struct Run {
    consumer: String,
    rx: mpsc::Receiver<Task<Vec<u8>>>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Run {
    /// A run dropped without `poll_close` (its worker was aborted) stops heartbeating, so its
    /// jobs go to other workers when their leases expire: the same as a crash.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl<J> std::fmt::Debug for RedisBackend<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("queue", &self.shared.keys.queue)
            .field("consumer", &self.run.as_ref().map(|r| r.consumer.as_str()))
            .finish_non_exhaustive()
    }
}

impl<J> Clone for RedisBackend<J> {
    /// A clone shares the connection and settings, not a worker run.
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            codec: self.codec.clone(),
            run: None,
            closing: None,
            sink_buffer: Vec::new(),
            sink_flush: None,
            _job: PhantomData,
        }
    }
}

impl<J: Job> RedisBackend<J> {
    /// The backend of `J`'s queue, using the producer's connection for acknowledgements.
    pub fn new(producer: &Producer, config: QueueConfig, concurrency: usize) -> Self {
        Self::with_queue(producer, J::QUEUE, config, concurrency)
    }

    /// The backend of jobs of type `J` in the queue named `queue` (e.g. a separate probe queue).
    pub fn with_queue(
        producer: &Producer,
        queue: &str,
        config: QueueConfig,
        concurrency: usize,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                keys: QueueKeys::new(producer.prefix(), queue),
                config,
                client: producer.client(),
                conn: producer.connection(),
                concurrency: concurrency.max(1),
                held: Default::default(),
            }),
            codec: JsonCodec::default(),
            run: None,
            closing: None,
            sink_buffer: Vec::new(),
            sink_flush: None,
            _job: PhantomData,
        }
    }

    pub fn keys(&self) -> &QueueKeys {
        &self.shared.keys
    }

    pub(crate) fn connection(&self) -> ConnectionManager {
        self.shared.conn.clone()
    }

    pub(crate) fn client(&self) -> redis::Client {
        self.shared.client.clone()
    }
}

impl<J: Job> Backend for RedisBackend<J> {
    type Task = Task<Vec<u8>>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.run.is_none() {
            self.run = Some(start_run(self.shared.clone(), worker.name()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        if self.run.is_none() {
            self.run = Some(start_run(self.shared.clone(), worker.name()));
        }
        let Some(run) = self.run.as_mut() else {
            return Poll::Pending;
        };
        match run.rx.poll_recv(cx) {
            Poll::Ready(Some(task)) => Poll::Ready(Some(Ok(task))),
            // The fetcher only stops when told to: the worker is shutting down.
            Poll::Ready(None) => Poll::Pending,
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            let Some(run) = self.run.take() else {
                return Poll::Ready(Ok(()));
            };
            self.closing = Some(BoxSyncFuture::new(
                close_run(self.shared.clone(), run).boxed(),
            ));
        }
        match self.closing.as_mut().map(|f| f.poll_unpin(cx)) {
            Some(Poll::Ready(())) => {
                self.closing = None;
                Poll::Ready(Ok(()))
            }
            _ => Poll::Pending,
        }
    }
}

impl<J: Job> BackendConfig for RedisBackend<J> {
    type Args = J;
    type Id = String;
    type Kind = Durable;
    type Config = QueueConfig;
    type Layer = AckLayer;

    fn config(&self) -> &QueueConfig {
        &self.shared.config
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> AckLayer {
        AckLayer::new(self.shared.clone())
    }
}

impl<J: Job> WireFormatBackend for RedisBackend<J> {
    type Codec = JsonCodec<Vec<u8>>;
    type Compact = Vec<u8>;

    fn codec(&self) -> &Self::Codec {
        &self.codec
    }
}

/// Pushing through apalis' `TaskSink` (what apalis-board's "push" uses): buffered tasks go out
/// in one script call on flush. A task's id, run time, idempotency key and max attempts are
/// kept.
impl<J: Job> Sink<Task<Vec<u8>>> for RedisBackend<J> {
    type Error = QueueError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        let this = self.get_mut();
        if this.sink_buffer.len() >= 1000 {
            return poll_flush(this, cx);
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Task<Vec<u8>>) -> Result<(), QueueError> {
        self.get_mut().sink_buffer.push(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        poll_flush(self.get_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QueueError>> {
        poll_flush(self.get_mut(), cx)
    }
}

fn poll_flush<J: Job>(
    this: &mut RedisBackend<J>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), QueueError>> {
    loop {
        if let Some(flush) = this.sink_flush.as_mut() {
            let result = futures::ready!(flush.poll_unpin(cx));
            this.sink_flush = None;
            result?;
        }
        if this.sink_buffer.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let items: Vec<RawPush> = this
            .sink_buffer
            .drain(..)
            .map(|task| RawPush {
                id: task
                    .task_id()
                    .map_or_else(JobId::generate, |id| JobId(id.to_string())),
                max_attempts: task.max_attempts().map_or(J::MAX_ATTEMPTS, |m| m as u32),
                run_at_ms: task.run_at().map_or(0, |s| s * 1000),
                idempotency_key: task.idempotency_key().map(str::to_owned),
                payload: task.args,
            })
            .collect();
        let mut conn = this.shared.conn.clone();
        let keys = this.shared.keys.clone();
        let trace = crate::trace::current()
            .map(|t| t.to_string())
            .unwrap_or_default();
        this.sink_flush = Some(BoxSyncFuture::new(
            async move {
                push_raw(
                    &mut conn,
                    &keys,
                    items,
                    super::producer::DEFAULT_IDEMPOTENCY_TTL,
                    &trace,
                )
                .await?;
                Ok(())
            }
            .boxed(),
        ));
    }
}

fn start_run(shared: Arc<Shared>, worker_name: &str) -> Run {
    let consumer = worker_name.to_owned();
    let room = match shared.config.prefetch {
        0 => shared.concurrency,
        n => n,
    };
    let (tx, rx) = mpsc::channel(room.max(1));
    let stop = CancellationToken::new();
    let fetcher = tokio::spawn(fetch_loop(
        shared.clone(),
        consumer.clone(),
        tx.clone(),
        stop.clone(),
    ));
    let keeper = tokio::spawn(keep_loop(shared, consumer.clone(), tx, stop.clone()));
    Run {
        consumer,
        rx,
        stop,
        tasks: vec![fetcher, keeper],
    }
}

/// Stops fetching, hands back the jobs claimed but never started, and leaves the registry.
async fn close_run(shared: Arc<Shared>, mut run: Run) {
    run.stop.cancel();
    for task in run.tasks.drain(..) {
        let _ = task.await;
    }
    run.rx.close();
    let mut unstarted = Vec::new();
    while let Ok(task) = run.rx.try_recv() {
        if let Some(lease) = task.data().get::<Lease>() {
            unstarted.push(lease.entry.clone());
        }
    }
    let mut conn = shared.conn.clone();
    shared.let_go(&unstarted);
    if !unstarted.is_empty() {
        match release(&mut conn, &shared.keys, &unstarted).await {
            Ok(n) => {
                tracing::info!(queue = %shared.keys.queue, released = n, "handed back unstarted jobs")
            }
            Err(e) => {
                tracing::warn!(queue = %shared.keys.queue, error = %e, "cannot hand back unstarted jobs; they return when their lease expires")
            }
        }
    }
    let result: Result<(), redis::RedisError> = redis::pipe()
        .zrem(shared.keys.workers(), &run.consumer)
        .del(shared.keys.worker(&run.consumer))
        .query_async(&mut conn)
        .await;
    if let Err(e) = result {
        tracing::warn!(queue = %shared.keys.queue, error = %e, "cannot deregister the worker");
    }
    tracing::debug!(queue = %shared.keys.queue, consumer = %run.consumer, "worker left the queue");
}

/// Hands the given stream entries back to the stream without counting the interrupted claim
/// as an attempt.
pub(crate) async fn release(
    conn: &mut ConnectionManager,
    keys: &QueueKeys,
    entries: &[String],
) -> Result<usize, QueueError> {
    let mut released = 0;
    for chunk in entries.chunks(500) {
        let mut invocation = scripts::RELEASE.prepare_invoke();
        invocation.key(&keys.base).arg(GROUP);
        for entry in chunk {
            invocation.arg(entry);
        }
        released += invocation.invoke_async::<usize>(conn).await?;
    }
    Ok(released)
}

/// Hands back every job `consumer` still holds: used after a shutdown whose grace period cut
/// running jobs off, so they run again at once instead of after their lease.
pub async fn release_held(
    producer: &Producer,
    queue: &str,
    consumer: &str,
) -> Result<usize, QueueError> {
    let keys = QueueKeys::new(producer.prefix(), queue);
    let mut conn = producer.connection();
    let held: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(keys.stream())
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(100_000)
        .arg(consumer)
        .query_async(&mut conn)
        .await?;
    let entries: Vec<String> = held.into_iter().map(|(entry, ..)| entry).collect();
    release(&mut conn, &keys, &entries).await
}

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
/// job is due (ms), if any.
/// Promotes due delayed jobs; returns the next due time and whether the queue is paused.
pub(crate) async fn promote_due(
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

async fn fetch_loop(
    shared: Arc<Shared>,
    consumer: String,
    tx: mpsc::Sender<Task<Vec<u8>>>,
    stop: CancellationToken,
) {
    let keys = &shared.keys;
    let mut conn = shared.conn.clone();
    let mut blocking: Option<MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let mut group_ready = false;
    let mut undelivered: Vec<String> = Vec::new();
    'fetching: loop {
        let permit = tokio::select! {
            permit = tx.reserve() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let room = tx.capacity() + 1;
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
            let (next_due, paused) =
                promote_due(&mut conn, keys, shared.config.promote_chunk).await?;
            if paused {
                // An admin paused the queue: claim nothing, look again after the idle wait.
                tokio::select! {
                    () = tokio::time::sleep(shared.config.idle_wait) => {}
                    () = stop.cancelled() => {}
                }
                return Ok(Vec::new());
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
                .arg(&consumer)
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
            claim(&mut conn, &shared, &consumer, &entries).await
        }
        .await;
        match fetched {
            Ok(tasks) => {
                backoff = Duration::from_millis(50);
                let mut tasks = tasks.into_iter();
                if let Some(first) = tasks.next() {
                    permit.send(first);
                } else {
                    drop(permit);
                }
                for task in tasks {
                    tokio::select! {
                        sent = tx.send(task.clone()) => if sent.is_err() { break 'fetching },
                        () = stop.cancelled() => {
                            undelivered.extend(task.data().get::<Lease>().map(|l| l.entry.clone()));
                        }
                    }
                }
            }
            Err(e) => {
                drop(permit);
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
                    () = stop.cancelled() => break,
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

/// Claims stream entries for this consumer (counting the attempt) and builds apalis tasks.
async fn claim(
    conn: &mut ConnectionManager,
    shared: &Shared,
    consumer: &str,
    entries: &[(String, String)],
) -> Result<Vec<Task<Vec<u8>>>, QueueError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut invocation = scripts::CLAIM.prepare_invoke();
    invocation
        .key(&shared.keys.base)
        .arg(now)
        .arg(consumer)
        .arg(GROUP)
        .arg(shared.config.dead_ttl.as_millis() as u64);
    for (entry, id) in entries {
        invocation.arg(entry).arg(id);
    }
    let reply: Vec<Vec<u8>> = invocation.invoke_async(conn).await?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let number = |v: &[u8]| text(v).parse::<u64>().unwrap_or(0);
    let queue = Queue::from(shared.keys.queue.as_str());
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

/// Heartbeats, lease renewal and take-over of jobs whose worker died.
async fn keep_loop(
    shared: Arc<Shared>,
    consumer: String,
    tx: mpsc::Sender<Task<Vec<u8>>>,
    stop: CancellationToken,
) {
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
            () = stop.cancelled() => break,
        }
        ticks += 1;
        let info_ttl = (shared.config.lease * 2).as_millis() as u64;
        let held = shared.held_entries();
        let beat: Result<usize, redis::RedisError> = scripts::HEARTBEAT
            .key(&keys.base)
            .arg(GROUP)
            .arg(&consumer)
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
        if let Err(e) = take_over(&mut conn, &shared, &consumer, &tx, &stop).await {
            tracing::warn!(queue = %keys.queue, error = %e, "cannot take over abandoned jobs");
        }
        if ticks.is_multiple_of(30)
            && let Err(e) = forget_dead_workers(&mut conn, &shared).await
        {
            tracing::debug!(queue = %keys.queue, error = %e, "cannot clean the worker registry");
        }
    }
}

/// Takes over jobs held by consumers that stopped renewing their leases (XAUTOCLAIM), as many
/// as there is room for.
async fn take_over(
    conn: &mut ConnectionManager,
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
        let mut claimed = claim(conn, shared, consumer, &entries).await?.into_iter();
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
async fn forget_dead_workers(
    conn: &mut ConnectionManager,
    shared: &Shared,
) -> Result<(), QueueError> {
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
