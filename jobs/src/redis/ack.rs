//! Acknowledgement: the layer the backend puts around every handler (outermost, so it sees the
//! final outcome after timeouts and panics). It opens the job's tracing span and records the
//! outcome of the attempt in one script call:
//! - success → `done`: its id goes to the bounded done index and its hash is deleted, unless
//!   the queue or the push keeps results (then the result is stored, JSON, for the result
//!   TTL);
//! - `AbortError` (permanent failure) → `failed`, into the dead-letter set, no retry;
//! - any other error or a timeout, attempts left → `retrying` after exponential backoff with
//!   jitter (or the delay of a `RetryAfterError`);
//! - any other error, no attempts left → `dead`, into the dead-letter set.
//!
//! The other way a claim ends is here too: [`release`] and [`release_held`] hand jobs back
//! to the stream without counting the attempt (a worker stopping before or while running
//! them).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::connect::Conn;
use apalis_core::error::{AbortError, BoxDynError, RetryAfterError};
use apalis_core::task::Task;
use apalis_core::task::status::Status;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::error::QueueError;
use super::keys::GROUP;
use super::keys::QueueKeys;
use super::producer::Producer;
use super::scripts;
use super::shared::{Lease, Shared};
use crate::clock::now_ms;

/// Wraps every handler of a queue; built by the backend (`BackendConfig::middleware`).
#[derive(Debug, Clone)]
pub struct AckLayer {
    shared: Arc<Shared>,
    settler: mpsc::Sender<SettleRequest>,
}

impl AckLayer {
    /// Starts the settler of one worker run: it records outcomes in batches (one script call
    /// for everything that finished since the last call), so acknowledging costs one round trip
    /// per batch, not per job, and adds no wait when the worker is idle.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let (settler, requests) = mpsc::channel(4 * SETTLE_BATCH);
        tokio::spawn(settle_loop(shared.clone(), requests));
        Self { shared, settler }
    }
}

/// Outcomes recorded per script call, at most.
const SETTLE_BATCH: usize = 256;

/// One attempt's outcome on its way to Redis, and who waits for it to be recorded.
#[derive(Debug)]
struct SettleRequest {
    lease: Lease,
    outcome: Outcome,
    recorded: oneshot::Sender<Result<i64, String>>,
}

impl<S> Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> AckService<S> {
        AckService {
            inner,
            shared: self.shared.clone(),
            settler: self.settler.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AckService<S> {
    inner: S,
    shared: Arc<Shared>,
    settler: mpsc::Sender<SettleRequest>,
}

impl<S, Args, Res> Service<Task<Args>> for AckService<S>
where
    S: Service<Task<Args>, Response = Res>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    Res: Serialize + Send + Sync + 'static,
{
    type Response = Res;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<Res, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ctx = task.ctx().clone();
        let lease = task.data().get::<Lease>().cloned();
        let span = tracing::info_span!(
            "job",
            "otel.name" = %format_args!("job {}", self.shared.keys.queue),
            "otel.kind" = "consumer",
            "otel.status_code" = tracing::field::Empty,
            queue = %self.shared.keys.queue,
            job_id = lease.as_ref().map_or("", |l| l.job_id.as_str()),
            attempt = lease.as_ref().map_or(0, |l| l.attempt),
            trace_id = tracing::field::Empty,
            parent_span_id = lease
                .as_ref()
                .and_then(|l| l.trace)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        );
        // The job continues the trace of whatever pushed it (a new one when none did); jobs
        // it pushes carry the same trace.
        let trace = crate::trace::start_span(&span, lease.as_ref().and_then(|l| l.trace));
        let future = {
            let _entered = span.enter();
            crate::trace::scope(trace, self.inner.call(task))
        };
        let shared = self.shared.clone();
        let settler = self.settler.clone();
        Box::pin(
            async move {
                let result = future.await.map_err(Into::into);
                if let Some(lease) = lease {
                    let killed = ctx.status() == Status::Killed;
                    settle(&shared, &settler, lease, killed, &result).await;
                }
                result
            }
            .instrument(span),
        )
    }
}

/// The longest pause before a job whose dependency was down runs again.
const POSTPONE_MAX: Duration = Duration::from_secs(10);

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done {
        result: String,
    },
    Retry {
        error: String,
        at_ms: u64,
    },
    /// Run again at `at_ms` without counting this attempt ([`crate::Unavailable`]).
    Postpone {
        error: String,
        at_ms: u64,
    },
    Failed {
        error: String,
    },
    Dead {
        error: String,
    },
}

