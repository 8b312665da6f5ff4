//! The apalis backend of one queue on a Redis Stream: [`RedisBackend`] and the apalis traits
//! a worker needs of it (`Backend`, `BackendConfig`, `WireFormatBackend`, and `Sink` for
//! apalis' `TaskSink`).
//!
//! A worker run spawns two tasks: the *fetcher* ([`super::fetch`]), which claims jobs whenever
//! the worker has room and hands them to apalis through a bounded channel, and the *keeper*
//! ([`super::keeper`]), which every heartbeat renews the leases of the jobs this worker holds,
//! registers the worker, and takes over jobs whose worker stopped heartbeating. Redis errors
//! never end the worker: both tasks log, back off and try again.
//!
//! Acknowledgement happens in [`super::AckLayer`], which apalis wraps around every handler.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::connect::Conn;
use apalis_codec::json::JsonCodec;
use apalis_core::backend::finalize::Durable;
use apalis_core::backend::future::BoxSyncFuture;
use apalis_core::backend::{Backend, BackendConfig, WireFormatBackend};
use apalis_core::task::Task;
use apalis_core::worker::context::WorkerContext;
use futures::FutureExt;
use futures::Sink;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ack::{AckLayer, release};
use super::config::QueueConfig;
use super::error::QueueError;
use super::fetch::fetch_loop;
use super::keeper::keep_loop;
use super::keys::QueueKeys;
use super::producer::{DEFAULT_IDEMPOTENCY_TTL, Producer};
use super::push::{RawPush, current_trace, push_raw};
use super::shared::{Feed, Lease, Shared};
use crate::job::{Job, JobId};

/// The apalis backend of the queue of `J`: give it to `WorkerBuilder::backend`. Also a
/// `TaskSink` (push through apalis' API) and a source of queue introspection.
pub struct RedisBackend<J> {
    /// The queue's keys, settings and connections, shared with every clone and with the
    /// acknowledgement layer, so a worker's clones and its layer speak for one queue.
    shared: Arc<Shared>,
    /// apalis' wire format: payloads travel as JSON bytes, the same bytes a push stores.
    codec: JsonCodec<Vec<u8>>,
    /// The fetcher and keeper of the worker run this backend serves, started on the first
    /// poll; `None` in clones and before apalis polls (a backend only used to push or look).
    run: Option<Run>,
    /// The shutdown in progress (`poll_close`): handing back unstarted jobs and leaving the
    /// registry take Redis calls, which must survive between polls.
    closing: Option<BoxSyncFuture<()>>,
    /// Tasks given to the `Sink` and not yet flushed: they go out in one script call.
    sink_buffer: Vec<Task<Vec<u8>>>,
    /// The push of a flushed buffer while Redis answers; polled to completion by the next
    /// `poll_flush`, so a flush is never sent twice.
    sink_flush: Option<BoxSyncFuture<Result<(), QueueError>>>,
    /// The job type, for the typed apalis traits; `fn() -> J` keeps the backend `Send` and
    /// `Sync` whatever `J` is.
    _job: PhantomData<fn() -> J>,
}

/// One worker run's machinery.
struct Run {
    /// This run's consumer name, to leave the worker registry on close.
    consumer: String,
    /// Claimed tasks from the fetcher and keeper; apalis takes them in `poll_next`.
    rx: mpsc::Receiver<Task<Vec<u8>>>,
    /// Stops the fetcher and keeper.
    stop: CancellationToken,
    /// The fetcher and keeper, awaited on close before what they claimed is handed back.
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

impl<J> RedisBackend<J> {
    /// A backend of `shared`'s queue with no worker run and nothing buffered: what every new
    /// backend and every clone starts as.
    fn idle(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            codec: JsonCodec::default(),
            run: None,
            closing: None,
            sink_buffer: Vec::new(),
            sink_flush: None,
            _job: PhantomData,
        }
    }

    /// The worker run of this backend, started when apalis first polls it.
    fn run_of(&mut self, worker: &WorkerContext) -> &mut Run {
        self.run
            .get_or_insert_with(|| start_run(self.shared.clone(), worker.name()))
    }
}

impl<J> Clone for RedisBackend<J> {
    /// A clone shares the connection and settings, not a worker run.
    fn clone(&self) -> Self {
        Self::idle(self.shared.clone())
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
        let mut config = config;
        config.keep_results |= J::KEEP_RESULT;
        Self::idle(Arc::new(Shared {
            keys: QueueKeys::new(producer.prefix(), queue),
            config,
            client: producer.client(),
            conn: producer.connection(),
            concurrency: concurrency.max(1),
            held: Default::default(),
            jobs_in_entries: producer.jobs_in_entries(),
            durability: producer.durability(),
            push_conn: producer.push_connection(),
        }))
    }

    pub fn keys(&self) -> &QueueKeys {
        &self.shared.keys
    }

    pub(crate) fn connection(&self) -> Conn {
        self.shared.conn.clone()
    }

    pub(crate) fn client(&self) -> super::connect::RedisClient {
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
        self.run_of(worker);
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        match self.run_of(worker).rx.poll_recv(cx) {
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
        let trace = current_trace();
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
                idempotency_ttl_ms: DEFAULT_IDEMPOTENCY_TTL.as_millis() as u64,
                trace: trace.clone(),
                keep_result: J::KEEP_RESULT,
                hashed: !this.shared.jobs_in_entries,
                payload: task.args,
            })
            .collect();
        let mut conn = this.shared.push_conn.clone();
        let durability = this.shared.durability;
        let keys = this.shared.keys.clone();
        this.sink_flush = Some(BoxSyncFuture::new(
            async move {
                push_raw(&mut conn, &keys, items, durability).await?;
                Ok(())
            }
            .boxed(),
        ));
    }
}

/// Starts a worker run: its fetcher and keeper, feeding a channel bounded by the prefetch.
fn start_run(shared: Arc<Shared>, worker_name: &str) -> Run {
    let consumer = worker_name.to_owned();
    let room = match shared.config.prefetch {
        0 => shared.concurrency,
        n => n,
    };
    let (tx, rx) = mpsc::channel(room.max(1));
    let stop = CancellationToken::new();
    let feed = Feed {
        shared,
        consumer: consumer.clone(),
        tx,
        stop: stop.clone(),
    };
    let fetcher = tokio::spawn(fetch_loop(feed.clone()));
    let keeper = tokio::spawn(keep_loop(feed));
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