pub(crate) fn outcome<R: Serialize>(
    shared: &Shared,
    lease: &Lease,
    killed: bool,
    result: &Result<R, BoxDynError>,
) -> Outcome {
    match result {
        Ok(value) => Outcome::Done {
            result: serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()),
        },
        Err(e) => {
            let error = error_chain(e.as_ref());
            if killed || find::<AbortError>(e.as_ref()).is_some() {
                Outcome::Failed { error }
            } else if find::<crate::Unavailable>(e.as_ref()).is_some() {
                let delay = shared.config.backoff(lease.attempt).min(POSTPONE_MAX);
                Outcome::Postpone {
                    error,
                    at_ms: now_ms() + delay.as_millis() as u64,
                }
            } else if lease.attempt >= lease.max_attempts {
                Outcome::Dead { error }
            } else {
                let delay = find::<RetryAfterError>(e.as_ref())
                    .map(RetryAfterError::get_duration)
                    .unwrap_or_else(|| shared.config.backoff(lease.attempt));
                Outcome::Retry {
                    error,
                    at_ms: now_ms() + delay.as_millis() as u64,
                }
            }
        }
    }
}

fn record_metrics(queue: &str, lease: &Lease, outcome: &Outcome) {
    let metrics = crate::metrics::global();
    let labels = crate::metrics::QueueLabels {
        queue: queue.to_owned(),
    };
    let now = now_ms();
    metrics
        .job_run_time
        .get_or_create(&labels)
        .observe(now.saturating_sub(lease.claimed_at_ms) as f64 / 1000.0);
    if lease.attempt == 1 {
        metrics
            .job_start_latency
            .get_or_create(&labels)
            .observe(lease.claimed_at_ms.saturating_sub(lease.enqueued_at_ms) as f64 / 1000.0);
    }
    let kind = match outcome {
        Outcome::Done { .. } => "done",
        Outcome::Retry { .. } => "retry",
        Outcome::Postpone { .. } => "postponed",
        Outcome::Failed { .. } => "failed",
        Outcome::Dead { .. } => "dead",
    };
    metrics
        .job_outcomes
        .get_or_create(&crate::metrics::OutcomeLabels {
            queue: queue.to_owned(),
            outcome: kind.to_owned(),
            attempt: lease.attempt,
        })
        .inc();
}

/// Hands the outcome to the settler and waits until it is recorded: the worker's graceful
/// stop waits for this future, so no outcome is left unrecorded at exit.
async fn settle<R: Serialize + Sync>(
    shared: &Shared,
    settler: &mpsc::Sender<SettleRequest>,
    lease: Lease,
    killed: bool,
    result: &Result<R, BoxDynError>,
) {
    let outcome = outcome(shared, &lease, killed, result);
    record_metrics(&shared.keys.queue, &lease, &outcome);
    if !matches!(outcome, Outcome::Done { .. }) {
        tracing::Span::current().record("otel.status_code", "error");
    }
    match &outcome {
        Outcome::Done { .. } => tracing::debug!("job done"),
        Outcome::Retry { error, at_ms } => {
            tracing::warn!(error = %error, retry_in_ms = at_ms.saturating_sub(now_ms()), "attempt failed; will retry")
        }
        Outcome::Postpone { error, at_ms } => {
            tracing::warn!(error = %error, retry_in_ms = at_ms.saturating_sub(now_ms()), "a dependency is down; will run again, the attempt not counted")
        }
        Outcome::Failed { error } => {
            tracing::error!(error = %error, "job aborted; moved to the dead-letter set")
        }
        Outcome::Dead { error } => {
            tracing::error!(error = %error, attempts = lease.attempt, "last attempt failed; moved to the dead-letter set")
        }
    }
    let (recorded, reply) = oneshot::channel();
    if settler
        .send(SettleRequest {
            lease,
            outcome,
            recorded,
        })
        .await
        .is_err()
    {
        tracing::error!("the settler stopped; the job will run again after its lease expires");
        return;
    }
    match reply.await {
        Ok(Ok(-1)) => {
            tracing::warn!("another worker took this job over (lease expired); its attempt decides")
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not record the outcome; the job will run again after its lease expires")
        }
        Err(_) => {
            tracing::error!("the settler stopped; the job will run again after its lease expires")
        }
    }
}

/// Records outcomes in batches until every sender is gone. While Redis is unreachable a batch
/// is retried for a few seconds; if it never gets through, its jobs stay leased and are taken
/// over (and run again) once the lease expires: at least once, never lost.
async fn settle_loop(shared: Arc<Shared>, mut requests: mpsc::Receiver<SettleRequest>) {
    let mut batch = Vec::with_capacity(SETTLE_BATCH);
    while let Some(first) = requests.recv().await {
        batch.push(first);
        while batch.len() < SETTLE_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut delay = Duration::from_millis(50);
        let mut outcome = Err(String::new());
        for _ in 0..8 {
            match record(&shared, &batch).await {
                Ok(codes) => {
                    outcome = Ok(codes);
                    break;
                }
                Err(e) => {
                    tracing::warn!(queue = %shared.keys.queue, error = %e, "cannot record job outcomes yet");
                    outcome = Err(e.to_string());
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        // Recorded, or given up on (the lease then expires and the job is taken over): either
        // way this process no longer holds these entries.
        shared.let_go(batch.iter().map(|r| &r.lease.entry));
        for (i, request) in batch.drain(..).enumerate() {
            let reply = match &outcome {
                Ok(codes) => Ok(codes.get(i).copied().unwrap_or(0)),
                Err(e) => Err(e.clone()),
            };
            let _ = request.recorded.send(reply);
        }
    }
}

/// Records a batch, one `settle.lua` call per run of attempts of one consumer (a worker run
/// has one, so one call); the codes in the batch's order.
async fn record(shared: &Shared, batch: &[SettleRequest]) -> Result<Vec<i64>, QueueError> {
    let mut codes = Vec::with_capacity(batch.len());
    for group in batch.chunk_by(|a, b| a.lease.consumer == b.lease.consumer) {
        codes.extend(record_one_consumer(shared, group).await?);
    }
    Ok(codes)
}

async fn record_one_consumer(
    shared: &Shared,
    batch: &[SettleRequest],
) -> Result<Vec<i64>, QueueError> {
    let entries = || batch.iter().map(|r| r.lease.entry.as_str());
    let order = |e: &&str| super::status::entry_order(e);
    let mut conn = shared.conn.clone();
    let mut invocation = scripts::settle(conn.is_cluster()).prepare_invoke();
    invocation
        .key(&shared.keys.base)
        .arg(now_ms())
        .arg(GROUP)
        .arg(shared.config.result_ttl.as_millis() as u64)
        .arg(shared.config.dead_ttl.as_millis() as u64)
        .arg(shared.config.done_index_max)
        .arg(if shared.config.keep_results { "1" } else { "" })
        .arg(newest_entry(entries()).unwrap_or(""))
        .arg(entries().min_by_key(order).unwrap_or(""))
        .arg(batch.first().map_or("", |r| r.lease.consumer.as_str()));
    for request in batch {
        let (kind, value, at) = match &request.outcome {
            Outcome::Done { result } => ("done", result.as_str(), 0),
            Outcome::Retry { error, at_ms } => ("retry", error.as_str(), *at_ms),
            Outcome::Postpone { error, at_ms } => ("postpone", error.as_str(), *at_ms),
            Outcome::Failed { error } => ("failed", error.as_str(), 0),
            Outcome::Dead { error } => ("dead", error.as_str(), 0),
        };
        invocation
            .arg(&request.lease.entry)
            .arg(request.lease.job_id.as_str())
            .arg(kind)
            .arg(value)
            .arg(at)
            .arg(if request.lease.hashless { "1" } else { "" })
            .arg(request.lease.claimed_at_ms);
    }
    Ok(invocation.invoke_async(&mut conn).await?)
}

/// The newest of some stream entry ids (`<ms>-<seq>`): ordered by both numbers, not as text.
fn newest_entry<'a>(entries: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    entries.max_by_key(|e| super::status::entry_order(e))
}

/// The first error of type `T` in the chain (handlers often wrap an `AbortError`).
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// `outer: cause: root`, skipping causes their parent already quotes, with credentials cut
/// out (see [`crate::scrub`]): this text is stored with the job, logged and exported.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::scrub::scrub(&raw_error_chain(e))
}

fn raw_error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        current = err.source();
    }
    out
}

/// Hands the given stream entries back to the stream without counting the interrupted claim
/// as an attempt.
pub(crate) async fn release(
    conn: &mut Conn,
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

#[cfg(test)]
mod tests;
